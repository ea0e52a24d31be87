"""The gauges `/metrics` reads at scrape time (settings.METRIC_COLLECTORS): what is true now
(queues, breakers, processes, disk, events by level, dead letters waiting) rather than
what has happened (the counters in monitoring/metrics.py). Each returns a list of
(name, kind, help, [(labels, value), ...]); each is a handful of small queries."""

from __future__ import annotations

import logging
import shutil
from typing import Any

from django.conf import settings
from django.db.models import Count
from django.utils.module_loading import import_string

from events.models import Event
from homesec.core.models import Breaker, DeadLetter
from monitoring.metrics import GAUGE, Family, render_counts, render_family
from monitoring.selectors import UNASSESSED, breaker_list, queue_depths, readiness

logger = logging.getLogger(__name__)


def health_metric_families() -> list[Family]:
    """Processes up (by role, from their heartbeats), disk space, breakers, dead letters."""
    checks = readiness()["checks"]
    # The web process answers this scrape: it is up.
    up = [({"role": "web"}, 1.0)]
    up += [
        ({"role": role}, float(check["ok"]))
        for role, check in checks.items()
        if role not in ("database", "broker", "disk")
    ]
    usage = shutil.disk_usage(settings.DATA_DIR)
    states = [str(state) for state in Breaker.State]
    breakers = [
        ({"breaker": row["name"], "state": state}, float(row["state"] == state))
        for row in breaker_list()
        for state in states
    ]
    waiting: dict[str, int] = {}
    for key in DeadLetter.objects.values_list("key", flat=True).iterator():
        stage = key.split(":", 1)[0]
        waiting[stage] = waiting.get(stage, 0) + 1
    return [
        ("homesec_process_up", GAUGE, "1 when the role's newest process beats on time (web: this process).", up),
        (
            "homesec_dependency_up",
            GAUGE,
            "1 when the database and the task broker answer.",
            [({"dependency": name}, float(checks[name]["ok"])) for name in ("database", "broker")],
        ),
        ("homesec_disk_free_bytes", GAUGE, "Free space on the data volume.", [({}, float(usage.free))]),
        ("homesec_disk_size_bytes", GAUGE, "Size of the data volume.", [({}, float(usage.total))]),
        ("homesec_breaker_state", GAUGE, "1 for the state each circuit breaker is in.", breakers),
        (
            "homesec_dead_letters_waiting",
            GAUGE,
            "Dead letters waiting for a replay or a discard, by stage.",
            [({"stage": stage}, float(n)) for stage, n in sorted(waiting.items())],
        ),
    ]


# One broker per lane for the life of the process: a Redis broker holds its connection.
_brokers: dict[str, Any] = {}


def _lanes() -> dict[str, str]:
    """Lane label -> django-q2 queue name: main (ingest, detection), alerts, slow."""
    return {"main": settings.Q_CLUSTER["name"], **{lane: lane for lane in settings.Q_CLUSTER["ALT_CLUSTERS"]}}


def queue_metric_families() -> list[Family]:
    """Work waiting: durable rows per stage (the backlog, whatever the broker holds) and
    task messages per lane (main and alerts are the fast lanes, slow the slow one)."""
    from django_q.brokers import get_broker

    rows = [
        ({"stage": stage, "state": state}, float(n))
        for stage, states in queue_depths().items()
        for state, n in states.items()
    ]
    messages = []
    for lane, queue in _lanes().items():
        broker = _brokers.get(queue) or _brokers.setdefault(queue, get_broker(queue))
        messages.append(({"lane": lane}, float(broker.queue_size() or 0)))
    return [
        ("homesec_queue_rows", GAUGE, "Durable work rows still to do, by stage and state.", rows),
        ("homesec_task_queue_messages", GAUGE, "Task messages waiting on each lane's queue.", messages),
    ]


def event_metric_families() -> list[Family]:
    """Events kept now, by level (a gauge: retention lowers it; homesec_assessments_total counts)."""
    counts = Event.objects.values_list("risk_level").annotate(n=Count("pk")).order_by()
    return [
        (
            "homesec_events",
            GAUGE,
            "Events kept now, by risk level (unassessed: none yet).",
            [({"level": level or UNASSESSED}, float(n)) for level, n in counts],
        )
    ]


def collected_lines() -> list[str]:
    """Every collector's families as exposition lines, and whether each collector answered:
    one that fails (Redis away, say) costs its own series, never the scrape."""
    lines: list[str] = []
    answered = []
    for path in settings.METRIC_COLLECTORS:
        try:
            families = import_string(path)()
        except Exception:  # noqa: BLE001 - reported by homesec_collector_up and the log
            logger.warning("metrics collector %s failed", path, exc_info=True)
            answered.append(({"collector": path}, 0.0))
            continue
        answered.append(({"collector": path}, 1.0))
        for name, kind, help_text, samples in families:
            lines += render_family(name, kind, help_text, samples)
    return lines + render_family("homesec_collector_up", GAUGE, "1 when the scrape-time collector answered.", answered)


def metrics_exposition() -> str:
    """The whole /metrics page: homesec's stored counts and histograms (every process's
    work), the scrape-time gauges, then django-prometheus's request and database metrics
    and the process metrics of prometheus_client, which are this web process's alone."""
    from prometheus_client import REGISTRY, generate_latest

    return "\n".join([*render_counts(), *collected_lines()]) + "\n" + generate_latest(REGISTRY).decode()
