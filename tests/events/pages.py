"""Events with pictures for the page tests, made directly in the database as the pipeline
leaves them: uploads, detections with their clean previews and thumbnails (real JPEG files
under the media root when one is given), clips, and the event with its assessment."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from itertools import count
from pathlib import Path

import cv2
import numpy as np

from cameras.models import Camera, Ingest
from detections.backends.base import Box
from detections.models import Clip, Detection
from detections.thumbnails import write_preview, write_thumbnail
from events.models import Event
from events.selectors import risk_level_for

# Friday 27 November 2026, 12:00 UTC.
NOON = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)
_n = count(1)


def camera(pk: str = "front_door", tz: str = "Europe/Berlin") -> Camera:
    return Camera.objects.get_or_create(
        pk=pk, defaults={"name": pk.replace("_", " ").title(), "folder": pk, "time_zone": tz}
    )[0]


def frame(width: int = 1280, height: int = 720, seed: int = 0) -> np.ndarray:
    """A picture with some structure (gradients and a few shapes), so a drawn box shows."""
    rng = np.random.default_rng(seed)
    image = np.zeros((height, width, 3), np.uint8)
    image[:, :, 0] = np.linspace(30, 140, width, dtype=np.uint8)[None, :]
    image[:, :, 1] = np.linspace(40, 120, height, dtype=np.uint8)[:, None]
    for _ in range(6):
        x, y = int(rng.integers(0, width - 60)), int(rng.integers(0, height - 60))
        cv2.rectangle(image, (x, y), (x + 50, y + 50), tuple(int(c) for c in rng.integers(0, 255, 3)), -1)
    return image


def make_event(
    *,
    cam: str = "front_door",
    at: datetime = NOON,
    score: int | None = 40,
    summary: str = "A person at the door.",
    reasoning: str = "person: +25",
    notes: str = "",
    reviewed: bool = False,
    frames: int = 1,
    boxes: list[tuple[str, float, tuple[int, int, int, int], tuple[str, ...]]] | None = None,
    size: tuple[int, int] = (1280, 720),
    media: Path | None = None,
    video: bool = False,
    provenance: dict | None = None,
    previous: Event | None = None,
) -> Event:
    """An event of `cam` at `at`: `frames` pictures (one photo upload each, or the sampled
    frames of one clip with `video`), each with `boxes` (label, confidence, (x, y, w, h),
    zones). With `media`, the preview and thumbnail files are written there."""
    boxes = boxes or [("person", 0.91, (400, 200, 160, 380), ("porch",))]
    width, height = size
    n = next(_n)
    cam_row = camera(cam)
    uploads: list[tuple[Ingest, float | None]] = []
    if video:
        ingest = Ingest.objects.create(
            camera=cam_row,
            path=f"{cam}/clip-{n}.mp4",
            size=1,
            mtime_ns=n,
            status="done",
            media_type="video",
            media_format="mp4",
            codec="avc1",
            duration_s=2.0 * frames,
            arrived_at=at,
            queued_at=at,
            captured_at=at,
        )
        Clip.objects.create(ingest=ingest, size=1, codec="avc1", transcode="not_needed", queued_at=at)
        uploads = [(ingest, 2.0 * index) for index in range(frames)]
    else:
        for index in range(frames):
            ingest = Ingest.objects.create(
                camera=cam_row,
                path=f"{cam}/{n}-{index}.jpg",
                size=1,
                mtime_ns=n * 1000 + index,
                status="done",
                media_type="image",
                media_format="jpeg",
                arrived_at=at + timedelta(seconds=index),
                queued_at=at,
                captured_at=at + timedelta(seconds=index),
            )
            uploads.append((ingest, None))
    rows = []
    for index, (ingest, offset) in enumerate(uploads):
        name = f"{cam}/{ingest.pk}-{index}.jpg"
        preview, thumb = f"previews/{name}", f"thumbs/{name}"
        if media is not None:
            picture = frame(width, height, seed=n * 100 + index)
            write_preview(picture, media / preview)
            write_thumbnail(picture, [Box(label, conf, *box) for label, conf, box, _ in boxes], media / thumb)
        captured = at + timedelta(seconds=offset if offset is not None else index)
        for label, confidence, (x, y, w, h), zones in boxes:
            rows.append(
                Detection(
                    camera=cam_row,
                    ingest=ingest,
                    captured_at=captured,
                    label=label,
                    confidence=confidence,
                    x=x,
                    y=y,
                    width=w,
                    height=h,
                    frame_width=width,
                    frame_height=height,
                    frame_offset_s=offset,
                    zones=list(zones),
                    zone_kinds=["entry"] if zones else [],
                    thumbnail=thumb,
                    preview=preview,
                )
            )
    detections = Detection.objects.bulk_create(rows)
    classes: dict[str, int] = {}
    for d in detections:
        classes[d.label] = classes.get(d.label, 0) + 1
    event = Event.objects.create(
        camera=cam_row,
        status="closed",
        close_reason="idle",
        started_at=at,
        last_detection_at=at,
        ended_at=at + timedelta(seconds=30),
        captured_from=at,
        captured_to=at,
        chain_started_at=previous.chain_started_at if previous else at,
        previous=previous,
        detection_count=len(detections),
        classes=classes,
        zones=sorted({z for d in detections for z in d.zones}),
        max_confidence=max(d.confidence for d in detections),
        reviewed=reviewed,
        review_notes=notes,
    )
    event.detections.add(*detections)
    if score is not None:
        Event.objects.filter(pk=event.pk).update(
            risk_score=score,
            risk_level=risk_level_for(score),
            assessment_state="assessed",
            analyzer="rules",
            summary=summary,
            reasoning=reasoning,
            recommended_action="Look at the snapshots.",
            provenance=provenance or {"analyzer": "rules", "latency_ms": 1.5},
            assessed_at=at + timedelta(seconds=31),
            assessment_seq=1,
            assessment_final=True,
        )
    event.refresh_from_db()
    return event
