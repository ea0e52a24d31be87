"""A retention run: its passes over the selections (selections.py) and the files
(files.py), its report, one real run at a time, and the daily schedule."""

from __future__ import annotations

import logging
import math
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from datetime import datetime, timedelta
from functools import partial
from pathlib import Path
from typing import Any

from django.apps import apps
from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Q, QuerySet
from django.utils import timezone

from alerts.models import Alert
from alerts.services import system_alert
from cameras.models import Ingest
from detections.models import Clip, Detection
from events.models import Event
from homesec.core.progress import Progress
from homesec.core.tasks import enqueue
from monitoring.audit import audit_record
from monitoring.metrics import metric_inc
from monitoring.models import AuditEntry, CleanupRun
from monitoring.retention.files import (
    GB,
    MB,
    bytes_to_free,
    detection_pictures,
    empty_folders_remove,
    file_size,
    ingest_media,
    media_walk,
    unlink_measured,
    upload_file,
    upload_gone,
)
from monitoring.retention.selections import (
    MEDIA_PRESENT,
    S,
    alerts_expired,
    budget_candidates,
    days_ago,
    detections_expired,
    events_expired,
    important,
    ingest_rows_expired,
    notifications_expired,
    uploads_expired,
)

logger = logging.getLogger(__name__)

CLEANUP_TASK = "monitoring.retention.cleanup_task"
CLEANUP_EVERY = timedelta(days=1)
# A scheduled run that failed is tried again this much later, not a day later.
RETRY_FAILED_AFTER = timedelta(hours=1)
# A command's run still "running" this long after its start died with its process.
COMMAND_RUN_STALE = timedelta(hours=6)

ProgressFactory = Callable[[int, str], Progress]


class CleanupBusy(Exception):
    def __init__(self, running: CleanupRun) -> None:
        super().__init__(
            f"cleanup run {running.pk} ({running.trigger}, started {running.started_at:%Y-%m-%d %H:%M}) is running"
        )
        self.running = running


class _OutOfTime(Exception):
    pass


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
            self._tally(kind, [(path, file_size(path)) for path in files])
        else:
            transaction.on_commit(lambda: self._tally(kind, [(path, unlink_measured(path)) for path in files]))

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
        old = Event.objects.filter(status=Event.Status.CLOSED, ended_at__lt=days_ago("RETAIN_EVENTS_DAYS", now))
        self.count_kept("event kept: unreviewed and important", old.filter(important(now)).count())
        self.by_age("events", events_expired(now))
        self.by_age("detections", detections_expired(now, self.applied), detection_pictures)
        self.by_age("notifications", notifications_expired(now, self.applied))
        self.by_age("alerts", alerts_expired(now, self.applied))
        self.by_age("audit entries", AuditEntry.objects.filter(at__lt=days_ago("RETAIN_AUDIT_DAYS", now)))
        reports = CleanupRun.objects.filter(started_at__lt=days_ago("RETAIN_AUDIT_DAYS", now))
        self.by_age("run reports", reports.exclude(status=CleanupRun.Status.RUNNING))

    def ingest_rows(self) -> None:
        rows = ingest_rows_expired(self.now, self.applied)
        for page in self.batches(rows.select_related("camera"), "ingest rows"):
            gone = [row.pk for row in page if upload_gone(row)]
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
        uploads = {path: row.size for row in rows if (path := upload_file(row))}

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
            files = [path for paths in ingest_media(page).values() for path in paths]
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
            media = ingest_media(page)
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
                upload = upload_file(row)
                others = [path for path in media[row.pk] if path != upload and path not in self.gone]
                expected += row.size + sum(file_size(path) or 0 for path in others)
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
                system_alert(
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
        total = sum(1 for _ in media_walk()) if self.progress else 0  # only for the bar
        bar = self.progress(total, "media files checked") if self.progress else None
        page: dict[str, Path] = {}
        for name, path, st in media_walk():
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
            empty_folders_remove(older)

    def orphans_go(self, names: dict[str, Path]) -> None:
        named = set(Detection.objects.filter(thumbnail__in=names).values_list("thumbnail", flat=True))
        named |= set(Detection.objects.filter(preview__in=names).values_list("preview", flat=True))
        named |= set(Clip.objects.filter(playable__in=names).values_list("playable", flat=True))
        self.write(partial(self.files_go, "orphan files", [p for n, p in names.items() if n not in named]))


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
    """One retention run (the package's docstring says its passes); returns its report row. `now` is the
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
