"""ntfy: a POST to the server's topic, priority by severity, the snapshot uploaded as the
message's attachment (or linked, where the server does not take attachments), and an
"Acknowledge" button that opens the alert's page."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from alerts.transports._http import post
from alerts.transports.base import Message, PermanentError

SECRET_HELP = "An access token (tk_...) for a protected topic; empty for an open one."
EXAMPLE = {"server": "https://ntfy.sh", "topic": "homesec-4f9c2a"}
PRIORITY = {"low": 2, "medium": 3, "high": 4, "critical": 5}
TAGS = {"low": "information_source", "medium": "warning", "high": "rotating_light", "critical": "rotating_light,sos"}


def validate(config: dict[str, Any], secret: str) -> list[str]:
    problems = []
    if not str(config.get("server", "")).startswith(("http://", "https://")):
        problems.append('config needs "server": the ntfy server, e.g. https://ntfy.sh')
    if not str(config.get("topic", "")).strip("/"):
        problems.append('config needs "topic"')
    return problems


def send(config: dict[str, Any], secret: str, message: Message) -> None:
    # Title and message go as query parameters: headers are Latin-1 and single-line, a
    # camera's name or a summary need not be.
    url = f"{config['server'].rstrip('/')}/{config['topic'].strip('/')}"
    headers = {
        "Priority": str(PRIORITY.get(message.severity, 3)),
        "Tags": TAGS.get(message.severity, "warning"),
        "Click": message.url,
        "X-Homesec-Idempotency-Key": message.key,
        "User-Agent": "homesec",
    }
    if message.action_url:
        # A button on the phone's notification that opens the alert's page (ntfy's `view`
        # action); acknowledging there takes a signed-in click, never the link alone.
        headers["Actions"] = f"view, Acknowledge, {message.action_url}"
    if secret:
        headers["Authorization"] = f"Bearer {secret}"
    if message.image and config.get("attach", True):
        query = urlencode({"title": message.subject, "message": message.text})
        try:
            post(f"{url}?{query}", content=message.image, headers={**headers, "Filename": "snapshot.jpg"})
            return
        except PermanentError as exc:
            # A server with attachments turned off refuses the upload: link the snapshot instead.
            if exc.status_code not in (400, 413) or "attach" not in str(exc).lower():
                raise
    if message.image_urls:
        headers["Attach"] = message.image_urls[0]
    query = urlencode({"title": message.subject})
    post(
        f"{url}?{query}",
        content=message.text.encode(),
        headers={**headers, "Content-Type": "text/plain; charset=utf-8"},
    )
