"""What webhook and ntfy share: one POST, and what its answer means for retrying."""

from __future__ import annotations

from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

import httpx
from django.conf import settings

from alerts.transports.base import PermanentError, TransientError, short

RETRYABLE = {408, 425, 429}


def retry_after_s(value: str | None) -> float | None:
    """Retry-After in seconds: a number, or an HTTP date."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        moment = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return max(0.0, (moment - datetime.now(UTC)).total_seconds())


def post(url: str, *, content: bytes, headers: dict[str, str]) -> httpx.Response:
    """Send once; a 2xx returns, anything else raises Transient- or PermanentError."""
    try:
        response = httpx.post(url, content=content, headers=headers, timeout=settings.NOTIFY_TIMEOUT_S)
    except httpx.TimeoutException as exc:
        raise TransientError(f"no answer within {settings.NOTIFY_TIMEOUT_S:g} s ({exc.__class__.__name__})") from None
    except httpx.HTTPError as exc:
        raise TransientError(f"could not reach the receiver: {exc.__class__.__name__}: {short(exc, 200)}") from None
    if response.is_success:
        return response
    code = response.status_code
    said = f"HTTP {code} {response.reason_phrase}" + (f": {short(response.text, 200)}" if response.text else "")
    if code >= 500 or code in RETRYABLE:
        raise TransientError(said, status_code=code, retry_after=retry_after_s(response.headers.get("Retry-After")))
    raise PermanentError(said, status_code=code)
