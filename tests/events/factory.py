"""Rows for the events tests, made directly in the database."""

from datetime import UTC, datetime

from cameras.models import Camera, Ingest
from detections.models import Detection
from events.models import Event

# Tuesday 24 November 2026, 02:00 UTC (03:00 in Berlin): night.
AT = datetime(2026, 11, 24, 2, 0, tzinfo=UTC)


def closed_event() -> Event:
    """A closed event at the front door (camera "door", Europe/Berlin) at AT: one person at
    0.91 in the entry zone "porch", from one done upload."""
    camera = Camera.objects.create(id="door", name="Front Door", folder="door", time_zone="Europe/Berlin")
    ingest = Ingest.objects.create(
        camera=camera, path="door/a.jpg", size=1, mtime_ns=1, status="done", arrived_at=AT, queued_at=AT, captured_at=AT
    )
    detection = Detection.objects.create(
        camera=camera,
        ingest=ingest,
        captured_at=AT,
        label="person",
        confidence=0.91,
        x=10,
        y=20,
        width=30,
        height=60,
        frame_width=640,
        frame_height=360,
        zones=["porch"],
        zone_kinds=["entry"],
    )
    event = Event.objects.create(
        camera=camera,
        started_at=AT,
        last_detection_at=AT,
        chain_started_at=AT,
        detection_count=1,
        classes={"person": 1},
        max_confidence=0.91,
        status="closed",
    )
    event.detections.add(detection)
    return event
