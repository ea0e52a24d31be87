"""Retention: what homesec keeps, for how long, and within which disk budget.

One run (daily from the watcher's clock on the slow lane, or `manage.py cleanup`) makes
these passes, in this order, each in batches of HOMESEC_CLEANUP_BATCH rows with one short
transaction a batch (a large table is never locked for long), the batch's files removed
only once it has committed (a crash in between leaves a file without a row, which the
orphan sweep takes later, never a row without its file):

1. by age: closed events past HOMESEC_RETAIN_EVENTS_DAYS, the detections of that age no
   kept event holds, delivery attempts (notifications) past HOMESEC_RETAIN_DELIVERIES_DAYS,
   the alerts of expired events, audit entries and run reports past HOMESEC_RETAIN_AUDIT_DAYS;
2. ingest rows whose file is gone and who have no detections left: an ingest row is the
   dedupe key that stops a rescan taking its file again, so it goes only once the file is
   seen gone (removed here in an earlier run, or by the operator); rejected and duplicate
   uploads' rows after HOMESEC_RETAIN_REFUSED_DAYS;
3. uploads past HOMESEC_RETAIN_EVENTS_DAYS that no kept detection needs: the file in the
   camera root, its clip copy and cached image go, the row stays (marked deleted) until
   pass 2 of a later run sees the file gone;
4. by disk budget (HOMESEC_MEDIA_BUDGET_GB) and the free-space floor (HOMESEC_MIN_FREE_GB,
   the one /ready and the low-disk alert use): the oldest uploads' media first, never the
   media of an open event, of work in flight, or of an unreviewed event at one of the top
   two levels younger than HOMESEC_KEEP_IMPORTANT_DAYS; when those alone are over, they are
   kept and the low-disk alert is raised;
5. orphans: files in homesec's own media folders (thumbs, previews, clips) that no row
   names, once older than HOMESEC_ORPHAN_GRACE_S (they may be a detection or transcode
   still writing). Never the camera root: a file there may be an upload waiting for a
   stopped watcher.

Nothing in flight is touched: pending or processing ingests and those not yet handed on,
running detections and transcodes, open events and events being assessed, alerts and
notifications not yet delivered.

A dry run makes the same passes and rolls every batch back: its report counts what would
go, cascades included, and nothing changes. Its later passes see the earlier ones' work
because each pass's selection is written in terms of the earlier passes' selections (a
detection no kept event holds, not merely one in no event), and its budget pass over the
uploads they took by id. A real run, whose earlier passes are done, uses the simple forms.
"""

from __future__ import annotations

import logging
import math
import os
import shutil
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from datetime import datetime, timedelta
from functools import partial
from pathlib import Path
from typing import Any

from django.apps import apps
from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Exists, OuterRef, Q, QuerySet, Sum
from django.utils import timezone

from alerts.models import Alert, Notification
from alerts.services import _system_alert
from cameras.models import Ingest
from cameras.services import latest_root
from detections.models import Clip, Detection, DetectionRun
from events.models import Event
from events.selectors import level_names
from homesec.core.progress import Progress
from homesec.core.tasks import enqueue
from monitoring.audit import audit_record
from monitoring.metrics import metric_inc
from monitoring.models import AuditEntry, CleanupRun

logger = logging.getLogger(__name__)

CLEANUP_TASK = "monitoring.retention.cleanup_task"
CLEANUP_EVERY = timedelta(days=1)
# A scheduled run that failed is tried again this much later, not a day later.
RETRY_FAILED_AFTER = timedelta(hours=1)
# A command's run still "running" this long after its start died with its process.
COMMAND_RUN_STALE = timedelta(hours=6)
# homesec's own media folders under MEDIA_ROOT (detections/services.py writes them).
MEDIA_FOLDERS = ("thumbs", "previews", "clips")
MB, GB = 1024**2, 1024**3

