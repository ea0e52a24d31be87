"""The ingest stage: registering uploads, processing each exactly once (checked, hashed,
deduplicated), retries, the sweep that re-sends lost work, deleting uploads, and the
hand-off to the next stage (HOMESEC_INGEST_NEXT_STAGE)."""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import partial
from pathlib import Path
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone

from cameras.capture_time import capture_time
from cameras.models import Ingest
from cameras.services import camera_get_or_create_for_folder, camera_latest_image_forget, camera_saw_upload
from cameras.signals import ingest_removed, ingest_removing
from cameras.validation import inspect_upload
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
from homesec.core.live import live_publish
from homesec.core.retry import MAX_TRIES, backoff_delay
from homesec.core.tasks import enqueue
from monitoring.metrics import MetricBatch

logger = logging.getLogger(__name__)

INGEST_TASK = "cameras.tasks.ingest_process"
INGEST_REPLAY_TASK = "cameras.tasks.ingest_replay"


# --- Registering uploads -----------------------------------------------------------------


@dataclass(frozen=True)
class FileVersion:
    path: str  # relative to the camera root
    size: int
    mtime_ns: int

    @classmethod
    def of(cls, absolute: Path, *, root: Path) -> FileVersion | None:
        rel = absolute.relative_to(root)
        if len(rel.parts) < 2:
            return None  # a file directly in the root belongs to no camera
        try:
            st = absolute.lstat()
            size, mtime_ns = st.st_size, st.st_mtime_ns
        except OSError:
            # Gone already, or a path that cannot be looked at (a symlink loop on the way, a
            # file where a folder should be): registered anyway, and rejected with the reason.
            size, mtime_ns = 0, 0
        return cls(rel.as_posix(), size, mtime_ns)


def ingest_register(*, paths: list[Path]) -> list[int]:
    """Write one pending Ingest row per new file version and enqueue their processing.

    Returns the ids of new rows. A version seen before (same path, size and mtime) makes
    nothing new, so the watcher's events and its start-up scan may overlap freely.
    """
    root = settings.CAMERA_ROOT
    versions = {v for v in (FileVersion.of(p, root=root) for p in paths) if v is not None}
    if not versions:
        return []
    now = timezone.now()
    cameras = {}
    for folder in {v.path.split("/", 1)[0] for v in versions}:
        cameras[folder] = camera_get_or_create_for_folder(folder=folder)
    with transaction.atomic():
        Ingest.objects.bulk_create(
            [
                Ingest(
                    camera=cameras[v.path.split("/", 1)[0]],
                    path=v.path,
                    size=v.size,
                    mtime_ns=v.mtime_ns,
                    arrived_at=now,
                    queued_at=now,
                )
                for v in versions
            ],
            ignore_conflicts=True,
        )
        # Rows made by this call share its arrival time; earlier versions keep theirs.
        ids = list(
            Ingest.objects.filter(arrived_at=now, path__in=[v.path for v in versions]).values_list("pk", flat=True)
        )
        if ids:
            enqueue(INGEST_TASK, ids)
    return ids


# --- Processing ---------------------------------------------------------------------------


def ingest_process(*, ingest_ids: list[int]) -> dict[str, int]:
    """Process pending rows. Safe to run twice or concurrently: a row is claimed first,
    and only the claimant works on it. Every claim counts a try, so a file that kills its
    worker (a decoder crash, the time limit, memory) becomes a dead letter after
    MAX_TRIES, and is tried alone, without its batch mates, once it has killed one."""
    now = timezone.now()
    ingest_ids = send_suspects_alone(Ingest, list(ingest_ids), task=INGEST_TASK, now=now, working="processing")
    claimed = Ingest.objects.filter(claimable(now, waiting="pending", working="processing"), pk__in=ingest_ids).update(
        status=Ingest.Status.PROCESSING, claimed_at=now, attempts=F("attempts") + 1, next_attempt_at=None
    )
    counts: dict[str, int] = {}
    if not claimed:
        return counts
    rows = Ingest.objects.select_related("camera").filter(pk__in=ingest_ids, status="processing", claimed_at=now)
    good: list[tuple[Ingest, str, dict]] = []
    for row in rows:
        if out_of_tries(row.attempts):
            _give_up(row, worker_died(row.attempts))
            counts[Ingest.Status.FAILED] = counts.get(Ingest.Status.FAILED, 0) + 1
            continue
        try:
            examined = _examine(row)
        except Exception as exc:  # noqa: BLE001 - any surprise becomes a retry, then a dead letter
            examined = _retry_or_fail(row, exc)
        if isinstance(examined, str):
            counts[examined] = counts.get(examined, 0) + 1
        else:
            good.append(examined)
    statuses = _store_good(good)
    for status in statuses.values():
        counts[status] = counts.get(status, 0) + 1
    # One camera update per batch, not per file: a burst of uploads is one "seen".
    for camera in {row.camera_id: row.camera for row, _, _ in good}.values():
        camera_saw_upload(camera, rejected=False, reason="", now=timezone.now())
    accepted = [pk for pk, status in statuses.items() if status == Ingest.Status.DONE]
    _publish_uploads([row for row, _, _ in good if statuses.get(row.pk) == Ingest.Status.DONE])
    ingest_hand_off(ingest_ids=accepted)
    return counts


