"""Reads for alerts: the household's mode, and matching a rule against stored events."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from django.conf import settings
from django.db.models import Prefetch, Q, QuerySet

from alerts.matching import Match, Seen, rule_match
from alerts.models import Alert, AlertCheck, AlertRule, CameraSnooze, Household, ModeScheduleEntry, Notification
from cameras.models import Camera
from events.models import Event
from events.selectors import level_names


@dataclass(frozen=True)
class ModeNow:
    mode: str
    source: str  # why: set by hand (by whom, when), or the schedule entry


def _last_switch(entry: ModeScheduleEntry, now_local: datetime) -> datetime | None:
    """When this schedule entry last switched the mode, at or before now."""
    for days_back in range(8):
        day = (now_local - timedelta(days=days_back)).date()
        if entry.days and day.weekday() not in entry.days:
            continue
        moment = datetime.combine(day, entry.at, tzinfo=now_local.tzinfo)
        if moment <= now_local:
            return moment
    return None


def household_mode(*, now: datetime) -> ModeNow:
    """The mode set by hand holds until the schedule's next switch; the latest wins."""
    household = Household.objects.filter(pk=1).first()
    local = now.astimezone(ZoneInfo(settings.TIME_ZONE))
    switches = [
        (moment, entry)
        for entry in ModeScheduleEntry.objects.filter(enabled=True)
        if (moment := _last_switch(entry, local))
    ]
    scheduled = max(switches, key=lambda pair: pair[0], default=None)
    manual_at = household.mode_set_at if household else None
    if scheduled and (manual_at is None or scheduled[0] > manual_at):
        return ModeNow(scheduled[1].mode, f"schedule: {scheduled[1]}")
    if household is None:
        return ModeNow("home", "the default")
    who = f" by {household.mode_set_by}" if household.mode_set_by else ""
    return ModeNow(household.mode, f"set by hand{who}" if manual_at else "the default")


def event_seen(event: Event) -> list[Seen]:
    """The event's detections as the rules see them, the most confident first."""
    rows = event.detections.order_by("-confidence").values_list("label", "confidence", "zones")
    return [Seen(label, confidence, tuple(zones or ())) for label, confidence, zones in rows]


def event_moment(event: Event) -> datetime:
    """When it happened, in the camera's time zone (as the assessment reads it)."""
    return (event.captured_to or event.last_detection_at).astimezone(event.camera.zoneinfo)


def rule_match_event(
    rule: AlertRule, event: Event, *, mode: str, levels: list[str], seen: list[Seen] | None = None
) -> Match:
    zone_names: dict[str, set[str]] = {}
    for zone in rule.zones.all():
        zone_names.setdefault(zone.camera_id, set()).add(zone.name)
    return rule_match(
        rule,
        camera_id=event.camera_id,
        score=event.risk_score or 0,
        level=event.risk_level,
        levels=levels,
        local=event_moment(event),
        mode=mode,
        seen=event_seen(event) if seen is None else seen,
        camera_ids={camera.pk for camera in rule.cameras.all()},
        zone_names=zone_names,
    )


def rule_test_against_events(*, rule: AlertRule, count: int, now: datetime) -> tuple[ModeNow, list[dict]]:
    """Would the rule match the last `count` assessed events, and why (or why not)? The
    mode is today's: what mode the household was in back then is not recorded."""
    mode, levels = household_mode(now=now), level_names()
    rows = []
    events = Event.objects.select_related("camera").exclude(risk_score=None).order_by("-started_at")[:count]
    for event in events:
        match = rule_match_event(rule, event, mode=mode.mode, levels=levels)
        rows.append(
            {
                "event": event,
                "moment": event_moment(event),
                "matched": match.ok,
                "why": "; ".join(match.reasons) if match.ok else match.failed,
                "late": event.late,
            }
        )
    return mode, rows


# --- The alerts page: open alerts, the history, snoozes ------------------------------------------

# Open: nobody has acknowledged or dismissed it yet. The one spelling of it (pages, API, services, delivery).
ALERT_OPEN_STATES = (Alert.State.PENDING, Alert.State.DELIVERED, Alert.State.FAILED)
ALERT_HANDLED_STATES = (Alert.State.ACKNOWLEDGED, Alert.State.DISMISSED)
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _with_delivery(alerts: QuerySet[Alert]) -> QuerySet[Alert]:
    """Each alert with its camera, event and who handled it, and every notification with
    its channel and attempts: three queries however many alerts."""
    notifications = (
        Notification.objects.select_related("channel").prefetch_related("attempt_log").order_by("round", "pk")
    )
    return alerts.select_related("camera", "event", "handled_by").prefetch_related(
        Prefetch("notifications", queryset=notifications)
    )