S = Ingest.Status
IN_FLIGHT = (S.PENDING, S.PROCESSING)
MEDIA_PRESENT = (S.DONE, S.FAILED, S.REJECTED, S.DUPLICATE)
REFUSED = (S.REJECTED, S.DUPLICATE)
UNSENT = (Notification.Status.PENDING, Notification.Status.SENDING)
Links = Event.detections.through

ProgressFactory = Callable[[int, str], Progress]


class CleanupBusy(Exception):
    def __init__(self, running: CleanupRun) -> None:
        super().__init__(
            f"cleanup run {running.pk} ({running.trigger}, started {running.started_at:%Y-%m-%d %H:%M}) is running"
        )
        self.running = running


class _OutOfTime(Exception):
    pass


# --- Selections: each in terms of the ones before it ---------------------------------------
# `applied`: the earlier passes are done (a real run), so a simpler query selects the same
# rows (a detection in no event, rather than in no event that stays). A dry run, which
# changes nothing, needs the full one.


def _days(name: str, now: datetime) -> datetime:
    return now - timedelta(days=getattr(settings, name))


def _important(now: datetime, prefix: str = "") -> Q:
    """Unreviewed events at one of the top two levels, younger than HOMESEC_KEEP_IMPORTANT_DAYS."""
    return Q(
        **{
            f"{prefix}reviewed": False,
            f"{prefix}risk_level__in": level_names()[-2:],
            f"{prefix}started_at__gte": _days("KEEP_IMPORTANT_DAYS", now),
        }
    )


def events_expired(now: datetime) -> QuerySet[Event]:
    return Event.objects.filter(
        status=Event.Status.CLOSED, ended_at__lt=_days("RETAIN_EVENTS_DAYS", now), assess_step=Event.Step.IDLE
    ).exclude(_important(now))


def detections_expired(now: datetime, applied: bool = False) -> QuerySet[Detection]:
    held = Links.objects.filter(detection_id=OuterRef("pk"))
    if not applied:
        held = held.exclude(event_id__in=events_expired(now).values("pk"))
    return (
        Detection.objects.filter(created_at__lt=_days("RETAIN_EVENTS_DAYS", now))
        .exclude(Exists(held))
        .exclude(ingest__status__in=IN_FLIGHT)
    )


def alerts_expired(now: datetime, applied: bool = False) -> QuerySet[Alert]:
    """Handled or delivered alerts of the events' age, whose event goes (or went)."""
    event_gone = Q(event__isnull=True) if applied else Q(event__isnull=True) | Q(event__in=events_expired(now))
    return (
        Alert.objects.filter(event_gone, created_at__lt=_days("RETAIN_EVENTS_DAYS", now))
        .exclude(state=Alert.State.PENDING)
        .exclude(Exists(Notification.objects.filter(alert_id=OuterRef("pk"), status__in=UNSENT)))
    )


def notifications_expired(now: datetime, applied: bool = False) -> QuerySet[Notification]:
    # Those of expiring alerts go with their alert (so a dry run counts each once).
    return (
        Notification.objects.filter(created_at__lt=_days("RETAIN_DELIVERIES_DAYS", now))
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
    refused = Q(status__in=REFUSED, arrived_at__lt=_days("RETAIN_REFUSED_DAYS", now))
    return _without_kept_detections(Ingest.objects.filter(Q(status=S.DELETED) | refused), now, applied)


def uploads_expired(now: datetime, applied: bool = False) -> QuerySet[Ingest]:
    old = Ingest.objects.filter(status__in=MEDIA_PRESENT, arrived_at__lt=_days("RETAIN_EVENTS_DAYS", now))
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
            important=Exists(links.filter(_important(now, "event__"))),
        )
        .order_by("arrived_at", "pk")
    )


# --- Files --------------------------------------------------------------------------------


def _within(root: Path, relative: str | Path) -> Path | None:
    """The file `relative` names under `root`, or None when it would lie outside (a `..`,
    a link out). The last part is not resolved: a link is removed, never its target."""
    base = root.resolve()
    path = base / relative
    path = path.parent.resolve() / path.name
    return path if path.is_relative_to(base) and path != base else None


