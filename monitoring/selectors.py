"""What the System page, /ready, the API and the metrics read: readiness (is every part
homesec needs up, fresh and roomy enough?), the durable queues, heartbeats, breakers, dead
letters and the hourly charts."""

from __future__ import annotations

import shutil
import time
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from django.conf import settings
from django.db import connection
from django.db.models import Count, Model
from django.db.models.functions import TruncHour
from django.utils import timezone

from alerts.models import Notification
from cameras.models import Camera, Ingest
from detections.models import Clip, Detection, DetectionRun
from events.models import Event
from events.selectors import level_names
from homesec.core.models import Breaker, DeadLetter, Heartbeat
from homesec.core.selectors import heartbeat_latest


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


def _check_process(role: str, newest: Heartbeat | None) -> dict[str, Any]:
    """`newest` is the role's newest beat: when it is fresh it is also the newest fresh one,
    so it alone says whether the role is up."""
    if newest is None:
        return {"ok": False, "error": "no heartbeat yet"}
    if (timezone.now() - newest.beat_at).total_seconds() > settings.HEARTBEAT_STALE_S:
        return {"ok": False, "error": f"heartbeat stale for {_age(newest.beat_at):.1f} s", "name": newest.name}
    if newest.problem:
        return {"ok": False, "name": newest.name, "age_s": _age(newest.beat_at), "error": newest.problem}
    return {"ok": True, "name": newest.name, "age_s": _age(newest.beat_at)}


def _check_disk() -> dict[str, Any]:
    usage = shutil.disk_usage(settings.DATA_DIR)
    free_gb = usage.free / 1024**3
    ok = free_gb >= settings.MIN_FREE_GB
    check: dict[str, Any] = {
        "ok": ok,
        "free_gb": round(free_gb, 2),
        "total_gb": round(usage.total / 1024**3, 2),
        "min_free_gb": settings.MIN_FREE_GB,
    }
    if not ok:
        check["error"] = f"only {free_gb:.2f} GB free on the data volume"
    return check


def _age(moment: datetime) -> float:
    return round((timezone.now() - moment).total_seconds(), 2)


# Heartbeat rows read at most (one per process started in the last day: older ones are pruned).
HEARTBEAT_ROWS = 200


def heartbeat_rows() -> list[Heartbeat]:
    """The processes' heartbeats, by role and newest first: one query that readiness and the
    process list share (pass it to both)."""
    return list(Heartbeat.objects.order_by("role", "-beat_at", "-pk")[:HEARTBEAT_ROWS])


def _newest_per_role(beats: list[Heartbeat], roles: tuple[str, ...]) -> dict[str, Heartbeat | None]:
    newest: dict[str, Heartbeat | None] = {}
    for beat in beats:  # by role, newest first: a role's first row is its newest
        newest.setdefault(beat.role, beat)
    for role in roles:
        if role not in newest:
            # Rows cut off at HEARTBEAT_ROWS (a process restarting in a loop) may hide a role.
            newest[role] = heartbeat_latest(role=role) if len(beats) >= HEARTBEAT_ROWS else None
    return newest


def readiness(*, heartbeats: list[Heartbeat] | None = None) -> dict[str, Any]:
    """`heartbeats`: heartbeat_rows() where the caller has them already."""
    checks = {"database": _check_database(), "broker": _check_broker()}
    roles = process_roles()
    if not checks["database"]["ok"]:
        checks.update({role: {"ok": False, "error": "database unavailable"} for role in roles})
    else:
        try:
            newest = _newest_per_role(heartbeat_rows() if heartbeats is None else heartbeats, roles)
        except Exception as exc:  # noqa: BLE001
            checks.update({role: {"ok": False, "error": exc.__class__.__name__} for role in roles})
        else:
            checks.update({role: _check_process(role, newest[role]) for role in roles})
    checks["disk"] = _check_disk()
    not_ready = [name for name, check in checks.items() if not check["ok"]]
    return {"ready": not not_ready, "not_ready": not_ready, "checks": checks}


# --- Queues: pending durable rows per stage ------------------------------------------------

