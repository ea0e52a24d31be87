"""Reads for alerts: the household's mode, and matching a rule against stored events."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from django.conf import settings

from alerts.matching import Match, Seen, rule_match
from alerts.models import AlertRule, Household, ModeScheduleEntry
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