def _size(path: Path) -> int | None:
    try:
        return path.lstat().st_size
    except OSError:
        return None


def _upload_file(ingest: Ingest) -> Path | None:
    """The upload in its camera's folder (the path is relative to the camera root)."""
    parts = Path(ingest.path).parts
    if parts[:1] != (ingest.camera.folder,):
        return None
    return _within(settings.CAMERA_ROOT / ingest.camera.folder, Path(*parts[1:]))


def _ingest_media(ingests: list[Ingest]) -> dict[int, list[Path]]:
    """Every file each upload is: itself, its clip copy, its detections' pictures, its cached image."""
    media: dict[int, list[Path | None]] = {row.pk: [_upload_file(row)] for row in ingests}
    for row in ingests:
        media[row.pk] += [_within(latest_root(), f"{row.camera_id}/{row.pk}.{end}") for end in ("jpg", "none")]
    pictures = Detection.objects.filter(ingest_id__in=media).values_list("ingest_id", "thumbnail", "preview")
    copies = Clip.objects.filter(ingest_id__in=media).values_list("ingest_id", "playable", "playable")
    for pk, first, second in [*pictures, *copies]:
        media[pk] += [_within(settings.MEDIA_ROOT, name) for name in {first, second} if name]
    return {pk: [path for path in paths if path is not None] for pk, paths in media.items()}


def _is_or_holds(path: Path, other: Path) -> bool:
    return path.is_relative_to(other) or other.is_relative_to(path)


def _media_walk() -> Iterator[tuple[str, Path, os.stat_result]]:
    """Files in homesec's media folders, never in (or above) the camera root: each with its
    name as rows store it (relative to the media root), its path and its stat."""
    camera_root = settings.CAMERA_ROOT.resolve()
    for folder in MEDIA_FOLDERS:
        top = (settings.MEDIA_ROOT / folder).resolve()
        if _is_or_holds(top, camera_root) or not top.is_dir():
            continue
        for here, dirs, names in os.walk(top):
            dirs[:] = [d for d in dirs if not _is_or_holds((Path(here) / d).resolve(), camera_root)]
            for name in names:
                path = Path(here, name)
                st = path.lstat()
                if not path.is_symlink():
                    yield f"{folder}/{path.relative_to(top).as_posix()}", path, st


# --- A run ------------------------------------------------------------------------------