# (stage, model path, status field, the states that mean "still to do"), in pipeline order.
QUEUE_STAGES: tuple[tuple[str, type[Model], str, tuple[str, ...]], ...] = (
    ("ingest", Ingest, "status", (Ingest.Status.PENDING, Ingest.Status.PROCESSING)),
    ("detection", DetectionRun, "status", (DetectionRun.Status.PENDING, DetectionRun.Status.RUNNING)),
    ("assessment", Event, "assess_step", (Event.Step.QUEUED, Event.Step.RUNNING)),
    ("notification", Notification, "status", (Notification.Status.PENDING, Notification.Status.SENDING)),
    ("transcode", Clip, "transcode", (Clip.Transcode.PENDING, Clip.Transcode.RUNNING)),
)


def queue_depths() -> dict[str, dict[str, int]]:
    """Pending durable rows per stage: `{stage: {state: count, ...}, ...}` with every stage
    and state present (0 when none), stages in pipeline order.

    The one definition of "queue depth": the System page, its live health push, the API's
    system stats and the Prometheus metrics all read it from here. Every hop is a row before
    it is a task (ARCHITECTURE.md), so the rows still to do are the backlog whatever the
    broker holds: ingests pending/processing, detection runs pending/running, events whose
    assessment is queued/running (Event.assess_step), notifications pending/sending (a retry
    waiting for its time included), clip transcodes pending/running.

    One grouped query per stage over its status column, restricted to the to-do states, so
    the indexes on status keep it cheap however many finished rows there are."""
    depths: dict[str, dict[str, int]] = {}
    for stage, model, field, states in QUEUE_STAGES:
        counts = {str(state): 0 for state in states}
        rows = model._default_manager.filter(**{f"{field}__in": states}).values_list(field).annotate(n=Count("pk"))
        for state, n in rows.order_by():
            counts[state] = n
        depths[stage] = counts
    return depths


def queue_total(depths: dict[str, dict[str, int]]) -> int:
    return sum(sum(states.values()) for states in depths.values())


# --- Processes, breakers, dead letters ------------------------------------------------------


def heartbeat_list(*, heartbeats: list[Heartbeat] | None = None) -> list[dict[str, Any]]:
    """Every process that beat within the last day (older rows are pruned), newest first
    per role, each with its age and whether it is stale (/ready's limit). `heartbeats`:
    heartbeat_rows() where the caller has them already."""
    now = timezone.now()
    return [
        {
            "role": beat.role,
            "name": beat.name,
            "hostname": beat.hostname,
            "pid": beat.pid,
            "started_at": beat.started_at,
            "beat_at": beat.beat_at,
            "age_s": round((now - beat.beat_at).total_seconds(), 1),
            "stale": (now - beat.beat_at).total_seconds() > settings.HEARTBEAT_STALE_S,
            "problem": beat.problem,
        }
        for beat in (heartbeat_rows() if heartbeats is None else heartbeats)
    ]


def _breaker_label(name: str) -> tuple[str, str]:
    """(kind, what it guards) for a breaker's name: `detector`, `llm:<url>`. A URL is shown
    without credentials or query (viewers read this page)."""
    if name.startswith("llm:"):
        parts = urlsplit(name[4:])
        host = parts.hostname or ""
        netloc = f"{host}:{parts.port}" if parts.port else host
        return "LLM", urlunsplit((parts.scheme, netloc, parts.path, "", ""))
    if name == "detector":
        return "detector", settings.DETECTOR
    return name, ""


def breaker_list() -> list[dict[str, Any]]:
    """The detector's and the language models' circuit breakers: a row appears at the first
    remote call, so a local detector or no model configured has none. Names and targets
    carry no credentials or query (a model's URL may hold a key): viewers read them."""
    now = time.time()
    out = []
    for row in Breaker.objects.order_by("name"):
        kind, target = _breaker_label(row.name)
        out.append(
            {
                "name": f"llm:{target}" if kind == "LLM" else row.name,
                "kind": kind,
                "target": target,
                "state": row.state,
                "state_label": row.get_state_display(),
                "recent_failures": sum(1 for t in row.failures if now - t <= 60),
                "opened_at": row.opened_at,
                "changed_at": row.changed_at,
                "last_error": row.last_error[:300],
            }
        )
    return out


def dead_letter_count() -> int:
    return DeadLetter.objects.count()