def _publish_uploads(rows: list[Ingest]) -> None:
    """One live message per camera and batch (not per file): pages show its newest image."""
    newest: dict[str, int] = {}
    for row in rows:
        newest[row.camera_id] = max(newest.get(row.camera_id, 0), row.pk)
    for camera_id, ingest_id in newest.items():
        live_publish(stream="events", kind="camera.upload", payload={"camera": camera_id, "ingest": ingest_id})


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(1024 * 1024):
            digest.update(chunk)
    return digest.hexdigest()


def _examine(row: Ingest) -> str | tuple[Ingest, str, dict]:
    """Check and hash one file. A rejection is stored at once (and its status returned);
    a good file comes back as (row, content hash, fields) to be stored with its batch."""
    camera = row.camera
    absolute = settings.CAMERA_ROOT / row.path
    inspection = inspect_upload(
        absolute,
        camera_root=settings.CAMERA_ROOT / camera.folder,
        max_bytes=settings.MAX_UPLOAD_MB * 1024 * 1024,
        max_pixels=settings.MAX_IMAGE_PIXELS,
    )
    reason = inspection.reason
    if inspection.ok:
        try:
            digest = _sha256(absolute.resolve())
        except FileNotFoundError:
            reason = "file vanished before it could be read"
    if reason:
        now = timezone.now()
        _finish(row, status=Ingest.Status.REJECTED, reason=reason, now=now)
        camera_saw_upload(camera, rejected=True, reason=reason, now=now)
        return Ingest.Status.REJECTED
    when, source = capture_time(
        name=absolute.name, exif=inspection.exif_datetime, mtime=row.mtime_ns / 1e9, tz=camera.zoneinfo
    )
    return (
        row,
        digest,
        {
            "sha256": digest,
            "media_type": inspection.media_type,
            "media_format": inspection.media_format,
            "width": inspection.width,
            "height": inspection.height,
            "duration_s": inspection.duration_s,
            "frame_count": inspection.frame_count,
            "codec": inspection.codec[:16],
            "trailing_bytes": inspection.trailing_bytes,
            "captured_at": when,
            "captured_from": source,
        },
    )


STORED_FIELDS = [
    "status",
    "reason",
    "processed_at",
    "queued_at",
    "content_key",
    "sha256",
    "media_type",
    "media_format",
    "width",
    "height",
    "duration_s",
    "frame_count",
    "codec",
    "trailing_bytes",
    "captured_at",
    "captured_from",
]


def _store_good(good: list[tuple[Ingest, str, dict]]) -> dict[int, str]:
    """Store a batch's good files in one statement; the content key's unique constraint
    still decides which of two equal files is the ingest and which the duplicate."""
    now = timezone.now()
    firsts: dict[str, Ingest] = {}
    unique: list[tuple[Ingest, str, dict]] = []
    twins: list[tuple[Ingest, str, dict]] = []
    for item in good:
        (twins if item[1] in firsts else unique).append(item)
        firsts.setdefault(item[1], item[0])
    statuses: dict[int, str] = {}
    try:
        with transaction.atomic():
            for row, digest, fields in unique:
                for name, value in {
                    **fields,
                    "status": Ingest.Status.DONE,
                    "reason": "",
                    "processed_at": now,
                    "queued_at": now,
                    "content_key": digest,
                }.items():
                    setattr(row, name, value)
            Ingest.objects.bulk_update([row for row, _, _ in unique], STORED_FIELDS)
            _count(Ingest.Status.DONE, [row for row, _, _ in unique])
        statuses.update((row.pk, Ingest.Status.DONE) for row, _, _ in unique)
    except IntegrityError:
        # Another worker stored some of this content first: decide file by file.
        for row, digest, fields in unique:
            statuses[row.pk] = _store_one(row, digest, fields, now)
    for row, digest, fields in twins:
        statuses[row.pk] = _store_one(row, digest, fields, now)
    for row, _, _ in good:
        if row.attempts > 1:
            dead_letter_clear(key=f"ingest:{row.pk}")
    return statuses


