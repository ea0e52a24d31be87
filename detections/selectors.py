"""Reads of detections for the other stages, the pages and the API: grouping takes the
detections no event holds yet, notifications and pages show an event's key frames."""

from __future__ import annotations

from datetime import datetime
from pathlib import PurePosixPath
from typing import Literal

from django.conf import settings
from django.db.models import Q, QuerySet

from cameras.models import Ingest
from detections.media import MediaFile, content_type_for
from detections.models import Clip, Detection


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


# --- Media for the pages (detections/views.py): found by id, never by a path from a request ---


def detection_still(*, detection_id: int, kind: Literal["preview", "thumbnail"]) -> MediaFile | None:
    """A detection's clean preview or its thumbnail with the boxes drawn in."""
    row = Detection.objects.filter(pk=detection_id).values_list(kind, "camera_id").first()
    if row is None or not row[0]:
        return None
    relative, camera_id = row
    return MediaFile(settings.MEDIA_ROOT, relative, "image/jpeg", f"{camera_id}-{detection_id}-{kind}.jpg")


def _ingest(ingest_id: int) -> Ingest | None:
    return Ingest.objects.exclude(status=Ingest.Status.DELETED).filter(pk=ingest_id).first()


def _original_media(ingest: Ingest | None) -> MediaFile | None:
    if ingest is None or not ingest.media_type:
        return None
    name = PurePosixPath(ingest.path).name
    return MediaFile(settings.CAMERA_ROOT, ingest.path, content_type_for(ingest.media_format or name), name)


def ingest_original(*, ingest_id: int) -> MediaFile | None:
    """The upload as the camera sent it (under the camera root)."""
    return _original_media(_ingest(ingest_id))


def ingest_clip_playable(*, ingest_id: int) -> MediaFile | None:
    """A clip as a browser plays it: the H.264 copy once made, else the upload itself
    (already playable, or the best there is while the copy is made)."""
    ingest = _ingest(ingest_id)
    if ingest is None or ingest.media_type != "video":
        return None
    copy = Clip.objects.filter(ingest_id=ingest_id, transcode=Clip.Transcode.DONE).values_list("playable", flat=True)
    playable = copy.first()
    if playable:
        name = f"{PurePosixPath(ingest.path).stem}.mp4"
        return MediaFile(settings.MEDIA_ROOT, playable, "video/mp4", name)
    return _original_media(ingest)  # the row read above: not a second read of it


def detections_pictured(*, ingest_id: int) -> list[Detection]:
    """The detections of the frame an upload's latest image shows: all of a photo's; of a
    clip, those of its first frame (the image is that frame: boxes found seconds later
    would frame something that is not in it)."""
    pictured = Q(frame_offset_s__isnull=True) | Q(frame_offset_s=0)
    return list(Detection.objects.filter(pictured, ingest_id=ingest_id, frame_width__gt=0, frame_height__gt=0))