def system_health() -> dict[str, Any]:
    """What /ws/system pushes every few seconds (JSON-ready) and the System page shows:
    readiness, queue depths, dead letters and the processes' heartbeats. Each is a query on
    an indexed column or a small table; the heartbeats are read once for readiness and the
    list."""
    beats = heartbeat_rows()
    report = readiness(heartbeats=beats)
    report["queues"] = queue_depths()
    report["dead_letters"] = dead_letter_count()
    report["heartbeats"] = [
        {key: beat[key] for key in ("role", "name", "pid", "age_s", "stale", "problem")}
        for beat in heartbeat_list(heartbeats=beats)
    ]
    return report


# --- Charts: the last 24 hours by hour ------------------------------------------------------

CHART_HOURS = 24
UNASSESSED = "unassessed"


def _chart_hours(now: datetime | None, hours: int) -> list[datetime]:
    """The hour buckets (UTC), oldest first, the current (partial) hour last."""
    current = (now or timezone.now()).astimezone(UTC).replace(minute=0, second=0, microsecond=0)
    return [current - timedelta(hours=hours - 1 - n) for n in range(hours)]


def _chart(rows: list[tuple[datetime, str, int]], buckets: list[datetime], names: list[str]) -> dict[str, Any]:
    index = {bucket: n for n, bucket in enumerate(buckets)}
    series: dict[str, list[int]] = {name: [0] * len(buckets) for name in names}
    for hour, name, n in rows:
        position = index.get(hour.astimezone(UTC))
        if position is None:
            continue
        series.setdefault(name, [0] * len(buckets))[position] += n
    return {
        "hours": [int(bucket.timestamp()) for bucket in buckets],
        "series": [{"name": name, "values": values} for name, values in series.items()],
    }


def chart_events_per_hour(*, now: datetime | None = None, hours: int = CHART_HOURS) -> dict[str, Any]:
    """Events started per hour over the last `hours` (UTC hour buckets, the current hour
    last), one series per risk level from the lowest up, "unassessed" first for events
    without a level yet. One grouped query (TruncHour: SQLite and PostgreSQL)."""
    buckets = _chart_hours(now, hours)
    rows = (
        Event.objects.filter(started_at__gte=buckets[0])
        .annotate(hour=TruncHour("started_at", tzinfo=UTC))
        .values_list("hour", "risk_level")
        .annotate(n=Count("pk"))
        .order_by()
    )
    names = [UNASSESSED, *level_names()]
    return _chart([(hour, level or UNASSESSED, n) for hour, level, n in rows], buckets, names)


def chart_detections_per_hour(*, now: datetime | None = None, hours: int = CHART_HOURS) -> dict[str, Any]:
    """Detections per hour by class over the last `hours`, by capture time (indexed), one
    series per class seen, the commonest first. One grouped query."""
    buckets = _chart_hours(now, hours)
    rows = list(
        Detection.objects.filter(captured_at__gte=buckets[0])
        .annotate(hour=TruncHour("captured_at", tzinfo=UTC))
        .values_list("hour", "label")
        .annotate(n=Count("pk"))
        .order_by()
    )
    totals: dict[str, int] = {}
    for _, label, n in rows:
        totals[label] = totals.get(label, 0) + n
    names = sorted(totals, key=lambda label: (-totals[label], label))
    return _chart(rows, buckets, names)


def system_charts(*, now: datetime | None = None) -> dict[str, Any]:
    return {
        "events": chart_events_per_hour(now=now),
        "detections": chart_detections_per_hour(now=now),
    }


# --- The API's numbers (monitoring/api.py) ---------------------------------------------------


def disk_state() -> dict[str, Any]:
    """Free and total space on the data volume, and whether it is above the floor."""
    return _check_disk()


def system_counts(*, now: datetime | None = None) -> dict[str, int]:
    """Cameras, events and detections since midnight (the household's time), open alerts."""
    from alerts.selectors import alerts_open_count  # alerts' selectors read events: not at import time

    midnight = timezone.localtime(now or timezone.now()).replace(hour=0, minute=0, second=0, microsecond=0)
    return {
        "cameras": Camera.objects.count(),
        "events_today": Event.objects.filter(started_at__gte=midnight).count(),
        "detections_today": Detection.objects.filter(captured_at__gte=midnight).count(),
        "alerts_open": alerts_open_count(),
    }
