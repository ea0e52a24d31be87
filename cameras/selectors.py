"""Reads of cameras for the other apps, the pages and the API."""

from __future__ import annotations

from datetime import datetime
from typing import cast

from django.db.models import Count, F, FilteredRelation, Model, OuterRef, Q, QuerySet, Subquery
from django.db.models.functions import Coalesce

from cameras.models import Camera, FtpAccount, Ingest, Zone


def camera_names() -> dict[str, str]:
    """Every camera's name by its id."""
    return dict(Camera.objects.values_list("pk", "name"))


def cameras_offline_watched() -> QuerySet[Camera]:
    """Cameras that are offline and have an offline limit (so an outage is worth an alert)."""
    return Camera.objects.filter(status=Camera.Status.OFFLINE, offline_after_min__isnull=False)


def _accepted(camera_id: str | OuterRef) -> QuerySet[Ingest]:
    """A camera's accepted uploads (checked, not a duplicate), the newest first."""
    return Ingest.objects.filter(
        camera_id=camera_id, status=Ingest.Status.DONE, media_type__in=("image", "video")
    ).order_by("-arrived_at", "-pk")


def camera_list_with_latest(*, camera_ids: list[str] | None = None) -> list[Camera]:
    """Cameras by name, each with `latest_ingest_id` (its newest accepted upload) and its
    open event's `open_event_id`, `open_risk_score` and `open_risk_level` (a camera has at
    most one open event): one query, whatever the number of cameras."""
    cameras = Camera.objects.annotate(
        latest_ingest_id=Subquery(_accepted(OuterRef("pk")).values("pk")[:1]),
        open_event=FilteredRelation("events", condition=Q(events__status="open")),
        open_event_id=F("open_event__id"),
        open_risk_score=F("open_event__risk_score"),
        open_risk_level=F("open_event__risk_level"),
        open_started_at=F("open_event__started_at"),
    )
    if camera_ids is not None:
        cameras = cameras.filter(pk__in=camera_ids)
    return list(cameras.order_by("name", "pk"))


def _count_since(relation: str, field: str, since: datetime) -> Coalesce:
    """How many rows of a table that points at cameras (events, detections) each camera has
    from `since` on, as a subquery of the camera's row."""
    model = cast(type[Model], Camera._meta.get_field(relation).related_model)
    rows = (
        model._default_manager.filter(camera=OuterRef("pk"), **{f"{field}__gte": since})
        .order_by()
        .values("camera")
        .annotate(n=Count("pk"))
        .values("n")
    )
    return Coalesce(Subquery(rows), 0)


def camera_list_with_counts(*, since: datetime) -> list[Camera]:
    """Cameras by name with `events_count` (events started) and `detections_count`
    (objects captured) since `since`: one query."""
    return list(
        Camera.objects.annotate(
            events_count=_count_since("events", "started_at", since),
            detections_count=_count_since("detections", "captured_at", since),
        ).order_by("name", "pk")
    )


def camera_get(*, camera_id: str) -> Camera | None:
    return Camera.objects.filter(pk=camera_id).first()


def camera_get_with_latest(*, camera_id: str) -> Camera | None:
    cameras = camera_list_with_latest(camera_ids=[camera_id])
    return cameras[0] if cameras else None


def ingests_latest_accepted(*, camera_id: str, limit: int = 5) -> list[Ingest]:
    """The camera's newest accepted uploads: what its latest image is made from."""
    return list(_accepted(camera_id)[:limit])


def camera_ftp_account(*, camera_id: str) -> FtpAccount | None:
    return FtpAccount.objects.filter(camera_id=camera_id).first()


def zone_list_for_camera(*, camera_id: str) -> list[Zone]:
    return list(Zone.objects.filter(camera_id=camera_id).order_by("name"))


def zone_get(*, camera_id: str, zone_id: int) -> Zone | None:
    return Zone.objects.filter(camera_id=camera_id, pk=zone_id).first()
