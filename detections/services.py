"""The detection stage: take ingested files, run the detector, keep what matters.

Every ingest handed over gets a DetectionRun row in the same transaction that takes it,
so a crash afterwards loses nothing: the sweep re-sends runs that waited too long.
A remote detector's outage defers runs (no try is used up) until its breaker lets a
probe through; only a file the detector refuses, or work older than
HOMESEC_DETECT_MAX_AGE_H, becomes a dead letter.
"""

from __future__ import annotations

import hashlib
import logging
import os
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.db import transaction
from django.db.models import F, Q, QuerySet
from django.utils import timezone

from cameras.geometry import bottom_centre
from cameras.ingest import ingest_claim_for_stage
from cameras.models import Camera, Ingest, Zone
from detections.backends import get_detector
from detections.backends.base import (
    Box,
    Detector,
    DetectorBadAnswer,
    DetectorOutage,
    DetectorRejected,
    DetectorResult,
)
from detections.clips import needs_browser_copy, sample_frames, transcode_h264
from detections.models import CLASSES, Clip, Detection, DetectionRun
from detections.thumbnails import write_preview, write_thumbnail
from homesec.core.breaker import BreakerPolicy, breaker_allow, breaker_failure, breaker_retry_at, breaker_success
from homesec.core.deadletters import dead_letter_clear, dead_letter_record
from homesec.core.durable import (
    abandoned,
    claimable,
    needs_resend,
    out_of_tries,
    resend,
    send_suspects_alone,
    worker_died,
)
from homesec.core.files import remove_inside
from homesec.core.retry import MAX_TRIES, backoff_delay
from homesec.core.tasks import enqueue
from monitoring.metrics import MetricBatch, metric_inc

if TYPE_CHECKING:
    import numpy as np

logger = logging.getLogger(__name__)

DETECT_TASK = "detections.tasks.detection_process"
REPLAY_TASK = "detections.tasks.detection_replay"
TRANSCODE_TASK = "detections.tasks.clip_transcode"
TRANSCODE_REPLAY_TASK = "detections.tasks.clip_transcode_replay"
BREAKER = "detector"


def breaker_policy() -> BreakerPolicy:
    return BreakerPolicy(cooldown_s=settings.DETECTOR_COOLDOWN_S)


# --- Taking work from ingest ----------------------------------------------------------------


def detection_accept(*, ingest_ids: list[int]) -> list[int]:
    """The ingest stage's hand-off: take the rows and give each a pending run, atomically."""
    now = timezone.now()
    with transaction.atomic():
        ingests = ingest_claim_for_stage(ingest_ids=ingest_ids)
        DetectionRun.objects.bulk_create(
            [DetectionRun(ingest=i, queued_at=now) for i in ingests], ignore_conflicts=True
        )
        run_ids = list(DetectionRun.objects.filter(ingest__in=ingests).values_list("pk", flat=True))
        if run_ids:
            enqueue(DETECT_TASK, run_ids)
    return run_ids


# --- Running the detector ---------------------------------------------------------------------


def detection_process(*, run_ids: list[int]) -> dict[str, int]:
    """Detect the runs' files. A run is claimed first; a worker that died holding it (a
    decoder crash, the time limit, memory) used up one of its tries, so a file that keeps
    killing workers becomes a dead letter, and once it has killed one it is tried alone."""
    now = timezone.now()
    run_ids = send_suspects_alone(DetectionRun, list(run_ids), task=DETECT_TASK, now=now, working="running")
    waiting = Q(Q(next_attempt_at__isnull=True) | Q(next_attempt_at__lte=now), status=DetectionRun.Status.PENDING)
    DetectionRun.objects.filter(waiting, pk__in=run_ids).update(
        status=DetectionRun.Status.RUNNING, claimed_at=now, next_attempt_at=None
    )
    DetectionRun.objects.filter(abandoned(now, working="running"), pk__in=run_ids).update(
        status=DetectionRun.Status.RUNNING, claimed_at=now, next_attempt_at=None, attempts=F("attempts") + 1
    )
    runs = list(
        DetectionRun.objects.select_related("ingest__camera").filter(pk__in=run_ids, status="running", claimed_at=now)
    )
    counts: dict[str, int] = {}
    done: list[int] = []
    detector = get_detector()
    for run in runs:
        if run.attempts >= MAX_TRIES:
            # Only re-claims count at a claim (outcomes count their own tries): past the
            # limit, the worker died on this run every time.
            outcome = _dead(run, worker_died(run.attempts + 1), attempts=run.attempts)
        else:
            outcome = _run_one(run, detector)
        counts[outcome] = counts.get(outcome, 0) + 1
        if outcome == "done":
            done.append(run.ingest_id)
    if done and settings.DETECT_NEXT_STAGE:
        enqueue(settings.DETECT_NEXT_STAGE, done)
    return counts


