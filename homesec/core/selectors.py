"""Reads for the shared infrastructure rows."""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.db import connections
from django.db.models import Model, Q
from django.utils import timezone

from homesec.core.models import ApiToken, Heartbeat, LiveMessage, LoginFailure
from homesec.core.services import TOKEN_PREFIX, token_hash


def api_token_get_active(*, key: str) -> ApiToken | None:
    if not key.startswith(TOKEN_PREFIX):
        return None
    return (
        ApiToken.objects.select_related("user")
        .filter(key_hash=token_hash(key), revoked_at__isnull=True, user__is_active=True)
        .first()
    )


def login_locked_out(*, username: str, ip: str | None) -> bool:
    """True when this address or this user name failed too often recently. The name is
    the raw one typed: it is cleaned as the sign-in form cleans it before counting."""
    from homesec.core.services import login_failure_username

    since = timezone.now() - timedelta(seconds=settings.LOGIN_LOCKOUT_S)
    recent = LoginFailure.objects.filter(at__gte=since)
    limit = settings.LOGIN_MAX_FAILURES
    if recent.filter(username=login_failure_username(username)).count() >= limit:
        return True
    # An address may try a few user names, but not endlessly.
    return ip is not None and recent.filter(ip=ip).count() >= limit * 3


def heartbeat_latest(*, role: str) -> Heartbeat | None:
    return Heartbeat.objects.filter(role=role).order_by("-beat_at").first()


def live_message_list_after(*, stream: str, after_id: int, limit: int = 1000) -> list[LiveMessage]:
    return list(LiveMessage.objects.filter(stream=stream, id__gt=after_id).order_by("id")[:limit])


def live_message_list_after_or_in(*, after_id: int, ids: list[int], limit: int = 1000) -> list[LiveMessage]:
    """New rows, and rows of ids the reader saw skipped (they may commit late)."""
    return list(LiveMessage.objects.filter(Q(id__gt=after_id) | Q(id__in=ids)).order_by("id")[:limit])


def live_message_last_id() -> int:
    last = LiveMessage.objects.order_by("-id").values_list("id", flat=True).first()
    return last or 0


def table_row_estimate(model: type[Model], *, using: str = "default") -> int | None:
    """The planner's row count of a table (kept by autovacuum and ANALYZE): instant where
    COUNT(*) reads the whole table. None where there is none: not PostgreSQL, or a table
    never analysed."""
    connection = connections[using]
    if connection.vendor != "postgresql":
        return None
    with connection.cursor() as cursor:
        cursor.execute("SELECT reltuples::bigint FROM pg_class WHERE oid = %s::regclass", [model._meta.db_table])
        row = cursor.fetchone()
    return int(row[0]) if row and row[0] >= 0 else None