class _Cleanup:
    def __init__(
        self, run: CleanupRun, now: datetime, progress: ProgressFactory | None, time_limit_s: float | None
    ) -> None:
        self.run, self.now, self.dry, self.applied = run, now, run.dry_run, not run.dry_run
        self.progress = None if run.dry_run else progress
        self.ends_at = timezone.now() + timedelta(seconds=time_limit_s) if time_limit_s else None
        self.deleted: Counter[str] = Counter()
        self.kept: Counter[str] = Counter()
        self.bytes_freed = 0
        # Bytes the media's recorded size counted for uploads whose files had gone already
        # (or could not be removed): they bring the budget's count down without freeing any.
        self.recorded_gone = 0
        self.gone: set[Path] = set()  # removed in this run (or, in a dry run, would be)
        self.ingests_gone: set[int] = set()  # uploads taken by earlier passes (a dry run's budget passes over them)

    # Writes: in a transaction that a dry run rolls back.

    def write(self, work: Callable[[], Any]) -> Any:
        if self.ends_at and timezone.now() >= self.ends_at:
            raise _OutOfTime
        with transaction.atomic():
            result = work()
            if self.dry:
                transaction.set_rollback(True)
        return result

    def delete(self, rows: QuerySet[Any]) -> None:
        counted = rows.delete()[1]
        # Link rows (an event's detections) are not worth a line, and a dry run would count them twice.
        self.deleted.update(
            {label: n for label, n in counted.items() if n and not apps.get_model(label)._meta.auto_created}
        )

    def files_go(self, kind: str, files: Iterable[Path]) -> None:
        """Within a batch's transaction: the files go once it commits; a dry run counts them."""
        files = [path for path in dict.fromkeys(files) if path not in self.gone]
        if self.dry:
            self._tally(kind, [(path, _size(path)) for path in files])
        else:
            transaction.on_commit(lambda: self._tally(kind, [(path, _unlink(path)) for path in files]))

    def _tally(self, kind: str, results: list[tuple[Path, int | None]]) -> None:
        for path, size in results:
            if size is not None:
                self.gone.add(path)
                self.deleted[kind] += 1
                self.bytes_freed += size

    # Batches: keyset pages of a selection, so a dry run (which deletes nothing) moves on too.

    def batches(self, rows: QuerySet[Any], label: str) -> Iterator[list[Any]]:
        bar = self.progress(rows.count(), label) if self.progress else None
        last = 0
        while page := list(rows.filter(pk__gt=last).order_by("pk")[: settings.CLEANUP_BATCH]):
            last = page[-1].pk
            yield page
            if bar:
                bar.advance(len(page))
        if bar:
            bar.close()

    def by_age(self, label: str, rows: QuerySet[Any], files: Callable[[list[Any]], list[Path]] | None = None) -> None:
        for page in self.batches(rows, label):
            self.write(partial(self._page_delete, rows, page, files))

    def _page_delete(
        self, rows: QuerySet[Any], page: list[Any], files: Callable[[list[Any]], list[Path]] | None
    ) -> None:
        doomed = files(page) if files else []
        # Selected again as it is deleted: a row that went in flight meanwhile stays.
        self.delete(rows.filter(pk__in=[row.pk for row in page]))
        self.files_go("media files", doomed)

    # The passes.

    def age_passes(self) -> None:
        now = self.now
        old = Event.objects.filter(status=Event.Status.CLOSED, ended_at__lt=_days("RETAIN_EVENTS_DAYS", now))
        self.count_kept("event kept: unreviewed and important", old.filter(_important(now)).count())
        self.by_age("events", events_expired(now))
        self.by_age("detections", detections_expired(now, self.applied), _detection_pictures)
        self.by_age("notifications", notifications_expired(now, self.applied))
        self.by_age("alerts", alerts_expired(now, self.applied))
        self.by_age("audit entries", AuditEntry.objects.filter(at__lt=_days("RETAIN_AUDIT_DAYS", now)))
        reports = CleanupRun.objects.filter(started_at__lt=_days("RETAIN_AUDIT_DAYS", now))
        self.by_age("run reports", reports.exclude(status=CleanupRun.Status.RUNNING))

    def ingest_rows(self) -> None:
        rows = ingest_rows_expired(self.now, self.applied)
        for page in self.batches(rows.select_related("camera"), "ingest rows"):
            gone = [row.pk for row in page if _file_gone(row)]
            self.count_kept("ingest row kept: its file is still there", len(page) - len(gone))
            if gone:
                if self.dry:
                    self.ingests_gone.update(gone)
                self.write(partial(self.delete, rows.filter(pk__in=gone)))
                # The media's recorded size counted these files (rejected, duplicate) too.
                self.recorded_gone += sum(row.size for row in page if row.pk in gone and row.status in MEDIA_PRESENT)

    def count_kept(self, reason: str, n: int) -> None:
        if n:
            self.kept[reason] += n

    def media_go(self, rows: list[Ingest], files: list[Path], reason: str, kind: str) -> None:
        """The uploads' media go; their rows stay, marked deleted, while detections need them."""
        ids = [row.pk for row in rows]
        uploads = {path: row.size for row in rows if (path := _upload_file(row))}

        def work() -> None:
            marked = Ingest.objects.filter(pk__in=ids, status__in=MEDIA_PRESENT).update(
                status=S.DELETED, content_key=None, reason=reason
            )
            Detection.objects.filter(ingest_id__in=ids).update(thumbnail="", preview="")
            Clip.objects.filter(ingest_id__in=ids).update(playable="")
            self.deleted[kind] += marked
            self.files_go("media files", files)

        self.write(work)
        self.recorded_gone += sum(size for path, size in uploads.items() if path not in self.gone)

    @property
    def lowered(self) -> int:
        """How far the media's size (as bytes_to_free counted it) has come down in this run."""
        return self.bytes_freed + self.recorded_gone

    def uploads(self) -> None:
        reason = f"removed by retention: older than {settings.RETAIN_EVENTS_DAYS:g} days"
        for page in self.batches(uploads_expired(self.now, self.applied).select_related("camera"), "old uploads"):
            files = [path for paths in _ingest_media(page).values() for path in paths]
            self.media_go(page, files, reason, "uploads removed (age)")
            if self.dry:  # a real run's budget finds them marked deleted
                self.ingests_gone.update(row.pk for row in page)

    def budget(self, need: int) -> None:
        """Free what is over the budget or under the floor (`need` bytes, counted from the
        run's start, the age passes included): the oldest uploads' media first."""
        if self.lowered >= need:
            return
        bar = self.progress(math.ceil((need - self.lowered) / MB), "budget (MB)") if self.progress else None
        reason = "removed by retention: over the media budget or under the free-space floor"
        last: tuple[datetime, int] | None = None
        while self.lowered < need:
            rows = budget_candidates(self.now)
            if last:
                rows = rows.filter(Q(arrived_at__gt=last[0]) | Q(arrived_at=last[0], pk__gt=last[1]))
            page: list[Any] = list(rows[: settings.CLEANUP_BATCH])  # with the annotated reasons
            if not page:
                break
            media = _ingest_media(page)
            chosen, files, expected, before = [], [], self.lowered, self.lowered
            for row in page:
                last = (row.arrived_at, row.pk)
                if row.pk in self.ingests_gone:
                    continue
                why = "in flight" if row.in_flight else "an open event" if row.open_event else ""
                why = why or ("an unreviewed important event" if row.important else "")
                if why:
                    self.kept[f"media kept: {why}"] += 1
                    continue
                chosen.append(row)
                files += media[row.pk]
                upload = _upload_file(row)
                others = [path for path in media[row.pk] if path != upload and path not in self.gone]
                expected += row.size + sum(_size(path) or 0 for path in others)
                if expected >= need:
                    break
            if chosen:
                self.media_go(chosen, files, reason, "uploads removed (budget)")
            if bar:
                bar.advance(min(math.ceil((self.lowered - before) / MB), bar.total - bar.done))
        if bar:
            bar.close()
        if self.lowered < need:
            # Only protected media are left: they stay, and the household hears the disk is full.
            short = need - self.lowered
            self.kept["bytes still over the budget or floor"] = short
            if not self.dry:
                _system_alert(
                    kind=Alert.Kind.DISK_LOW,
                    key=f"disk_low:budget:{timezone.localdate(self.now)}",
                    title=f"Media {short / GB:.2f} GB over the budget or free-space floor: what is left is kept "
                    "(open events, work in flight, unreviewed important events)",
                    camera=None,
                    now=self.now,
                )

    def orphans(self) -> None:
        """Pages of files as the walk finds them: a list of a million thumbnails would not fit
        a small box's memory."""
        older = self.now.timestamp() - settings.ORPHAN_GRACE_S
        total = sum(1 for _ in _media_walk()) if self.progress else 0  # only for the bar
        bar = self.progress(total, "media files checked") if self.progress else None
        page: dict[str, Path] = {}
        for name, path, st in _media_walk():
            if st.st_mtime < older and path not in self.gone:
                page[name] = path
            if bar:
                bar.advance(1)
            if len(page) >= settings.CLEANUP_BATCH:
                self.orphans_go(page)
                page = {}
        if page:
            self.orphans_go(page)
        if bar:
            bar.close()
        if not self.dry:
            _empty_folders_remove(older)

    def orphans_go(self, names: dict[str, Path]) -> None:
        named = set(Detection.objects.filter(thumbnail__in=names).values_list("thumbnail", flat=True))
        named |= set(Detection.objects.filter(preview__in=names).values_list("preview", flat=True))
        named |= set(Clip.objects.filter(playable__in=names).values_list("playable", flat=True))
        self.write(partial(self.files_go, "orphan files", [p for n, p in names.items() if n not in named]))


