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

from monitoring.retention.files import bytes_label, bytes_to_free
from monitoring.retention.run import CleanupBusy, cleanup_due, cleanup_run, cleanup_start, cleanup_task

# The schedule and the slow lane name these by dotted path (settings.CLOCK_JOBS, TASK_LANES).
__all__ = ["CleanupBusy", "bytes_label", "bytes_to_free", "cleanup_due", "cleanup_run", "cleanup_start", "cleanup_task"]
