"""Webhook: a JSON POST, signed `X-Homesec-Signature: sha256=<HMAC-SHA256 of the body>`
with the channel's secret, so the receiver can tell it is from this homesec."""

from __future__ import annotations

import hashlib
import hmac
import json
from typing import Any

from alerts.transports._http import post
from alerts.transports.base import Message, PermanentError

SECRET_HELP = "The HMAC secret the receiver checks the signature with (required)."
EXAMPLE = {"url": "https://home.example.org/api/webhook/homesec"}


def validate(config: dict[str, Any], secret: str) -> list[str]:
    problems = []
    if not str(config.get("url", "")).startswith(("http://", "https://")):
        problems.append('config needs "url": an http:// or https:// address')
    if not secret:
        problems.append("a webhook needs a secret: every body is signed with it")
    return problems


def signature(secret: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def send(config: dict[str, Any], secret: str, message: Message) -> None:
    if not secret:
        raise PermanentError("the channel has no secret to sign with")
    body = json.dumps(message.data, separators=(",", ":"), sort_keys=True).encode()
    post(
        config["url"],
        content=body,
        headers={
            "Content-Type": "application/json",
            "User-Agent": "homesec",
            "X-Homesec-Signature": signature(secret, body),
            "X-Homesec-Idempotency-Key": message.key,
            "X-Homesec-Kind": message.kind,
        },
    )
