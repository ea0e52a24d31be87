"""Writes on events besides grouping and assessing them (events/grouping.py,
events/assessment.py): the household's review, deleting, and taking in the deletion of
uploads."""

from __future__ import annotations

from collections.abc import Iterable

from django.contrib.auth.base_user import AbstractBaseUser
from django.contrib.auth.models import AnonymousUser
from django.db import transaction
from django.utils import timezone

from detections.models import Detection
from detections.services import detections_delete
from events.assessment import assessment_request
from events.grouping import recount
from events.models import Event
from homesec.core.audit import audit
from homesec.core.live import live_publish

REVIEW_FIELDS = ("reviewed", "review_notes", "feedback", "expected_level")
# What one bulk review may name: more than any timeline page shows.
BULK_REVIEW_MAX = 500


def _reviewer(user: AbstractBaseUser | AnonymousUser | None) -> AbstractBaseUser | None:
    return user if isinstance(user, AbstractBaseUser) and user.is_authenticated else None


def event_review(*, event: Event, by: AbstractBaseUser | AnonymousUser | None = None, **review: object) -> Event:
    """Store the household's review of an event (any of REVIEW_FIELDS). Only those columns
    are written: the pipeline may re-assess the event while the review is being saved.
    Marking it reviewed stamps when and by whom; marking it unreviewed clears both."""
    unknown = set(review) - set(REVIEW_FIELDS)
    if unknown:
        raise ValueError(f"not review fields: {', '.join(sorted(unknown))}")
    fields = dict(review)
    if "reviewed" in review and bool(review["reviewed"]) != event.reviewed:
        fields["reviewed_at"] = timezone.now() if review["reviewed"] else None
        fields["reviewed_by"] = _reviewer(by) if review["reviewed"] else None
    for name, value in fields.items():
        setattr(event, name, value)
    event.save(update_fields=list(fields))
    live_publish(stream="events", kind="event.reviewed", payload={"events": [event.pk], "reviewed": event.reviewed})
    return event


def events_mark_reviewed(*, event_ids: Iterable[int], user: AbstractBaseUser | AnonymousUser | None) -> int:
    """Mark exactly these events reviewed, in one UPDATE (those reviewed already keep their
    stamp). Returns how many changed."""
    ids = sorted({int(pk) for pk in event_ids})
    if not ids:
        return 0
    if len(ids) > BULK_REVIEW_MAX:
        raise ValueError(f"at most {BULK_REVIEW_MAX} events at once")
    with transaction.atomic():
        changed = Event.objects.filter(pk__in=ids, reviewed=False).update(
            reviewed=True, reviewed_at=timezone.now(), reviewed_by=_reviewer(user)
        )
        if changed:
            live_publish(stream="events", kind="event.reviewed", payload={"events": ids, "reviewed": True})
    return changed


def event_reassess(*, event_id: int) -> None:
    """Someone asked for the event to be assessed again (the event's page): recorded in the
    audit log, since it may change its level and raise alerts."""
    with transaction.atomic():
        assessment_request(event_id=event_id, alert=False)
        audit(action="event.reassess", target=f"event {event_id}")


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