@dataclass(frozen=True)
class AlertsOpen:
    alerts: list[Alert]
    more: bool  # there are more open alerts than the page shows


def alert_list_open(*, limit: int = 200) -> AlertsOpen:
    """Alerts nobody has acknowledged or dismissed yet, newest first."""
    rows = list(
        _with_delivery(Alert.objects.filter(state__in=ALERT_OPEN_STATES)).order_by("-created_at", "-pk")[: limit + 1]
    )
    return AlertsOpen(rows[:limit], len(rows) > limit)


@dataclass(frozen=True)
class AlertHistoryPage:
    alerts: list[Alert]
    older: str  # the cursor of the next (older) page; "" on the last one


def _cursor(alert: Alert) -> str:
    return f"{(alert.created_at - _EPOCH) // timedelta(microseconds=1)}.{alert.pk}"


def _cursor_parse(cursor: str) -> tuple[datetime, int] | None:
    micros, _, pk = cursor.partition(".")
    try:
        return _EPOCH + timedelta(microseconds=int(micros)), int(pk)
    except (ValueError, OverflowError):
        return None


def alert_history_page(*, cursor: str = "", size: int = 25) -> AlertHistoryPage:
    """Handled alerts (acknowledged or dismissed), newest first, a page at a time. The
    cursor is the last row's (created_at, id): a page costs the same however deep it is."""
    query = Alert.objects.filter(state__in=ALERT_HANDLED_STATES)
    position = _cursor_parse(cursor) if cursor else None
    if position:
        at, pk = position
        query = query.filter(Q(created_at__lt=at) | Q(created_at=at, pk__lt=pk))
    rows = list(_with_delivery(query).order_by("-created_at", "-pk")[: size + 1])
    return AlertHistoryPage(rows[:size], _cursor(rows[size - 1]) if len(rows) > size else "")


def alert_get_for_action(*, alert_id: int) -> Alert | None:
    """The alert an action link names, with what its page shows."""
    return Alert.objects.select_related("camera", "event", "handled_by").filter(pk=alert_id).first()


def camera_snooze_ends(*, now: datetime, camera_id: str | None = None) -> dict[str, datetime]:
    """`{camera_id: when its snooze ends}` for every camera snoozed now (only `camera_id`'s
    when given): the one read of which cameras are snoozed."""
    query = CameraSnooze.objects.filter(until__gt=now)
    if camera_id is not None:
        query = query.filter(camera_id=camera_id)
    return dict(query.values_list("camera_id", "until"))


def camera_snoozed_until(*, camera_id: str, now: datetime) -> datetime | None:
    """When the camera's snooze ends, if it is snoozed now."""
    return camera_snooze_ends(now=now, camera_id=camera_id).get(camera_id)


def camera_snoozes_active(*, now: datetime) -> list[CameraSnooze]:
    """Every snooze still running with its camera and who set it, the one ending first first."""
    return list(CameraSnooze.objects.filter(until__gt=now).select_related("camera", "set_by").order_by("until"))


def cameras_with_snooze(
    *, now: datetime, snoozes: list[CameraSnooze] | None = None
) -> list[tuple[Camera, datetime | None]]:
    """Every camera with the end of its snooze (None: not snoozed), for the snooze controls.
    `snoozes`: camera_snoozes_active() where the caller has them already."""
    until = camera_snooze_ends(now=now) if snoozes is None else {s.camera_id: s.until for s in snoozes}
    return [(camera, until.get(camera.pk)) for camera in Camera.objects.order_by("name")]


def camera_for_snooze(*, camera_id: str) -> Camera | None:
    return Camera.objects.filter(pk=camera_id).first()


def alert_checks_for_event(*, event_id: int) -> list[AlertCheck]:
    """Each assessment's rule check of the event, the newest first: per rule whether it
    fired, was suppressed (and why), did not match (and which condition failed), or was off."""
    return list(AlertCheck.objects.filter(event_id=event_id).order_by("-seq", "-pk"))


def alerts_open_count() -> int:
    """Alerts nobody has acknowledged or dismissed yet (pending, delivered or failed)."""
    return Alert.objects.filter(state__in=ALERT_OPEN_STATES).count()
