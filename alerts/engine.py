"""The rule engine: after every assessment, each rule decides, with its reason, whether the
event alerts.

Its promise: every assessment is checked once (an AlertCheck row per assessment number
makes a second run change nothing), each matching rule raises at most one alert per event
and level, only a higher level alerts again (even in the cooldown), and a clock sweep
checks assessments whose check was lost.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import Exists, OuterRef, Q
from django.utils import timezone

from alerts.matching import dedup_key
from alerts.models import Alert, AlertCheck, AlertRule
from alerts.selectors import event_seen, household_mode, rule_match_event
from alerts.services import notifications_create, rule_channels
from cameras.models import Camera
from events.models import Event
from events.selectors import event_first_arrival, level_names
from homesec.core.live import live_publish
from homesec.core.tasks import enqueue
from monitoring.metrics import MetricBatch

logger = logging.getLogger(__name__)

EVALUATE_TASK = "alerts.tasks.alerts_evaluate"


def _rank(level: str, levels: list[str]) -> int:
    return levels.index(level) if level in levels else -1


# --- Checking an assessment ------------------------------------------------------------------------------


def alerts_evaluate(*, event_id: int, now: datetime | None = None) -> list[Alert]:
    """Check the event's current assessment against every rule, once."""
    now = now or timezone.now()
    with transaction.atomic():
        event = Event.objects.select_for_update().filter(pk=event_id).first()
        if event is None or event.risk_score is None or not event.assessment_seq:
            return []
        if AlertCheck.objects.filter(event=event, seq=event.assessment_seq).exists():
            return []  # this assessment was checked already
        # One check at a time per camera, so two events of one camera cannot both slip
        # through a cooldown (SQLite's write transactions are serial anyway).
        event.camera = Camera.objects.select_for_update().get(pk=event.camera_id)
        decisions, alerts = _decide(event, now)
        fired = len(alerts)
        AlertCheck.objects.create(
            event=event,
            seq=event.assessment_seq,
            risk_score=event.risk_score,
            risk_level=event.risk_level,
            assessment_state=event.assessment_state,
            outcome=f"{fired} alert(s)" if fired else _quiet_outcome(decisions),
            decisions=decisions,
        )
        _count(event, alerts)
        for alert in alerts:
            notifications_create(alert=alert, channels=rule_channels(alert.rule), now=now)
            live_publish(
                stream="events",
                kind="alert.fired",
                payload={
                    "alert": alert.pk,
                    "event": event.pk,
                    "camera": event.camera_id,
                    "severity": alert.severity,
                    "risk_score": alert.risk_score,
                    "title": alert.title,
                },
            )
    return alerts


def _count(event: Event, alerts: list[Alert]) -> None:
    """Alerts raised by severity; the event's first alert also its time from its first
    file's arrival (the event row is locked: counted once)."""
    if not alerts:
        return
    batch = MetricBatch()
    for alert in alerts:
        batch.inc("homesec_alerts_total", {"kind": alert.kind, "severity": alert.severity})
    if not Alert.objects.filter(event=event).exclude(pk__in=[a.pk for a in alerts]).exists():
        batch.stage_reached("alerted", event_first_arrival(event_id=event.pk))
    batch.write()


def _quiet_outcome(decisions: list[dict[str, Any]]) -> str:
    if not decisions:
        return "no rule to check"
    first = next((d for d in decisions if d["result"] == "suppressed"), decisions[0])
    return f"no alert: {first['why']}"[:300]


def _gate(event: Event, now: datetime, levels: list[str]) -> str:
    """Why this assessment may not alert at all, or ''."""
    if event.late:
        return "late event (uploads from a backlog): shown, never alerted"
    ended = event.ended_at or event.last_detection_at
    if now - ended > timedelta(hours=settings.ALERT_MAX_AGE_H):
        return f"the event ended {ended:%Y-%m-%d %H:%M}, more than {settings.ALERT_MAX_AGE_H:g} h ago"
    previous = AlertCheck.objects.filter(event=event, seq__lt=event.assessment_seq).order_by("-seq").first()
    if previous and previous.assessment_state == Event.Assessment.FALLBACK:
        if _rank(event.risk_level, levels) <= _rank(previous.risk_level, levels):
            return (
                f"re-assessment of a fallback assessment did not raise the level "
                f"({previous.risk_level} → {event.risk_level})"
            )
    return ""


