"""Reads of detections for the other stages, the pages and the API: grouping takes the
detections no event holds yet, notifications and pages show an event's key frames."""

from __future__ import annotations

from datetime import datetime

from django.db.models import QuerySet

from detections.models import Detection


def detections_ungrouped(*, ingest_ids: list[int]) -> QuerySet[Detection]:
    """These uploads' detections that no event holds yet, in the order they arrived."""
    return (
        Detection.objects.filter(ingest_id__in=ingest_ids, events__isnull=True)
        .select_related("ingest")
        .order_by("ingest__arrived_at", "pk")
    )


def ingest_ids_ungrouped(*, before: datetime, limit: int = 1000) -> list[int]:
    """Uploads with detections that no event took before `before`: a lost grouping task."""
    return list(
        Detection.objects.filter(events__isnull=True, created_at__lt=before)
        .values_list("ingest_id", flat=True)
        .distinct()[:limit]
    )


def detection_key_frames(*, event_id: int, limit: int) -> list[Detection]:
    """An event's pictures, the most confident detection of each first: one per picture."""
    frames: list[Detection] = []
    seen: set[str] = set()
    for detection in Detection.objects.filter(events=event_id).exclude(thumbnail="").order_by("-confidence"):
        if detection.thumbnail not in seen:
            seen.add(detection.thumbnail)
            frames.append(detection)
        if len(frames) == limit:
            break
    return frames


def detection_thumbnail(*, detection_id: int | None) -> str:
    """The thumbnail's path under MEDIA_ROOT, or '' where there is none."""
    if detection_id is None:
        return ""
    return Detection.objects.filter(pk=detection_id).values_list("thumbnail", flat=True).first() or ""