def _run_one(run: DetectionRun, detector: Detector) -> str:
    import cv2  # here: the web imports this module (the admin's actions) but never detects

    ingest, camera = run.ingest, run.ingest.camera
    if not camera.enabled:
        _finish(run, DetectionRun.Status.SKIPPED, error="camera is disabled")
        return "skipped"
    if detector.remote and not breaker_allow(BREAKER, breaker_policy()):
        return _defer(run, "detector circuit breaker is open", breaker_retry_at(BREAKER, breaker_policy()))
    path = settings.CAMERA_ROOT / ingest.path
    try:
        frames = _frames(ingest, path)
        if frames is None:
            return _dead(run, "the file changed after it was checked (overwritten or replaced); not decoded")
        if not frames:
            _finish(run, DetectionRun.Status.FAILED, error="no frame could be decoded")
            return "failed"
        results = [(offset, frame, detector.detect(frame, encoded=encoded)) for offset, frame, encoded in frames]
    except DetectorOutage as exc:
        metric_inc("homesec_detector_errors_total", {"backend": detector.name, "kind": "outage"})
        if detector.remote:
            breaker_failure(BREAKER, str(exc), breaker_policy())
        return _outage(run, str(exc))
    except DetectorRejected as exc:
        metric_inc("homesec_detector_errors_total", {"backend": detector.name, "kind": "rejected"})
        if detector.remote:
            breaker_success(BREAKER)  # it answered: the server is up
        return _dead(run, str(exc))
    except (DetectorBadAnswer, OSError, cv2.error) as exc:
        kind = "bad_answer" if isinstance(exc, DetectorBadAnswer) else "decode"
        metric_inc("homesec_detector_errors_total", {"backend": detector.name, "kind": kind})
        if detector.remote and isinstance(exc, DetectorBadAnswer):
            breaker_failure(BREAKER, str(exc), breaker_policy())
        return _retry_or_dead(run, f"{exc.__class__.__name__}: {exc}")
    if detector.remote:
        breaker_success(BREAKER)
    _store(run, ingest, camera, results, detector.name)
    return "done"


def _frames(ingest: Ingest, path: Path) -> list[tuple[float | None, np.ndarray, bytes | None]] | None:
    """The frames to detect on; None when the file is no longer the one the ingest checked
    (an FTP client may overwrite it after the check): a full decode of unchecked bytes is
    exactly what the check exists to prevent."""
    import cv2
    import numpy as np

    if ingest.media_type == "video":
        st = os.stat(path)  # a clip is too big to hash again: its size and mtime must be unchanged
        if (st.st_size, st.st_mtime_ns) != (ingest.size, ingest.mtime_ns):
            return None
        return [
            (offset, frame, None)
            for offset, frame in sample_frames(
                path, every_s=settings.CLIP_SAMPLE_S, max_frames=settings.CLIP_MAX_FRAMES
            )
        ]
    data = path.read_bytes()
    if hashlib.sha256(data).hexdigest() != ingest.sha256:
        return None
    frame = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    return [] if frame is None else [(None, frame, data)]


