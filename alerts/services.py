"""Writes for alerts besides the rule engine (alerts/engine.py) and delivery
(alerts/delivery.py): notification rows, reminders, system alerts (camera offline, low
disk), the lifecycle and the household's mode. The first-run setup (channels declared in
the environment, the default rule) is in alerts/setup.py.

Every notification is a row before its task is sent.
"""

from __future__ import annotations

import logging
import shutil
from collections.abc import Iterable
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from django.conf import settings
from django.contrib.auth.base_user import AbstractBaseUser
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone

from alerts.delivery import NOTIFY_TASK, alert_refresh_state
from alerts.matching import in_quiet_hours
from alerts.models import Alert, AlertRule, CameraSnooze, Channel, Household, MemberProfile, Notification
from alerts.selectors import ALERT_OPEN_STATES, camera_snoozed_until
from cameras.models import Camera
from cameras.selectors import cameras_offline_watched
from events.selectors import level_names
from homesec.core.audit import audit, audit_deleted, audit_saved, audit_target
from homesec.core.live import live_publish
from homesec.core.tasks import enqueue
from monitoring.metrics import metric_inc

logger = logging.getLogger(__name__)

# --- Notifications ------------------------------------------------------------------------


def rule_channels(rule: AlertRule | None) -> list[Channel]:
    """The channels a rule notifies. With no rule (the default was deleted): all of them."""
    if rule is None or rule.all_channels:
        return list(Channel.objects.all())
    return list(rule.channels.all())


def _snoozed_reason(alert: Alert, now: datetime, top_level: str) -> str:
    """The household snoozed the alert's camera: its event alerts are raised and listed but
    notify nobody, except the top level (it breaks through, as in quiet hours). A camera
    gone offline (and every other system alert) is never snoozed."""
    if alert.kind != Alert.Kind.EVENT or not alert.camera_id or alert.severity == top_level:
        return ""
    until = camera_snoozed_until(camera_id=alert.camera_id, now=now)
    return f"snoozed until {snooze_label(until, now=now)}" if until else ""


def snooze_label(until: datetime, *, now: datetime) -> str:
    """HH:MM in the household's zone; the date too when it is not today."""
    zone = ZoneInfo(settings.TIME_ZONE)
    local = until.astimezone(zone)
    if local.date() == now.astimezone(zone).date():
        return f"{local:%H:%M}"
    return f"{local:%a %d %b %H:%M}"


def _skip_reason(channel: Channel, alert: Alert, now: datetime, top_level: str, snoozed: str = "") -> str:
    """Why this channel stays silent for this alert, or ''."""
    if not channel.enabled:
        return f"channel disabled: {channel.disabled_reason or 'by the operator'}"
    if snoozed:
        return snoozed
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


def notifications_create(*, alert: Alert, channels: list[Channel], now: datetime, reminder: int = 0) -> list[int]:
    """A row per channel (skipped ones say why), then one task per pending row."""
    top_level = (level_names() or [""])[-1]
    snoozed = _snoozed_reason(alert, now, top_level)
    rows = []
    for channel in channels:
        skip = _skip_reason(channel, alert, now, top_level, snoozed)
        status = Notification.Status.SKIPPED if skip else Notification.Status.PENDING
        rows.append(
            Notification(
                alert=alert, channel=channel, round=reminder, status=status, error=skip, queued_at=now, created_at=now
            )
        )
    Notification.objects.bulk_create(rows, ignore_conflicts=True)
    pending = list(
        Notification.objects.filter(alert=alert, round=reminder, status=Notification.Status.PENDING).values_list(
            "pk", flat=True
        )
    )
    for pk in pending:  # one task each: a slow channel never holds up the others
        enqueue(NOTIFY_TASK, [pk])
    alert_refresh_state(alert_id=alert.pk)
    return pending


# --- Re-notification ------------------------------------------------------------------------------


def alert_renotify_due(*, now: datetime | None = None) -> int:
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
            notifications_create(alert=alert, channels=channels, now=now, reminder=alert.renotify_count + 1)
            count += 1
    return count


