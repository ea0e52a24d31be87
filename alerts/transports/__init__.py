"""Notification transports: one module per channel kind (`alerts/transports/<kind>.py`),
each shaped as `base.Transport`. `TRANSPORTS` is the one list of kinds: `Channel.Kind`, the
console's help texts and the environment's channels are all derived from it."""

from __future__ import annotations

import importlib
from typing import cast

from alerts.transports.base import DeliveryError, Message, PermanentError, TransientError, Transport, short

# kind -> the name the console shows. A new transport is a module named for its kind and a
# line here.
TRANSPORTS: dict[str, str] = {"email": "email", "webhook": "webhook", "mqtt": "MQTT", "ntfy": "ntfy"}

__all__ = [
    "TRANSPORTS",
    "DeliveryError",
    "Message",
    "PermanentError",
    "TransientError",
    "Transport",
    "get_transport",
    "short",
]


def get_transport(kind: str) -> Transport:
    if kind not in TRANSPORTS:
        raise ValueError(f"unknown channel kind {kind!r}")
    # A module is not an instance of a Protocol class to mypy's eyes until it is named as one.
    return cast(Transport, importlib.import_module(f"alerts.transports.{kind}"))