def _store(
    run: DetectionRun,
    ingest: Ingest,
    camera: Camera,
    results: list[tuple[float | None, np.ndarray, DetectorResult]],
    backend: str,
) -> None:
    zones = list(camera.zones.filter(enabled=True))
    rows: list[Detection] = []
    inference_ms = 0.0
    for index, (offset, frame, result) in enumerate(results):
        inference_ms += result.inference_ms
        height, width = frame.shape[:2]
        kept = [(b, hits) for b in result.boxes if (hits := _keep(b, camera, zones, width, height)) is not None]
        if not kept:
            continue
        name = f"{camera.pk}/{ingest.arrived_at:%Y-%m-%d}/{ingest.pk}-{index}.jpg"
        thumb, preview = f"thumbs/{name}", f"previews/{name}"
        write_thumbnail(frame, [b for b, _ in kept], settings.MEDIA_ROOT / thumb)
        write_preview(frame, settings.MEDIA_ROOT / preview)
        for box, hits in kept:
            rows.append(
                Detection(
                    camera=camera,
                    ingest=ingest,
                    captured_at=_captured(ingest, offset),
                    label=box.label,
                    confidence=round(box.confidence, 4),
                    x=box.x,
                    y=box.y,
                    width=box.width,
                    height=box.height,
                    frame_width=width,
                    frame_height=height,
                    frame_offset_s=offset,
                    zones=[z.name for z in hits],
                    zone_kinds=sorted({z.kind for z in hits}),
                    thumbnail=thumb,
                    preview=preview,
                )
            )
    with transaction.atomic():
        # A re-run after a crash between these rows and the run's status replaces, never doubles.
        Detection.objects.filter(ingest=ingest).delete()
        Detection.objects.bulk_create(rows)
        _finish(run, DetectionRun.Status.DONE, backend=backend, frames=len(results), inference_ms=inference_ms)
        if ingest.media_type == "video":
            _clip_record(ingest)
        batch = MetricBatch()
        batch.observe("homesec_detector_seconds", {"backend": backend}, inference_ms / 1000)
        batch.stage_reached("detected", ingest.arrived_at)
        batch.write()


def _captured(ingest: Ingest, offset: float | None) -> datetime:
    base = ingest.captured_at or ingest.arrived_at
    return base if offset is None else base + timedelta(seconds=offset)


def _keep(box: Box, camera: Camera, zones: list[Zone], width: int, height: int) -> list[Zone] | None:
    """The zones a kept box stands in; None when the box is filtered out."""
    if box.label not in CLASSES:
        return None
    rules = (camera.filters or {}).get(box.label, {})
    if box.confidence < float(rules.get("min_confidence", settings.DETECT_MIN_CONFIDENCE)):
        return None
    area = box.width * box.height / float(width * height)
    if area < float(rules.get("min_area", 0.0)) or area > float(rules.get("max_area", 1.0)):
        return None
    x, y = bottom_centre(box.x, box.y, box.width, box.height, width, height)
    hits = [z for z in zones if z.contains(x, y)]
    if any(z.kind == Zone.Kind.IGNORE for z in hits):
        return None
    return hits


def _finish(run: DetectionRun, status: str, **fields: Any) -> None:
    DetectionRun.objects.filter(pk=run.pk).update(status=status, finished_at=timezone.now(), **fields)
    if status == DetectionRun.Status.DONE:
        dead_letter_clear(key=f"detect:{run.pk}")


def _defer(run: DetectionRun, reason: str, until: datetime) -> str:
    DetectionRun.objects.filter(pk=run.pk).update(
        status=DetectionRun.Status.PENDING, next_attempt_at=until, deferrals=F("deferrals") + 1, error=reason[:500]
    )
    return "deferred"


def _outage(run: DetectionRun, error: str) -> str:
    if timezone.now() - run.ingest.arrived_at > timedelta(hours=settings.DETECT_MAX_AGE_H):
        return _dead(run, f"detector still unavailable after {settings.DETECT_MAX_AGE_H} h: {error}")
    delay = backoff_delay(run.deferrals + 1)
    return _defer(run, error, timezone.now() + timedelta(seconds=delay))


def _retry_or_dead(run: DetectionRun, error: str) -> str:
    attempts = run.attempts + 1
    if attempts >= MAX_TRIES:
        return _dead(run, error, attempts=attempts)
    DetectionRun.objects.filter(pk=run.pk).update(
        status=DetectionRun.Status.PENDING,
        attempts=attempts,
        error=error[:500],
        next_attempt_at=timezone.now() + timedelta(seconds=backoff_delay(attempts)),
    )
    return "retry"