def _decide(event: Event, now: datetime) -> tuple[list[dict[str, Any]], list[Alert]]:
    levels = level_names()
    rules = list(AlertRule.objects.prefetch_related("cameras", "zones"))
    gate = _gate(event, now, levels)
    if gate:
        names = [r.name for r in rules] or [""]
        return [{"rule": name, "result": "not checked", "why": gate} for name in names], []
    mode = household_mode(now=now)
    seen = event_seen(event)
    decisions: list[dict[str, Any]] = []
    alerts: list[Alert] = []
    for rule in rules:
        if not rule.enabled:
            decisions.append({"rule": rule.name, "result": "off", "why": "the rule is disabled"})
            continue
        match = rule_match_event(rule, event, mode=mode.mode, levels=levels, seen=seen)
        if not match.ok:
            decisions.append({"rule": rule.name, "result": "no match", "why": match.failed})
            continue
        key, key_problem = dedup_key(
            rule, camera=event.camera_id, event=event.pk, level=event.risk_level, label=match.label
        )
        why, escalation = _repeat(rule, event, key, levels, now)
        if why:
            decisions.append({"rule": rule.name, "result": "suppressed", "why": why + key_problem})
            continue
        alert = Alert.objects.create(
            kind=Alert.Kind.EVENT,
            event=event,
            camera=event.camera,
            rule=rule,
            rule_name=rule.name,
            severity=rule.severity or event.risk_level,
            level=event.risk_level,
            risk_score=event.risk_score,
            title=f"{event.risk_level} risk {event.risk_score} on {event.camera.name}: {event.summary}"[:300],
            dedup_key=key,
            matched=match.reasons,
            escalation=escalation,
            created_at=now,
            last_notified_at=now,
        )
        decisions.append(
            {"rule": rule.name, "result": "fired", "why": "; ".join(match.reasons) + key_problem, "alert": alert.pk}
        )
        alerts.append(alert)
    return decisions, alerts


def _repeat(rule: AlertRule, event: Event, key: str, levels: list[str], now: datetime) -> tuple[str, bool]:
    """(why not, '' to fire; and whether firing is an escalation). Only a higher level
    alerts again for the same event, and it does so even inside the cooldown."""
    rank = _rank(event.risk_level, levels)
    earlier = list(Alert.objects.filter(event=event, rule=rule))
    if earlier:
        top = max(earlier, key=lambda a: _rank(a.level, levels))
        if rank <= _rank(top.level, levels):
            return f"alerted already for this event at {top.level} (alert {top.pk})", False
        return "", True
    since = now - timedelta(seconds=rule.cooldown_s)
    recent = list(Alert.objects.filter(kind=Alert.Kind.EVENT, dedup_key=key, created_at__gte=since))
    if recent:
        top = max(recent, key=lambda a: _rank(a.level, levels))
        if rank <= _rank(top.level, levels):
            age = (now - top.created_at).total_seconds()
            return f"cooldown: alert {top.pk} for {key} was {age:.0f} s ago (cooldown {rule.cooldown_s} s)", False
        return "", True
    return "", False


# --- The sweep: assessments whose check was lost ----------------------------------------------


def alert_sweep(*, now: datetime | None = None) -> int:
    """A clock job: assessments of the last hours that have no AlertCheck yet (their task
    was lost, e.g. a Redis broker restart) are checked again, each at most once a stale
    period (the event's check_queued_at)."""
    now = now or timezone.now()
    stale = now - timedelta(seconds=settings.NOTIFY_STALE_S)
    checked = AlertCheck.objects.filter(event=OuterRef("pk"), seq=OuterRef("assessment_seq"))
    waiting = list(
        Event.objects.filter(
            assessed_at__gte=now - timedelta(hours=settings.ALERT_MAX_AGE_H),
            assessed_at__lt=stale,
            assessment_seq__gt=0,
        )
        .exclude(risk_score=None)
        .filter(Q(check_queued_at__isnull=True) | Q(check_queued_at__lt=stale))
        .filter(~Exists(checked))
        .values_list("pk", flat=True)[:200]
    )
    Event.objects.filter(pk__in=waiting).update(check_queued_at=now)
    for pk in waiting:
        enqueue(EVALUATE_TASK, pk)
    if waiting:
        logger.info("alert sweep re-sent the rule check of %d event(s)", len(waiting))
    return len(waiting)