def _store_one(row: Ingest, digest: str, fields: dict[str, Any], now: datetime) -> str:
    try:
        with transaction.atomic():
            _finish(row, status=Ingest.Status.DONE, now=now, content_key=digest, **fields)
        return Ingest.Status.DONE
    except IntegrityError:
        first = Ingest.objects.filter(content_key=digest).only("pk", "path").first()
        reason = f"same content as {first.path}" if first else "same content as an earlier upload"
        _finish(row, status=Ingest.Status.DUPLICATE, reason=reason, now=now, duplicate_of=first, **fields)
        return Ingest.Status.DUPLICATE


def _finish(row: Ingest, *, status: str, now: datetime, reason: str = "", **fields: Any) -> None:
    with transaction.atomic():
        # queued_at: a done row's hand-off is sent now; the sweep re-sends it if not taken.
        Ingest.objects.filter(pk=row.pk).update(
            status=status, reason=reason[:500], processed_at=now, queued_at=now, **fields
        )
        if row.attempts > 1:
            dead_letter_clear(key=f"ingest:{row.pk}")
        _count(status, [row])


def _count(status: str, rows: list[Ingest]) -> None:
    """The outcome's count, and for stored files their time from arrival to here, in the
    transaction that stores them (monitoring/metrics.py)."""
    if not rows:
        return
    batch = MetricBatch()
    batch.inc("homesec_ingests_total", {"outcome": status}, len(rows))
    if status == Ingest.Status.DONE:
        for row in rows:
            batch.stage_reached("ingested", row.arrived_at)
    batch.write()


def _give_up(row: Ingest, error: str) -> None:
    """Failed for good, with a dead letter; only while the row is still the claim it was."""
    still = Ingest.objects.filter(pk=row.pk, status=Ingest.Status.PROCESSING, claimed_at=row.claimed_at)
    with transaction.atomic():
        if not still.update(status=Ingest.Status.FAILED, reason=error[:500]):
            return
        dead_letter_record(
            key=f"ingest:{row.pk}",
            task=INGEST_REPLAY_TASK,
            payload={"ingest_ids": [row.pk]},
            error=error,
            attempts=row.attempts,
        )
        _count(Ingest.Status.FAILED, [row])
    logger.error(
        "ingest %s (%s) failed after %d tries: %s",
        *(row.pk, row.path, row.attempts, error),
        extra={"ingest": row.pk, "camera": row.camera_id},
    )


def _retry_or_fail(row: Ingest, exc: Exception) -> str:
    error = f"{exc.__class__.__name__}: {exc}"
    if row.attempts >= MAX_TRIES:
        _give_up(row, error)
        return Ingest.Status.FAILED
    delay = backoff_delay(row.attempts)
    Ingest.objects.filter(pk=row.pk).update(
        status=Ingest.Status.PENDING,
        reason=f"retrying: {error}"[:500],
        next_attempt_at=timezone.now() + timedelta(seconds=delay),
    )
    logger.warning(
        "ingest %s (%s) failed (%s); retry in %.1f s",
        *(row.pk, row.path, error, delay),
        extra={"ingest": row.pk, "camera": row.camera_id},
    )
    return "retry"


