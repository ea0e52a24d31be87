"""Writes for alerts: the rule engine that runs after every assessment, system alerts
(camera offline, low disk), re-notification, the lifecycle and the household's mode.
The first-run setup (channels declared in the environment, the default rule) is in
alerts/setup.py.

The engine's promise: every assessment is checked once (an AlertCheck row per assessment
number makes a second run change nothing), each matching rule raises at most one alert
per event and level, and every notification is a row before its task is sent.
"""

from __future__ import annotations

import logging
import shutil
from datetime import datetime, timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Exists, F, OuterRef
from django.utils import timezone

from alerts.delivery import NOTIFY_TASK, alert_refresh_state
from alerts.matching import dedup_key, in_quiet_hours
from alerts.models import Alert, AlertCheck, AlertRule, Channel, Household, MemberProfile, Notification
from alerts.selectors import event_seen, household_mode, rule_match_event
from cameras.models import Camera
from events.assessment import level_names
from events.models import Event
from homesec.core.live import live_publish
from homesec.core.tasks import enqueue

logger = logging.getLogger(__name__)

EVALUATE_TASK = "alerts.tasks.alerts_evaluate"


def _rank(level: str, levels: list[str]) -> int:
    return levels.index(level) if level in levels else -1


# --- The engine ------------------------------------------------------------------------------


def alerts_evaluate(*, event_id: int, now=None) -> list[Alert]:
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


def _quiet_outcome(decisions: list[dict]) -> str:
    if not decisions:
        return "no rule to check"
    first = next((d for d in decisions if d["result"] == "suppressed"), decisions[0])
    return f"no alert: {first['why']}"[:300]


def _gate(event: Event, now, levels: list[str]) -> str:
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


def _decide(event: Event, now) -> tuple[list[dict], list[Alert]]:
    levels = level_names()
    rules = list(AlertRule.objects.prefetch_related("cameras", "zones"))
    gate = _gate(event, now, levels)
    if gate:
        names = [r.name for r in rules] or [""]
        return [{"rule": name, "result": "not checked", "why": gate} for name in names], []
    mode = household_mode(now=now)
    seen = event_seen(event)
    decisions, alerts = [], []
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


def _repeat(rule: AlertRule, event: Event, key: str, levels: list[str], now) -> tuple[str, bool]:
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


# --- Notifications ------------------------------------------------------------------------


def rule_channels(rule: AlertRule | None) -> list[Channel]:
    """The channels a rule notifies. With no rule (the default was deleted): all of them."""
    if rule is None or rule.all_channels:
        return list(Channel.objects.all())
    return list(rule.channels.all())


def _skip_reason(channel: Channel, alert: Alert, now, top_level: str) -> str:
    """Why this channel stays silent for this alert, or ''."""
    if not channel.enabled:
        return f"channel disabled: {channel.disabled_reason or 'by the operator'}"
    if channel.owner_id is None:
        return ""
    profile = MemberProfile.objects.filter(user_id=channel.owner_id).select_related("user").first()
    if profile is None:
        return ""
    member = profile.user.get_username()
    minimum = profile.camera_min_risk.get(alert.camera_id or "")
    if alert.risk_score is not None and minimum is not None and alert.risk_score < minimum:
        return f"below {member}'s minimum for {alert.camera_id} ({alert.risk_score} < {minimum})"
    quiet = in_quiet_hours(now.astimezone(profile.zoneinfo), profile.quiet_hours)
    if quiet and not (alert.severity == top_level and profile.critical_breaks_through):
        return f"{member}'s quiet hours ({quiet})"
    return ""


def notifications_create(*, alert: Alert, channels: list[Channel], now, round: int = 0) -> list[int]:
    """A row per channel (skipped ones say why), then one task per pending row."""
    top_level = (level_names() or [""])[-1]
    rows = []
    for channel in channels:
        skip = _skip_reason(channel, alert, now, top_level)
        status = Notification.Status.SKIPPED if skip else Notification.Status.PENDING
        rows.append(
            Notification(
                alert=alert, channel=channel, round=round, status=status, error=skip, queued_at=now, created_at=now
            )
        )
    Notification.objects.bulk_create(rows, ignore_conflicts=True)
    pending = list(
        Notification.objects.filter(alert=alert, round=round, status=Notification.Status.PENDING).values_list(
            "pk", flat=True
        )
    )
    for pk in pending:  # one task each: a slow channel never holds up the others
        enqueue(NOTIFY_TASK, [pk])
    alert_refresh_state(alert_id=alert.pk)
    return pending


# --- The sweep: assessments whose check was lost ----------------------------------------------


# (event, assessment number) -> when the sweep last re-sent its check. The sweep runs in
# the one clock process, so memory is enough to send each at most once per stale period.
_resent: dict[tuple[int, int], datetime] = {}


def alert_sweep(*, now=None) -> int:
    """A clock job: assessments of the last hours that have no AlertCheck yet (their task
    was lost, e.g. a Redis broker restart) are checked again."""
    now = now or timezone.now()
    stale = now - timedelta(seconds=settings.NOTIFY_STALE_S)
    checked = AlertCheck.objects.filter(event=OuterRef("pk"), seq=OuterRef("assessment_seq"))
    waiting = (
        Event.objects.filter(
            assessed_at__gte=now - timedelta(hours=settings.ALERT_MAX_AGE_H),
            assessed_at__lt=stale,
            assessment_seq__gt=0,
        )
        .exclude(risk_score=None)
        .filter(~Exists(checked))
        .values_list("pk", "assessment_seq")[:200]
    )
    for key in [key for key, at in _resent.items() if at < stale]:
        del _resent[key]
    sent = [key for key in waiting if key not in _resent]
    for pk, seq in sent:
        _resent[(pk, seq)] = now
        enqueue(EVALUATE_TASK, pk)
    if sent:
        logger.info("alert sweep re-sent the rule check of %d event(s)", len(sent))
    return len(sent)