def _unlink(path: Path) -> int | None:
    """Remove one file; its size, or None when it was not there or could not be removed."""
    try:
        size = path.lstat().st_size
        path.unlink()
        return size
    except FileNotFoundError:
        return None
    except OSError as exc:
        logger.warning("retention could not remove %s: %s", path, exc)
        return None


def _detection_pictures(detections: list[Detection]) -> list[Path]:
    """Thumbnails and previews of these detections that no other detection shares."""
    names = {n for d in detections for n in (d.thumbnail, d.preview) if n}
    ids = [d.pk for d in detections]
    shared = Detection.objects.filter(Q(thumbnail__in=names) | Q(preview__in=names)).exclude(pk__in=ids)
    names -= {n for pair in shared.values_list("thumbnail", "preview") for n in pair}
    return [path for name in names if (path := _within(settings.MEDIA_ROOT, name))]


def _file_gone(ingest: Ingest) -> bool:
    """Its file version is no longer in the camera root (gone, or replaced by another)."""
    path = _within(settings.CAMERA_ROOT, ingest.path)
    if path is None:
        return False  # a path that cannot be checked: the row stays
    try:
        st = path.stat()
    except FileNotFoundError:
        return True
    return (st.st_size, st.st_mtime_ns) != (ingest.size, ingest.mtime_ns)


