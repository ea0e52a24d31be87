"""What every transport shares: the message it sends, the errors it raises and the shape
(`Transport`) a transport module has. A transport raises TransientError for what a later
try may fix (timeouts, 5xx, 429) and PermanentError for what it will not (a 410, a refused
login): the caller retries the first and disables the channel on the second."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol


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
    data: dict[str, Any]  # the JSON document of webhook and MQTT messages
    camera_id: str = ""
    camera_name: str = ""
    risk_score: int | None = None
    image: bytes | None = None  # the snapshot, where the channel can carry it
    image_urls: list[str] = field(default_factory=list)  # signed links that work without signing in
    action_url: str = ""  # the signed link to acknowledge the alert (after signing in); "" for a test


class Transport(Protocol):
    """A transport module: one attempt per `send`, no retries of its own (delivery.py
    decides those from the error it raises)."""

    SECRET_HELP: str  # what the channel's write-only secret is, shown in the console
    EXAMPLE: dict[str, Any]  # a config to start from, shown in the console

    def validate(self, config: dict[str, Any], secret: str) -> list[str]:
        """What is wrong with this config and secret, in words; empty when it can be used."""
        ...

    def send(self, config: dict[str, Any], secret: str, message: Message) -> None:
        """Deliver once; raise TransientError or PermanentError when it did not arrive."""
        ...


def short(text: object, limit: int = 300) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[: limit - 1] + "…"
