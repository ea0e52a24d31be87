"""Assessing events: facts from the database, a verdict from an analyzer, stored with its
provenance. The level always comes from the severity table when a score is written."""

from __future__ import annotations

import time
from zoneinfo import ZoneInfo

from django.conf import settings
from django.db.models import F
from django.utils import timezone

from cameras.models import Camera
from events.analyzers import rules
from events.models import ActivityCount, Event, SeverityLevel
from homesec.core.live import live_publish

ASSESS_TASK = "events.tasks.event_assess"


def hour_of_week(moment, tz: ZoneInfo) -> int:
    local = moment.astimezone(tz)
    return local.weekday() * 24 + local.hour


def _zone(camera: Camera) -> ZoneInfo:
    try:
        return ZoneInfo(camera.time_zone)
    except Exception:  # noqa: BLE001 - a bad zone in the console must not stop assessments
        return ZoneInfo(settings.TIME_ZONE)


def activity_count_add(*, camera: Camera, moment) -> None:
    """Count one event at this hour of the week for the camera (its usual activity)."""
    how = hour_of_week(moment, _zone(camera))
    row, _ = ActivityCount.objects.get_or_create(camera=camera, hour_of_week=how)
    ActivityCount.objects.filter(pk=row.pk).update(count=F("count") + 1)


def risk_level_for(score: int) -> str:
    level = SeverityLevel.objects.filter(min_score__lte=score).order_by("-min_score").first()
    return level.name if level else "low"


def event_facts(event: Event) -> rules.Facts:
    camera = event.camera
    tz = _zone(camera)
    moment = event.captured_to or event.last_detection_at
    counted = ActivityCount.objects.filter(camera=camera, hour_of_week=hour_of_week(moment, tz)).first()
    zone_kinds = {kind for kinds in event.detections.values_list("zone_kinds", flat=True) for kind in kinds}
    return rules.Facts(
        classes=dict(event.classes),
        max_confidence=event.max_confidence,
        local_hour=moment.astimezone(tz).hour,
        zone_kinds=zone_kinds,
        dwell_s=(event.last_detection_at - event.chain_started_at).total_seconds(),
        history_days=(timezone.now() - camera.created_at).total_seconds() / 86400,
        # This event is counted already: "usual" means other events at this hour.
        hour_count=max(0, (counted.count if counted else 0) - 1),
    )


def event_assess(*, event_id: int) -> Event | None:
    event = Event.objects.select_related("camera").filter(pk=event_id).first()
    if event is None or not event.detection_count:
        return None
    started = time.perf_counter()
    verdict = rules.assess(event_facts(event))
    labels = ", ".join(f"{n} {c}" for c, n in sorted(event.classes.items(), key=lambda kv: -kv[1]))
    fields = {
        "risk_score": verdict.score,
        "risk_level": risk_level_for(verdict.score),
        "summary": f"{labels} seen by {event.camera.name}" + (" (still going on)" if event.status == "open" else ""),
        "reasoning": verdict.reasoning,
        "recommended_action": "Look at the snapshots." if verdict.score >= 60 else "No action needed.",
        "analyzer": "rules",
        "assessment_state": Event.Assessment.ASSESSED,
        "provenance": {
            "analyzer": "rules",
            "weights": rules.WEIGHTS,
            "latency_ms": round((time.perf_counter() - started) * 1000, 2),
        },
        "assessed_at": timezone.now(),
    }
    Event.objects.filter(pk=event.pk).update(**fields)
    live_publish(
        stream="events",
        kind="event.assessed",
        payload={
            "event": event.pk,
            "camera": event.camera_id,
            "risk_score": verdict.score,
            "risk_level": fields["risk_level"],
        },
    )
    for name, value in fields.items():
        setattr(event, name, value)
    return event