def _dead(run: DetectionRun, error: str, attempts: int | None = None) -> str:
    """Failed for good, with a dead letter; only while the run is still the claim it was."""
    if not DetectionRun.objects.filter(pk=run.pk, claimed_at=run.claimed_at).update(
        status=DetectionRun.Status.FAILED,
        error=error[:500],
        finished_at=timezone.now(),
        attempts=attempts if attempts is not None else run.attempts + 1,
    ):
        return "not due"
    dead_letter_record(key=f"detect:{run.pk}", task=REPLAY_TASK, payload={"run_ids": [run.pk]}, error=error)
    logger.warning(
        "detection of %s failed for good: %s",
        *(run.ingest.path, error),
        extra={"ingest": run.ingest_id, "camera": run.ingest.camera_id},
    )
    return "failed"


def detection_replay(*, run_ids: list[int]) -> dict[str, int]:
    DetectionRun.objects.filter(pk__in=run_ids, status=DetectionRun.Status.FAILED).update(
        status=DetectionRun.Status.PENDING, attempts=0, next_attempt_at=None, queued_at=timezone.now()
    )
    return detection_process(run_ids=run_ids)


# --- Clips: a browser-playable copy on the slow lane ---------------------------------------------
# A transcode is a durable row like the others: claimed before the work, a try counted at
# every claim (a worker killed at the slow lane's time limit never reports back, so the
# claim is the only place to count it), backed off on errors, a dead letter at the end.


def _clip_record(ingest: Ingest) -> None:
    needed = needs_browser_copy(media_format=ingest.media_format, codec=ingest.codec)
    clip, created = Clip.objects.get_or_create(
        ingest=ingest,
        defaults={
            "duration_s": ingest.duration_s,
            "codec": ingest.codec,
            "size": ingest.size,
            "queued_at": timezone.now(),
            "transcode": Clip.Transcode.PENDING if needed else Clip.Transcode.NOT_NEEDED,
        },
    )
    if created and needed:
        enqueue(TRANSCODE_TASK, [clip.pk])


