"""Grouping detections into events, durably.

One open event per camera: a partial unique constraint makes that hold under concurrent
workers on SQLite and PostgreSQL alike (SQLite ignores select_for_update). An event closes
HOMESEC_EVENT_WINDOW_S after it opened, HOMESEC_EVENT_IDLE_S after its last detection, or
at HOMESEC_EVENT_MAX_DETECTIONS; closing is a row update, so a restart loses nothing.
"""

from __future__ import annotations

import logging
from collections import Counter
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone

from detections.models import Detection
from detections.selectors import detections_ungrouped, ingest_ids_ungrouped
from events.assessment import activity_count_add, assessment_request, assessment_sweep
from events.models import Event
from homesec.core.live import live_publish

logger = logging.getLogger(__name__)


def _window() -> timedelta:
    return timedelta(seconds=settings.EVENT_WINDOW_S)


def _idle() -> timedelta:
    return timedelta(seconds=settings.EVENT_IDLE_S)


def _due(now: datetime) -> Q:
    return Q(started_at__lte=now - _window()) | Q(last_detection_at__lte=now - _idle())


def _close_reason(event: Event, now: datetime) -> str:
    return Event.CloseReason.WINDOW if event.started_at <= now - _window() else Event.CloseReason.IDLE


def event_close(*, event: Event, reason: str, now: datetime) -> bool:
    """Close an open event; False when it was closed already (by another worker)."""
    closed = Event.objects.filter(pk=event.pk, status=Event.Status.OPEN).update(
        status=Event.Status.CLOSED, close_reason=reason, ended_at=now
    )
    if closed:
        assessment_request(event_id=event.pk, now=now)  # the closed event's own assessment
        live_publish(
            stream="events",
            kind="event.closed",
            payload={"event": event.pk, "camera": event.camera_id, "reason": reason},
        )
    return bool(closed)


def event_close_due(*, now: datetime | None = None) -> list[int]:
    """The clock's job: close every open event whose window or idle time has passed."""
    now = now or timezone.now()
    closed: list[int] = []
    for event in Event.objects.filter(_due(now), status=Event.Status.OPEN):
        reason = _close_reason(event, now)
        with transaction.atomic():
            if event_close(event=event, reason=reason, now=now):
                closed.append(event.pk)
    return closed


def _open_event(camera_id: str, now: datetime, *, late: bool) -> Event:
    """The camera's open event, closing an expired one first, or a new one."""
    current = Event.objects.filter(camera_id=camera_id, status=Event.Status.OPEN).first()
    if current is not None:
        if current.started_at > now - _window() and current.last_detection_at > now - _idle():
            return current
        reason = _close_reason(current, now)
        event_close(event=current, reason=reason, now=now)
    # A new event right after one that ended by its window or its size continues it.
    before = (
        Event.objects.filter(camera_id=camera_id, status=Event.Status.CLOSED, ended_at__gte=now - _idle())
        .exclude(close_reason=Event.CloseReason.IDLE)
        .order_by("-ended_at")
        .first()
    )
    if before is not None and hasattr(before, "continuation"):
        before = None
    try:
        with transaction.atomic():
            event = Event.objects.create(
                camera_id=camera_id,
                started_at=now,
                last_detection_at=now,
                previous=before,
                late=late,
                chain_started_at=before.chain_started_at if before else now,
            )
    except IntegrityError:
        # Another worker opened this camera's event a moment ago: join it.
        return Event.objects.get(camera_id=camera_id, status=Event.Status.OPEN)
    activity_count_add(camera=event.camera, moment=now)
    live_publish(stream="events", kind="event.opened", payload={"event": event.pk, "camera": camera_id})
    return event


def event_add_detections(*, ingest_ids: list[int], now: datetime | None = None) -> list[int]:
    """Put the detections of these ingests into their cameras' events. Idempotent: a
    detection already in an event is not added again."""
    now = now or timezone.now()
    late_after = timedelta(minutes=settings.LATE_AFTER_MIN)
    touched: list[int] = []
    detections = detections_ungrouped(ingest_ids=ingest_ids)
    by_camera: dict[str, list[Detection]] = {}
    for detection in detections:
        by_camera.setdefault(detection.camera_id, []).append(detection)
    for camera_id, found in by_camera.items():
        while found:
            with transaction.atomic():
                late = all(d.ingest.arrived_at - d.captured_at > late_after for d in found)
                opened = _open_event(camera_id, now, late=late)
                # Lock it (PostgreSQL; SQLite's IMMEDIATE transactions already serialise),
                # and look again: another worker may have closed it meanwhile.
                event = Event.objects.select_for_update().get(pk=opened.pk)
                if event.status != Event.Status.OPEN:
                    continue
                # Another worker may have grouped some of them since they were read.
                taken = set(
                    Event.detections.through.objects.filter(detection__in=found).values_list("detection_id", flat=True)
                )
                found = [d for d in found if d.pk not in taken]
                if not found:
                    break
                room = settings.EVENT_MAX_DETECTIONS - event.detection_count
                batch, found = found[:room], found[room:]
                _add(event, batch, now)
                touched.append(event.pk)
                sure = any(d.label == "person" and d.confidence >= settings.FAST_PATH_CONFIDENCE for d in batch)
                if sure and not event.late:
                    # Fast path: assess now, in a task of its own; the event stays open and is
                    # assessed again when it closes. Thirty uploads of one scene are one
                    # assessment, and one more if they arrive while it runs.
                    assessment_request(event_id=event.pk, now=now)
    return touched


def _add(event: Event, batch: list[Detection], now: datetime) -> None:
    """Link the batch and count the event again from its links, inside the event's lock: a
    detection two workers both read as ungrouped (the sweep and a late task) is linked and
    counted once."""
    event.detections.add(*batch)
    count = recount(event, last_detection_at=now)
    if count >= settings.EVENT_MAX_DETECTIONS:
        event_close(event=event, reason=Event.CloseReason.FULL, now=now)


def recount(event: Event, **more: Any) -> int:
    """The event's counts, classes, zones and capture times, from the detections it links."""
    linked = list(event.detections.values_list("label", "confidence", "zones", "captured_at"))
    captured = [at for *_, at in linked]
    Event.objects.filter(pk=event.pk).update(
        detection_count=len(linked),
        classes=dict(Counter(label for label, *_ in linked)),
        zones=sorted({zone for _, _, zones, _ in linked for zone in zones}),
        max_confidence=max(confidence for _, confidence, *_ in linked),
        captured_from=min(captured),
        captured_to=max(captured),
        **more,
    )
    return len(linked)


def event_sweep(*, now: datetime | None = None) -> dict[str, int]:
    """Re-send what a lost task left undone: detections that never joined an event, and
    assessments (events/assessment.py assessment_sweep)."""
    now = now or timezone.now()
    stale = now - timedelta(seconds=settings.INGEST_STALE_S)
    orphans = ingest_ids_ungrouped(before=stale)
    if orphans:
        event_add_detections(ingest_ids=orphans, now=now)
    return {"detections": len(orphans), "assessments": assessment_sweep(now=now)}
