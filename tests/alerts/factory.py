"""Assessed events made directly in the database, as the assessment leaves them."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from itertools import count

from django.db.models import F

from alerts.models import Channel
from cameras.models import Camera, Ingest, Zone
from detections.models import Detection
from events.models import Event
from events.selectors import risk_level_for

# Friday 27 November 2026, 12:00 UTC (13:00 in Berlin).
FRIDAY_NOON = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)
_n = count(1)


def camera(pk: str = "front_door", tz: str = "Europe/Berlin") -> Camera:
    cam, _ = Camera.objects.get_or_create(pk=pk, defaults={"name": pk.replace("_", " ").title(), "folder": pk})
    if cam.time_zone != tz:
        Camera.objects.filter(pk=pk).update(time_zone=tz)
        cam.refresh_from_db()
    return cam


def zone(camera_id: str, name: str, kind: str = "other") -> Zone:
    return Zone.objects.get_or_create(
        camera=camera(camera_id), name=name, defaults={"kind": kind, "polygon": [[0, 0], [1, 0], [1, 1]]}
    )[0]


def assessed_event(
    *,
    at: datetime = FRIDAY_NOON,
    cam: str = "front_door",
    tz: str = "Europe/Berlin",
    score: int = 72,
    seen=(("person", 0.93, ("driveway",)),),
    late: bool = False,
    state: str = "assessed",
    thumbnail: str = "",
) -> Event:
    """An event of `cam` at `at` with one detection per (label, confidence, zones),
    assessed once with `score`."""
    n = next(_n)
    ingest = Ingest.objects.create(
        camera=camera(cam, tz),
        path=f"{cam}/{n}.jpg",
        size=1,
        mtime_ns=n,
        status="done",
        arrived_at=at,
        queued_at=at,
        captured_at=at,
    )
    detections = Detection.objects.bulk_create(
        [
            Detection(
                camera_id=cam,
                ingest=ingest,
                captured_at=at,
                label=label,
                confidence=confidence,
                x=100,
                y=50,
                width=80,
                height=160,
                frame_width=640,
                frame_height=360,
                zones=list(zones),
                thumbnail=thumbnail,
            )
            for label, confidence, zones in seen
        ]
    )
    event = Event.objects.create(
        camera_id=cam,
        started_at=at,
        last_detection_at=at,
        chain_started_at=at,
        captured_from=at,
        captured_to=at,
        detection_count=len(detections),
        classes={label: 1 for label, _, _ in seen},
        max_confidence=max((c for _, c, _ in seen), default=0),
        late=late,
        status="closed",
        close_reason="idle",
        ended_at=at,
    )
    event.detections.add(*detections)
    return reassess(event, score=score, state=state, at=at)


def reassess(event: Event, *, score: int, state: str = "assessed", at: datetime | None = None) -> Event:
    """A new assessment of the event, as events.assessment.event_assess writes it."""
    Event.objects.filter(pk=event.pk).update(
        risk_score=score,
        risk_level=risk_level_for(score),
        assessment_state=state,
        analyzer="rules",
        summary=f"A person seen by {event.camera_id}.",
        reasoning="person: +25",
        assessed_at=at or event.last_detection_at,
        assessment_seq=F("assessment_seq") + 1,
    )
    event.refresh_from_db()
    return event


def webhook_channel(url: str, name: str = "hook", **fields) -> Channel:
    return Channel.objects.create(
        name=name, kind="webhook", config={"url": url}, secrets={"secret": "s3cret-for-tests"}, **fields
    )


def later(at: datetime, seconds: float) -> datetime:
    return at + timedelta(seconds=seconds)