# --- System alerts: a camera gone quiet, the disk filling up ------------------------------------


def system_alert(*, kind: str, key: str, title: str, camera: Camera | None, now: datetime) -> Alert | None:
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
            metric_inc("homesec_alerts_total", {"kind": kind, "severity": severity})
    except IntegrityError:
        return None  # raised a moment ago by another clock
    live_publish(stream="events", kind="alert.fired", payload={"alert": alert.pk, "severity": severity, "title": title})
    return alert


def system_alerts_check(*, now: datetime | None = None) -> list[Alert]:
    """A clock job: one alert per camera outage (cameras with an offline limit) and one a
    day while the data volume has less than HOMESEC_MIN_FREE_GB free. They go to the
    default rule's channels."""
    now = now or timezone.now()
    due: list[tuple[str, str, str, Camera | None]] = []  # (kind, dedup key with its period, title, camera)
    for camera in cameras_offline_watched():
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
    raised = [system_alert(kind=k, key=key, title=t, camera=c, now=now) for k, key, t, c in due]
    return [alert for alert in raised if alert]


# --- Lifecycle ------------------------------------------------------------------------------------


def _alert_close(alert: Alert, *, state: str, stamp: str, user: AbstractBaseUser | None, now: datetime | None) -> bool:
    """An open alert (pending, delivered or failed) is handled: no more reminders."""
    now = now or timezone.now()
    done = Alert.objects.filter(pk=alert.pk, state__in=ALERT_OPEN_STATES).update(
        state=state, handled_by=user, **{stamp: now}
    )
    if done:
        live_publish(stream="events", kind=f"alert.{state}", payload={"alert": alert.pk})
    return bool(done)


def alert_acknowledge(*, alert: Alert, user: AbstractBaseUser | None = None, now: datetime | None = None) -> bool:
    """Seen and taken care of: no more reminders."""
    return _alert_close(alert, state=Alert.State.ACKNOWLEDGED, stamp="acknowledged_at", user=user, now=now)


def alert_dismiss(*, alert: Alert, user: AbstractBaseUser | None = None, now: datetime | None = None) -> bool:
    """Not worth acting on (a false alarm): no more reminders."""
    return _alert_close(alert, state=Alert.State.DISMISSED, stamp="dismissed_at", user=user, now=now)


def alerts_handle(
    *, alert_ids: Iterable[int], action: str, user: AbstractBaseUser | None = None, now: datetime | None = None
) -> int:
    """Acknowledge or dismiss several open alerts at once; returns how many it closed
    (ones handled already, by someone else a moment ago, are left as they are)."""
    close = {"acknowledge": alert_acknowledge, "dismiss": alert_dismiss}[action]
    now = now or timezone.now()
    return sum(close(alert=alert, user=user, now=now) for alert in Alert.objects.filter(pk__in=list(alert_ids)))


# --- Snoozing a camera's notifications ------------------------------------------------------------

SNOOZE_MAX = timedelta(days=31)


def camera_snooze(
    *, camera: Camera, until: datetime, user: AbstractBaseUser | None = None, now: datetime | None = None
) -> CameraSnooze:
    """Hold back the camera's event notifications for the whole household until `until`
    (setting it again moves the end). Alerts are still raised and listed."""
    now = now or timezone.now()
    if until <= now:
        raise ValidationError("The snooze must end in the future.")
    if until - now > SNOOZE_MAX:
        raise ValidationError(f"A snooze lasts at most {SNOOZE_MAX.days} days.")
    snooze, _ = CameraSnooze.objects.update_or_create(
        camera=camera, defaults={"until": until, "set_by": user, "set_at": now}
    )
    live_publish(
        stream="events",
        kind="camera.snoozed",
        payload={"camera": camera.pk, "until": until.isoformat(), "by": user.get_username() if user else ""},
    )
    return snooze