# --- Re-notification ------------------------------------------------------------------------------


def alert_renotify_due(*, now=None) -> int:
    """A clock job: unacknowledged alerts of the top level are sent again every
    HOMESEC_RENOTIFY_MINUTES, at most HOMESEC_RENOTIFY_MAX times."""
    now = now or timezone.now()
    levels = level_names()
    if not levels or not settings.RENOTIFY_MAX:
        return 0
    due = Alert.objects.filter(
        severity=levels[-1],
        state__in=[Alert.State.DELIVERED, Alert.State.FAILED],
        renotify_count__lt=settings.RENOTIFY_MAX,
        last_notified_at__lte=now - timedelta(minutes=settings.RENOTIFY_MINUTES),
    )
    count = 0
    for alert in due.select_related("camera"):
        with transaction.atomic():
            claimed = Alert.objects.filter(pk=alert.pk, renotify_count=alert.renotify_count).update(
                renotify_count=F("renotify_count") + 1, last_notified_at=now
            )
            if not claimed:
                continue
            channels = list(Channel.objects.filter(notifications__alert=alert, notifications__round=0).distinct())
            notifications_create(alert=alert, channels=channels, now=now, round=alert.renotify_count + 1)
            count += 1
    return count


# --- System alerts: a camera gone quiet, the disk filling up ------------------------------------


def _system_alert(*, kind: str, key: str, title: str, camera: Camera | None, now) -> Alert | None:
    if Alert.objects.filter(dedup_key=key).exists():
        return None
    rule = AlertRule.objects.filter(is_default=True).first()
    levels = level_names()
    severity = levels[-2] if len(levels) >= 2 else (levels or ["high"])[-1]
    try:
        with transaction.atomic():
            alert = Alert.objects.create(
                kind=kind,
                camera=camera,
                rule=rule,
                rule_name=rule.name if rule else "system",
                severity=severity,
                title=title[:300],
                dedup_key=key,
                matched=[title],
                created_at=now,
                last_notified_at=now,
            )
            notifications_create(alert=alert, channels=rule_channels(rule), now=now)
    except IntegrityError:
        return None  # raised a moment ago by another clock
    live_publish(stream="events", kind="alert.fired", payload={"alert": alert.pk, "severity": severity, "title": title})
    return alert


def system_alerts_check(*, now=None) -> list[Alert]:
    """A clock job: one alert per camera outage (cameras with an offline limit) and one a
    day while the data volume has less than HOMESEC_MIN_FREE_GB free. They go to the
    default rule's channels."""
    now = now or timezone.now()
    due = []  # (kind, dedup key with its period, title, camera)
    for camera in Camera.objects.filter(status=Camera.Status.OFFLINE, offline_after_min__isnull=False):
        since = (camera.last_seen_at or camera.created_at).isoformat()
        reason = camera.status_reason or "no uploads"
        due.append(
            (
                Alert.Kind.CAMERA_OFFLINE,
                f"offline:{camera.pk}:{since}",
                f"Camera {camera.name} is offline: {reason}",
                camera,
            )
        )
    free_gb = shutil.disk_usage(settings.DATA_DIR).free / 1024**3
    if free_gb < settings.MIN_FREE_GB:
        title = f"Only {free_gb:.2f} GB free on the data volume (minimum {settings.MIN_FREE_GB:g} GB)"
        due.append((Alert.Kind.DISK_LOW, f"disk_low:{timezone.localdate(now)}", title, None))
    raised = [_system_alert(kind=k, key=key, title=t, camera=c, now=now) for k, key, t, c in due]
    return [alert for alert in raised if alert]


# --- Lifecycle ------------------------------------------------------------------------------------


def _handle(alert: Alert, *, state: str, stamp: str, user, now) -> bool:
    now = now or timezone.now()
    done = Alert.objects.filter(
        pk=alert.pk, state__in=[Alert.State.PENDING, Alert.State.DELIVERED, Alert.State.FAILED]
    ).update(state=state, handled_by=user, **{stamp: now})
    if done:
        live_publish(stream="events", kind=f"alert.{state}", payload={"alert": alert.pk})
    return bool(done)


def alert_acknowledge(*, alert: Alert, user=None, now=None) -> bool:
    """Seen and taken care of: no more reminders."""
    return _handle(alert, state=Alert.State.ACKNOWLEDGED, stamp="acknowledged_at", user=user, now=now)


def alert_dismiss(*, alert: Alert, user=None, now=None) -> bool:
    """Not worth acting on (a false alarm): no more reminders."""
    return _handle(alert, state=Alert.State.DISMISSED, stamp="dismissed_at", user=user, now=now)


# --- The household ----------------------------------------------------------------------------


def household_get() -> Household:
    return Household.objects.get_or_create(pk=1)[0]


def household_set_mode(*, mode: str, user=None, now=None) -> Household:
    """Set by hand: holds until the schedule's next switch."""
    household = household_get()
    Household.objects.filter(pk=1).update(
        mode=mode, mode_set_at=now or timezone.now(), mode_set_by=user.get_username() if user else ""
    )
    household.refresh_from_db()
    return household