def _empty_folders_remove(older: float) -> None:
    """Dated folders left empty (thumbs/<camera>/<day>/), once untouched for the grace period."""
    camera_root = settings.CAMERA_ROOT.resolve()
    for folder in MEDIA_FOLDERS:
        top = (settings.MEDIA_ROOT / folder).resolve()
        if _is_or_holds(top, camera_root) or not top.is_dir():
            continue
        for here, _dirs, _names in os.walk(top, topdown=False):
            path = Path(here)
            if path == top or path.is_symlink() or _is_or_holds(path.resolve(), camera_root):
                continue
            try:
                if path.stat().st_mtime < older and not any(path.iterdir()):
                    path.rmdir()
            except OSError:
                pass  # written to meanwhile


def media_usage() -> int:
    """Bytes of media homesec keeps: uploads it has taken (their recorded sizes) and its own media folders."""
    uploads = Ingest.objects.filter(status__in=(*IN_FLIGHT, *MEDIA_PRESENT)).aggregate(total=Sum("size"))["total"]
    return (uploads or 0) + sum(st.st_size for _name, _path, st in _media_walk())


def bytes_to_free() -> int:
    """What is over HOMESEC_MEDIA_BUDGET_GB, or missing to HOMESEC_MIN_FREE_GB free, whichever is more."""
    over = media_usage() - int(settings.MEDIA_BUDGET_GB * GB) if settings.MEDIA_BUDGET_GB else 0
    under = int(settings.MIN_FREE_GB * GB) - shutil.disk_usage(settings.DATA_DIR).free
    return max(over, under, 0)


def bytes_label(n: int) -> str:
    """Bytes for people: 1.4 GB, 310.2 MB, 12.0 KB."""
    for unit, size in (("GB", GB), ("MB", MB), ("KB", 1024)):
        if n >= size:
            return f"{n / size:.1f} {unit}"
    return f"{n} bytes"


# --- Starting, running and scheduling ------------------------------------------------------


def _stale(run: CleanupRun, now: datetime) -> bool:
    # A scheduled run cannot outlive the slow lane's task timeout; a command's may run long.
    limit = timedelta(seconds=settings.SLOW_STALE_S) if run.trigger == "schedule" else COMMAND_RUN_STALE
    return now - run.started_at > limit


def _abandon(run: CleanupRun, now: datetime) -> None:
    CleanupRun.objects.filter(pk=run.pk, status=CleanupRun.Status.RUNNING).update(
        status=CleanupRun.Status.FAILED, finished_at=now, error="did not finish: its process stopped"
    )


