"""What retention selects, pass by pass (monitoring/retention/__init__.py says the order),
each selection in terms of the ones before it."""

from __future__ import annotations

from datetime import datetime, timedelta

from django.conf import settings
from django.db.models import Exists, OuterRef, Q, QuerySet

from alerts.models import Alert, Notification
from cameras.models import Ingest
from detections.models import Clip, Detection, DetectionRun
from events.models import Event
from events.selectors import level_names

S = Ingest.Status
IN_FLIGHT = (S.PENDING, S.PROCESSING)
MEDIA_PRESENT = (S.DONE, S.FAILED, S.REJECTED, S.DUPLICATE)
REFUSED = (S.REJECTED, S.DUPLICATE)
UNSENT = (Notification.Status.PENDING, Notification.Status.SENDING)
Links = Event.detections.through

# `applied`: the earlier passes are done (a real run), so a simpler query selects the same
# rows (a detection in no event, rather than in no event that stays). A dry run, which
# changes nothing, needs the full one.


def days_ago(name: str, now: datetime) -> datetime:
    return now - timedelta(days=getattr(settings, name))


def important(now: datetime, prefix: str = "") -> Q:
    """Unreviewed events at one of the top two levels, younger than HOMESEC_KEEP_IMPORTANT_DAYS."""
    return Q(
        **{
            f"{prefix}reviewed": False,
            f"{prefix}risk_level__in": level_names()[-2:],
            f"{prefix}started_at__gte": days_ago("KEEP_IMPORTANT_DAYS", now),
        }
    )


def events_expired(now: datetime) -> QuerySet[Event]:
    return Event.objects.filter(
        status=Event.Status.CLOSED, ended_at__lt=days_ago("RETAIN_EVENTS_DAYS", now), assess_step=Event.Step.IDLE
    ).exclude(important(now))


def detections_expired(now: datetime, applied: bool = False) -> QuerySet[Detection]:
    held = Links.objects.filter(detection_id=OuterRef("pk"))
    if not applied:
        held = held.exclude(event_id__in=events_expired(now).values("pk"))
    return (
        Detection.objects.filter(created_at__lt=days_ago("RETAIN_EVENTS_DAYS", now))
        .exclude(Exists(held))
        .exclude(ingest__status__in=IN_FLIGHT)
    )


def alerts_expired(now: datetime, applied: bool = False) -> QuerySet[Alert]:
    """Handled or delivered alerts of the events' age, whose event goes (or went)."""
    event_gone = Q(event__isnull=True) if applied else Q(event__isnull=True) | Q(event__in=events_expired(now))
    return (
        Alert.objects.filter(event_gone, created_at__lt=days_ago("RETAIN_EVENTS_DAYS", now))
        .exclude(state=Alert.State.PENDING)
        .exclude(Exists(Notification.objects.filter(alert_id=OuterRef("pk"), status__in=UNSENT)))
    )


def notifications_expired(now: datetime, applied: bool = False) -> QuerySet[Notification]:
    # Those of expiring alerts go with their alert (so a dry run counts each once).
    return (
        Notification.objects.filter(created_at__lt=days_ago("RETAIN_DELIVERIES_DAYS", now))
        .exclude(status__in=UNSENT)
        .exclude(alert_id__in=alerts_expired(now, applied).values("pk"))
    )


def _ingest_in_flight() -> Q:
    return (
        Q(status__in=IN_FLIGHT)
        | Q(status=S.DONE, handed_off_at__isnull=True)
        | Q(Exists(DetectionRun.objects.filter(ingest_id=OuterRef("pk"), status__in=("pending", "running"))))
        | Q(Exists(Clip.objects.filter(ingest_id=OuterRef("pk"), transcode__in=("pending", "running"))))
    )


def _without_kept_detections(ingests: QuerySet[Ingest], now: datetime, applied: bool) -> QuerySet[Ingest]:
    kept = Detection.objects.filter(ingest_id=OuterRef("pk"))
    if not applied:
        kept = kept.exclude(pk__in=detections_expired(now).values("pk"))
    return ingests.exclude(Exists(kept)).exclude(_ingest_in_flight())


def ingest_rows_expired(now: datetime, applied: bool = False) -> QuerySet[Ingest]:
    """Rows that may go once their file is seen gone (checked on disk, row by row)."""
    refused = Q(status__in=REFUSED, arrived_at__lt=days_ago("RETAIN_REFUSED_DAYS", now))
    return _without_kept_detections(Ingest.objects.filter(Q(status=S.DELETED) | refused), now, applied)


def uploads_expired(now: datetime, applied: bool = False) -> QuerySet[Ingest]:
    old = Ingest.objects.filter(status__in=MEDIA_PRESENT, arrived_at__lt=days_ago("RETAIN_EVENTS_DAYS", now))
    return _without_kept_detections(old, now, applied)


def budget_candidates(now: datetime) -> QuerySet[Ingest]:
    """Uploads with media, oldest first, each with why it must stay (if it must). (A dry
    run passes over the ones its earlier passes took by their ids: a query made of theirs
    would cost a pass over the table a page.)"""
    links = Links.objects.filter(detection__ingest_id=OuterRef("pk"))
    return (
        Ingest.objects.filter(status__in=MEDIA_PRESENT)
        .select_related("camera")
        .annotate(
            # Its own work, detections not grouped into an event yet, or a notification still
            # to send (it may attach a thumbnail).
            in_flight=Exists(
                Ingest.objects.filter(
                    _ingest_in_flight()
                    | Q(Exists(Detection.objects.filter(ingest_id=OuterRef("pk"), events__isnull=True)))
                    | Q(Exists(links.filter(event__alerts__notifications__status__in=UNSENT))),
                    pk=OuterRef("pk"),
                )
            ),
            open_event=Exists(links.filter(Q(event__status=Event.Status.OPEN) | ~Q(event__assess_step=""))),
            important=Exists(links.filter(important(now, "event__"))),
        )
        .order_by("arrived_at", "pk")
    )