def camera_unsnooze(*, camera: Camera, user: AbstractBaseUser | None = None) -> bool:
    """Notifications of the camera go out again from now on; True when it was snoozed."""
    deleted = CameraSnooze.objects.filter(camera=camera).delete()[0]
    if deleted:
        live_publish(
            stream="events",
            kind="camera.snoozed",
            payload={"camera": camera.pk, "until": None, "by": user.get_username() if user else ""},
        )
    return bool(deleted)


# --- The household ----------------------------------------------------------------------------


def household_get_or_create() -> Household:
    return Household.objects.get_or_create(pk=1)[0]


def household_set_mode(*, mode: str, user: AbstractBaseUser | None = None, now: datetime | None = None) -> Household:
    """Set by hand: holds until the schedule's next switch."""
    household = household_get_or_create()
    with transaction.atomic():
        Household.objects.filter(pk=1).update(
            mode=mode, mode_set_at=now or timezone.now(), mode_set_by=user.get_username() if user else ""
        )
        audit(action="household.mode", target="household", detail={"mode": mode, "was": household.mode}, actor=user)
    household.refresh_from_db()
    return household


def household_default_rule_removed_set(*, removed: bool) -> None:
    """Remembers that the operator deleted the default rule, so the first-run setup does not
    bring it back (alerts/setup.py: default_rule_ensure); unset, it comes back at the next
    start."""
    Household.objects.filter(pk=household_get_or_create().pk).update(default_rule_removed=removed)


# --- Rules and channels, as the console edits them ----------------------------------------------


def alert_rule_save(*, rule: AlertRule, edited: bool) -> AlertRule:
    """A default rule the operator edited is theirs: setup no longer follows
    HOMESEC_ALERT_MIN_LEVEL for it."""
    if edited and rule.managed:
        rule.managed = False
    with transaction.atomic():
        before = AlertRule.objects.filter(pk=rule.pk).first() if rule.pk else None
        rule.save()
        audit_saved(rule, before)
    return rule


def alert_rules_delete(*, rules: Iterable[AlertRule]) -> int:
    """Deleting the default rule is remembered, so the next start does not recreate it."""
    rules = list(rules)
    with transaction.atomic():
        if any(rule.is_default for rule in rules):
            household_default_rule_removed_set(removed=True)
        for rule in rules:
            audit_deleted(rule)
        return AlertRule.objects.filter(pk__in=[rule.pk for rule in rules]).delete()[0]


def channel_secret_set(*, channel: Channel, secret: str | None) -> None:
    """Write-only: a new secret replaces the stored one, None removes it; the caller saves."""
    channel.secrets = {"secret": secret} if secret else {}


def channel_save(*, channel: Channel, new_secret: str = "", clear_secret: bool = False) -> Channel:
    """Store what the console edited. An empty `new_secret` keeps the stored one; an enabled
    channel has no reason to be disabled."""
    if clear_secret or new_secret:
        channel_secret_set(channel=channel, secret=None if clear_secret else new_secret)
    if channel.enabled:
        channel.disabled_reason = ""
    with transaction.atomic():
        before = Channel.objects.filter(pk=channel.pk).first() if channel.pk else None
        channel.save()
        audit_saved(channel, before, secret=["secrets"])  # which secret was set, never its value
    return channel


def channel_enable(*, channel_ids: Iterable[int]) -> int:
    """Back in use, its reason to be disabled cleared. Its failed notifications stay failed
    until the operator replays them (Dead letters)."""
    with transaction.atomic():
        channels = list(Channel.objects.filter(pk__in=list(channel_ids)))
        for channel in channels:
            audit(action="channel.enable", target=audit_target(channel), detail={"enabled": True})
        return Channel.objects.filter(pk__in=[channel.pk for channel in channels]).update(
            enabled=True, disabled_reason=""
        )


def channels_delete(*, channels: Iterable[Channel]) -> int:
    """Deleted from the console or the API; their notifications go with them."""
    channels = list(channels)
    with transaction.atomic():
        for channel in channels:
            audit_deleted(channel)
        return Channel.objects.filter(pk__in=[channel.pk for channel in channels]).delete()[0]
