"""Readiness: is every part homesec needs up, fresh and roomy enough?"""

from __future__ import annotations

import shutil
from datetime import datetime
from typing import Any

from django.conf import settings
from django.db import connection
from django.utils import timezone

from homesec.core.selectors import heartbeat_fresh, heartbeat_latest


def process_roles() -> tuple[str, ...]:
    """The long-running processes this configuration runs, each with a heartbeat."""
    roles = ("worker", "alert-worker", "slow-worker", "watcher")
    return (*roles, "ftp") if settings.FTP_PORT else roles


def _check_database() -> dict[str, Any]:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
        return {"ok": True, "vendor": connection.vendor}
    except Exception as exc:  # noqa: BLE001 - readiness reports any failure as "not ready"
        return {"ok": False, "vendor": connection.vendor, "error": exc.__class__.__name__}


# One Redis client per URL for the life of the process: its pool keeps the connection, so
# a probe every few seconds (and /ws/system's pushes) does not open a new one each time.
_broker_clients: dict = {}


def _check_broker() -> dict[str, Any]:
    if not settings.REDIS_URL:
        # The ORM broker is the database: ready when the database is.
        return {"ok": True, "kind": "orm"}
    import redis
    from redis.backoff import NoBackoff
    from redis.retry import Retry

    client = _broker_clients.get(settings.REDIS_URL)
    if client is None:
        client = _broker_clients.setdefault(
            settings.REDIS_URL,
            # No retries: the probe reports now, and the next probe is the retry.
            redis.Redis.from_url(
                settings.REDIS_URL, socket_timeout=1, socket_connect_timeout=1, retry=Retry(NoBackoff(), 0)
            ),
        )
    try:
        client.ping()
        return {"ok": True, "kind": "redis"}
    except Exception as exc:  # noqa: BLE001
        return {"ok": False, "kind": "redis", "error": exc.__class__.__name__}


def _check_process(role: str) -> dict[str, Any]:
    try:
        beat = heartbeat_fresh(role=role)
        if beat is not None and beat.problem:
            return {"ok": False, "name": beat.name, "age_s": _age(beat.beat_at), "error": beat.problem}
        if beat is not None:
            return {"ok": True, "name": beat.name, "age_s": _age(beat.beat_at)}
        last = heartbeat_latest(role=role)
    except Exception as exc:  # noqa: BLE001
        return {"ok": False, "error": exc.__class__.__name__}
    if last is None:
        return {"ok": False, "error": "no heartbeat yet"}
    return {"ok": False, "error": f"heartbeat stale for {_age(last.beat_at):.1f} s", "name": last.name}


def _check_disk() -> dict[str, Any]:
    usage = shutil.disk_usage(settings.DATA_DIR)
    free_gb = usage.free / 1024**3
    ok = free_gb >= settings.MIN_FREE_GB
    check: dict[str, Any] = {"ok": ok, "free_gb": round(free_gb, 2), "min_free_gb": settings.MIN_FREE_GB}
    if not ok:
        check["error"] = f"only {free_gb:.2f} GB free on the data volume"
    return check


def _age(moment: datetime) -> float:
    return round((timezone.now() - moment).total_seconds(), 2)


def readiness() -> dict[str, Any]:
    checks = {"database": _check_database(), "broker": _check_broker()}
    db_ok = checks["database"]["ok"]
    for role in process_roles():
        checks[role] = _check_process(role) if db_ok else {"ok": False, "error": "database unavailable"}
    checks["disk"] = _check_disk()
    not_ready = [name for name, check in checks.items() if not check["ok"]]
    return {"ready": not not_ready, "not_ready": not_ready, "checks": checks}
