"""Notification transports: one module per channel kind, each with `send(channel, message)`,
`validate(config, secret)` and `SECRET_HELP`. A transport raises TransientError for what a
later try may fix (timeouts, 5xx, 429) and PermanentError for what it will not (a 410, a
refused login): the caller retries the first and disables the channel on the second."""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from types import ModuleType

KINDS = ("email", "webhook", "mqtt", "ntfy")


class DeliveryError(Exception):
    def __init__(self, message: str, *, status_code: int | None = None) -> None:
        super().__init__(message)
        self.status_code = status_code


class TransientError(DeliveryError):
    def __init__(self, message: str, *, status_code: int | None = None, retry_after: float | None = None) -> None:
        super().__init__(message, status_code=status_code)
        self.retry_after = retry_after  # seconds the receiver asked us to wait (HTTP 429)


class PermanentError(DeliveryError):
    pass


@dataclass
class Message:
    """What every transport sends, rendered from templates (alerts/messages.py)."""

    key: str  # the idempotency key: the notification's id
    kind: str  # event, camera_offline, disk_low or test
    severity: str
    subject: str
    text: str
    html: str
    url: str  # the event's page (or the console's alert page)
    data: dict  # the JSON document of webhook and MQTT messages
    camera_id: str = ""
    camera_name: str = ""
    risk_score: int | None = None
    image: bytes | None = None  # the snapshot, where the channel can carry it
    image_urls: list[str] = field(default_factory=list)  # signed links that work without signing in


def get_transport(kind: str) -> ModuleType:
    if kind not in KINDS:
        raise ValueError(f"unknown channel kind {kind!r}")
    return importlib.import_module(f"alerts.transports.{kind}")


def short(text: str, limit: int = 300) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[: limit - 1] + "…"
