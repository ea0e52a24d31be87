"""Writes on events besides grouping and assessing them (events/grouping.py,
events/assessment.py): the household's review, deleting, and taking in the deletion of
uploads."""

from __future__ import annotations

from django.db import transaction

from detections.models import Detection
from detections.services import detections_delete
from events.grouping import recount
from events.models import Event

REVIEW_FIELDS = ("reviewed", "review_notes", "feedback", "expected_level")


def event_review(*, event: Event, **review: object) -> Event:
    """Store the household's review of an event (any of REVIEW_FIELDS). Only those columns
    are written: the pipeline may re-assess the event while the review is being saved."""
    unknown = set(review) - set(REVIEW_FIELDS)
    if unknown:
        raise ValueError(f"not review fields: {', '.join(sorted(unknown))}")
    for name, value in review.items():
        setattr(event, name, value)
    event.save(update_fields=list(review))
    return event


def event_delete(*, event: Event) -> None:
    """Delete an event with its detections and their thumbnails. Its alerts stay, with their
    dedup keys (so the camera's next event is still held to the cooldown), and so do the
    uploads' ingest rows (they keep a rescan from taking the files again): none of its
    detections can come back as a new event."""
    with transaction.atomic():
        detections_delete(detections=Detection.objects.filter(events=event))
        event.delete()


def events_unlink_ingests(*, ingest_ids: list[int]) -> None:
    """Deleted uploads leave their events (cameras/signals.py): each event counts again from
    what it still holds, and one left with nothing goes (its alerts stay on record)."""
    links = Event.detections.through.objects.filter(detection__ingest_id__in=ingest_ids)
    event_ids = set(links.values_list("event_id", flat=True))
    links.delete()
    for event in Event.objects.select_for_update().filter(pk__in=event_ids):
        if event.detections.exists():
            recount(event)
        else:
            event.delete()