def cleanup_start(*, trigger: str, dry_run: bool = False, now: datetime | None = None) -> CleanupRun:
    """The run's report row, made first. One real run at a time (a database constraint); a
    run whose process died is taken over once stale. Raises CleanupBusy."""
    now = now or timezone.now()
    for _ in range(3):
        try:
            with transaction.atomic():
                return CleanupRun.objects.create(trigger=trigger, dry_run=dry_run, started_at=now)
        except IntegrityError:
            running = CleanupRun.objects.filter(status=CleanupRun.Status.RUNNING, dry_run=False).first()
            if running is not None and not _stale(running, now):
                raise CleanupBusy(running) from None
            if running is not None:
                _abandon(running, now)
    raise IntegrityError("could not start a cleanup run")


def cleanup_run(
    *,
    run: CleanupRun | None = None,
    trigger: str = "command",
    dry_run: bool = False,
    now: datetime | None = None,
    actor_name: str = "system",
    progress: ProgressFactory | None = None,
    time_limit_s: float | None = None,
) -> CleanupRun:
    """One retention run (the module's docstring); returns its report row. `now` is the
    clock the ages are measured by. A run past `time_limit_s` stops between two batches,
    done as far as it got (the next run goes on)."""
    now = now or timezone.now()
    run = run or cleanup_start(trigger=trigger, dry_run=dry_run, now=now)
    work = _Cleanup(run, now, progress, time_limit_s)
    try:
        need = bytes_to_free()
        work.age_passes()
        work.ingest_rows()
        work.uploads()
        work.budget(need)
        work.orphans()
        run.status = CleanupRun.Status.DONE
    except _OutOfTime:
        work.kept["stopped at the time limit"] = 1
        run.status = CleanupRun.Status.DONE
    except Exception as exc:
        run.status, run.error = CleanupRun.Status.FAILED, f"{exc.__class__.__name__}: {exc}"[:2000]
        logger.exception("cleanup run %s failed", run.pk)
        raise
    finally:
        run.deleted, run.kept, run.bytes_freed = dict(work.deleted), dict(work.kept), work.bytes_freed
        run.finished_at = timezone.now()
        with transaction.atomic():
            run.save()
            if not run.dry_run:
                metric_inc("homesec_cleanup_runs_total", {"status": run.status})
                metric_inc("homesec_cleanup_freed_bytes_total", None, run.bytes_freed)
            audit_record(
                action="cleanup.run",
                actor_name=actor_name,
                target=f"cleanup run {run.pk}",
                detail={
                    "trigger": run.trigger,
                    "dry_run": run.dry_run,
                    "status": run.status,
                    "bytes_freed": run.bytes_freed,
                },
            )
    return run


def cleanup_task(run_id: int) -> None:
    """The scheduled run, on the slow lane (settings.TASK_LANES); a second delivery finds
    the run finished and does nothing. It stops before the lane's task timeout would kill it."""
    run = CleanupRun.objects.filter(pk=run_id, status=CleanupRun.Status.RUNNING).first()
    if run is not None:
        timeout = settings.Q_CLUSTER["ALT_CLUSTERS"]["slow"]["timeout"]
        cleanup_run(run=run, time_limit_s=timeout * 0.9)


def cleanup_due(*, now: datetime | None = None) -> int | None:
    """A clock job (the watcher's, settings.CLOCK_JOBS): a day after the last scheduled run
    (an hour after a failed one), start the next and send it to the slow lane. Returns the
    new run's id."""
    now = now or timezone.now()
    last = CleanupRun.objects.filter(trigger="schedule").order_by("-started_at").first()
    if last is not None:
        if last.status == CleanupRun.Status.RUNNING and not _stale(last, now):
            return None
        failed = last.status != CleanupRun.Status.DONE
        if now - last.started_at < (RETRY_FAILED_AFTER if failed else CLEANUP_EVERY):
            return None
    try:
        with transaction.atomic():
            run = cleanup_start(trigger="schedule", now=now)
            enqueue(CLEANUP_TASK, run.pk)
    except CleanupBusy:
        return None
    return run.pk