def ingest_replay(*, ingest_ids: list[int]) -> None:
    """Give failed rows fresh tries (the operator's replay). Rows that are not failed are
    left alone, so a replay of finished work changes nothing."""
    with transaction.atomic():
        Ingest.objects.filter(pk__in=ingest_ids, status=Ingest.Status.FAILED).update(
            status=Ingest.Status.PENDING, attempts=0, next_attempt_at=None, claimed_at=None, queued_at=timezone.now()
        )
    ingest_process(ingest_ids=ingest_ids)
    for pk in (
        Ingest.objects.filter(pk__in=ingest_ids).exclude(status=Ingest.Status.FAILED).values_list("pk", flat=True)
    ):
        dead_letter_clear(key=f"ingest:{pk}")


# --- Deleting uploads -------------------------------------------------------------------------


def ingest_delete(*, ingest_ids: list[int]) -> int:
    """Delete uploads from the console: their files, and what the stages made of them (they
    hear of it through cameras/signals.py). Each row stays, marked deleted: it is what keeps
    the watcher's rescan from taking a file again as new, should it still be there (a file
    an external FTP server owns may not be ours to remove)."""
    rows = list(Ingest.objects.filter(pk__in=ingest_ids).exclude(status=Ingest.Status.DELETED).select_related("camera"))
    ids = [row.pk for row in rows]
    if not ids:
        return 0
    with transaction.atomic():
        ingest_removing.send(sender=Ingest, ingest_ids=ids)
        ingest_removed.send(sender=Ingest, ingest_ids=ids)
        # The content key goes too: the same picture uploaded again later is new.
        Ingest.objects.filter(pk__in=ids).update(
            status=Ingest.Status.DELETED,
            content_key=None,
            reason="deleted by the operator",
            processed_at=timezone.now(),
        )
        for row in rows:
            folder = settings.CAMERA_ROOT / row.camera.folder
            inside = Path(row.path).relative_to(row.camera.folder).as_posix()
            transaction.on_commit(partial(remove_inside, folder, [inside]))
        transaction.on_commit(partial(camera_latest_image_forget, ingests=rows))
    return len(ids)


# --- Hand-off to the next stage -----------------------------------------------------------


def ingest_hand_off(*, ingest_ids: list[int]) -> None:
    stage = settings.INGEST_NEXT_STAGE
    if ingest_ids and stage:
        enqueue(stage, ingest_ids)


def ingest_claim_for_stage(*, ingest_ids: list[int]) -> list[Ingest]:
    """The next stage takes done rows exactly once: a row it has taken is not given again."""
    now = timezone.now()
    with transaction.atomic():
        Ingest.objects.filter(pk__in=ingest_ids, status=Ingest.Status.DONE, handed_off_at__isnull=True).update(
            handed_off_at=now
        )
        return list(Ingest.objects.select_related("camera").filter(pk__in=ingest_ids, handed_off_at=now))


# --- The sweep: re-send work whose message was lost ----------------------------------------


def ingest_sweep() -> dict[str, int]:
    """django-q2's Redis broker does not acknowledge tasks, so a killed worker can lose
    them. Rows are the truth: re-enqueue rows that waited too long, and due retries."""
    now = timezone.now()
    stale = now - timedelta(seconds=settings.INGEST_STALE_S)
    # Rows whose worker died holding them on their last try are given up on here, not sent
    # again: at start this also ends rows an older version re-claimed without a limit.
    for row in Ingest.objects.filter(abandoned(now, working="processing"), attempts__gte=MAX_TRIES)[:1000]:
        _give_up(row, worker_died(row.attempts + 1))
    resend_query = needs_resend(now, waiting="pending", working="processing")
    waiting = list(Ingest.objects.filter(resend_query).values_list("pk", flat=True)[:5000])
    untaken = Ingest.objects.filter(status=Ingest.Status.DONE, handed_off_at__isnull=True, queued_at__lt=stale)
    not_taken = list(untaken.values_list("pk", flat=True)[:5000])
    with transaction.atomic():
        resend(Ingest, waiting, task=INGEST_TASK, now=now, batch=settings.INGEST_BATCH)
        Ingest.objects.filter(pk__in=not_taken).update(queued_at=now)
        for start in range(0, len(not_taken), settings.INGEST_BATCH):
            ingest_hand_off(ingest_ids=not_taken[start : start + settings.INGEST_BATCH])
    if waiting or not_taken:
        logger.info("sweep re-sent %d ingest(s) and %d hand-off(s)", len(waiting), len(not_taken))
    return {"ingests": len(waiting), "hand_offs": len(not_taken)}