def clip_transcode(*, clip_ids: list[int]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for pk in clip_ids:
        outcome = _transcode_one(pk)
        counts[outcome] = counts.get(outcome, 0) + 1
    return counts


def _transcode_one(pk: int) -> str:
    now = timezone.now()
    due = claimable(now, waiting="pending", working="running", stale_s=settings.SLOW_STALE_S, field="transcode")
    if not Clip.objects.filter(due, pk=pk).update(
        transcode=Clip.Transcode.RUNNING, claimed_at=now, attempts=F("attempts") + 1, next_attempt_at=None
    ):
        return "not due"
    clip = Clip.objects.select_related("ingest").get(pk=pk)
    if out_of_tries(clip.attempts):
        return _clip_give_up(clip, worker_died(clip.attempts))
    target = f"clips/{clip.ingest.camera_id}/{clip.ingest_id}.mp4"
    try:
        # A part file of this claim's own: a copy of the task that outlived its claim can
        # never write into the file this one renames into place.
        transcode_h264(
            settings.CAMERA_ROOT / clip.ingest.path, settings.MEDIA_ROOT / target, part=f"{now.timestamp():.6f}"
        )
    except Exception as exc:  # noqa: BLE001 - a broken clip must not stop the others
        error = f"{exc.__class__.__name__}: {exc}"
        if clip.attempts >= MAX_TRIES:
            return _clip_give_up(clip, error)
        Clip.objects.filter(pk=pk, claimed_at=now).update(
            transcode=Clip.Transcode.PENDING,
            transcode_error=error[:500],
            next_attempt_at=timezone.now() + timedelta(seconds=backoff_delay(clip.attempts)),
        )
        return "retry"
    Clip.objects.filter(pk=pk, claimed_at=now).update(
        transcode=Clip.Transcode.DONE, playable=target, transcode_error=""
    )
    dead_letter_clear(key=f"transcode:{pk}")
    return "done"


def _clip_give_up(clip: Clip, error: str) -> str:
    if Clip.objects.filter(pk=clip.pk, claimed_at=clip.claimed_at).update(
        transcode=Clip.Transcode.FAILED, transcode_error=error[:500]
    ):
        dead_letter_record(
            key=f"transcode:{clip.pk}",
            task=TRANSCODE_REPLAY_TASK,
            payload={"clip_ids": [clip.pk]},
            error=error,
            attempts=clip.attempts,
        )
    return "failed"


def clip_transcode_replay(*, clip_ids: list[int]) -> dict[str, int]:
    """The operator's replay: failed copies get fresh tries; others are left alone."""
    Clip.objects.filter(pk__in=clip_ids, transcode=Clip.Transcode.FAILED).update(
        transcode=Clip.Transcode.PENDING, attempts=0, next_attempt_at=None, claimed_at=None, queued_at=timezone.now()
    )
    return clip_transcode(clip_ids=clip_ids)


# --- Deleting ------------------------------------------------------------------------------------


def detections_delete(*, detections: QuerySet[Detection]) -> int:
    """Delete detection rows and, once that is committed, their thumbnails and previews."""
    files = [name for pair in detections.values_list("thumbnail", "preview") for name in pair]
    count = detections.delete()[0]
    transaction.on_commit(lambda: remove_inside(settings.MEDIA_ROOT, files))
    return count


def ingest_outputs_delete(*, ingest_ids: list[int]) -> None:
    """What this stage made of deleted uploads: detections, runs, clip copies (cameras/signals.py)."""
    detections_delete(detections=Detection.objects.filter(ingest_id__in=ingest_ids))
    DetectionRun.objects.filter(ingest_id__in=ingest_ids).delete()
    clips = Clip.objects.filter(ingest_id__in=ingest_ids)
    copies = list(clips.values_list("playable", flat=True))
    clips.delete()
    transaction.on_commit(lambda: remove_inside(settings.MEDIA_ROOT, copies))


# --- Sweep -------------------------------------------------------------------------------------


def detection_sweep() -> dict[str, int]:
    """Re-send lost work; give up on work whose worker died on its last try. At start this
    also ends runs and copies an older version re-claimed without a limit."""
    now = timezone.now()
    buried = _bury_stuck(now)
    resend_query = needs_resend(now, waiting="pending", working="running")
    runs = list(DetectionRun.objects.filter(resend_query).values_list("pk", flat=True)[:5000])
    # Clips run on the slow lane: a copy may wait that long behind other copies.
    clip_query = needs_resend(
        now, waiting="pending", working="running", stale_s=settings.SLOW_STALE_S, field="transcode"
    )
    clips = list(Clip.objects.filter(clip_query).values_list("pk", flat=True)[:100])
    with transaction.atomic():
        resend(DetectionRun, runs, task=DETECT_TASK, now=now, batch=settings.INGEST_BATCH)
        Clip.objects.filter(pk__in=clips).update(queued_at=now)
        Clip.objects.filter(pk__in=clips, next_attempt_at__lte=now).update(next_attempt_at=None)
        for clip_id in clips:
            enqueue(TRANSCODE_TASK, [clip_id])
    return {"runs": len(runs), "clips": len(clips), "buried": buried}


def _bury_stuck(now: datetime) -> int:
    """Work whose worker died holding it on its last try, given up on without one more
    claim; and runs re-claimed for longer than HOMESEC_DETECT_MAX_AGE_H (an install from
    before tries were counted at claims cannot say how often its worker died)."""
    buried = 0
    too_old = now - timedelta(hours=settings.DETECT_MAX_AGE_H)
    dead_runs = DetectionRun.objects.filter(abandoned(now, working="running")).filter(
        Q(attempts__gte=MAX_TRIES) | Q(ingest__arrived_at__lt=too_old)
    )
    for run in dead_runs.select_related("ingest")[:1000]:
        buried += _dead(run, worker_died(run.attempts + 1), attempts=run.attempts + 1) == "failed"
    slow = abandoned(now, working="running", stale_s=settings.SLOW_STALE_S, field="transcode")
    # Copies an older version left pending after their worker was killed also carry their count.
    stuck = slow | Q(transcode=Clip.Transcode.PENDING, claimed_at__isnull=True)
    for clip in Clip.objects.filter(stuck, attempts__gte=MAX_TRIES)[:1000]:
        buried += _clip_give_up(clip, worker_died(clip.attempts + 1)) == "failed"
    return buried
