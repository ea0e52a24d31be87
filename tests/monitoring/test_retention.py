"""Retention on real files in a data folder of its own, with a fake clock (`now` passed to
the service) and small budgets: what goes, what stays and why, the dry run, the report."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from io import StringIO
from itertools import count
from pathlib import Path

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from alerts.models import Alert, Channel, Notification
from cameras.models import Camera, Ingest
from detections.models import Detection
from events.models import Event
from monitoring.models import AuditEntry, CleanupRun, MetricCount
from monitoring.retention import CleanupBusy, cleanup_due, cleanup_run, cleanup_start, cleanup_task
from tests.support.processes import REPO, database_url_for_tests, process_env

pytestmark = pytest.mark.django_db(transaction=True)  # files go after commit

NOW = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
_n = count(1)


@pytest.fixture(autouse=True)
def data(settings, tmp_path):
    settings.DATA_DIR = tmp_path / "data"
    settings.MEDIA_ROOT = settings.DATA_DIR / "media"
    settings.CAMERA_ROOT = settings.DATA_DIR / "cameras"
    settings.MEDIA_ROOT.mkdir(parents=True)
    settings.CAMERA_ROOT.mkdir(parents=True)
    settings.MIN_FREE_GB = 0  # this machine's free space must not decide
    settings.MEDIA_BUDGET_GB = None
    settings.CLEANUP_BATCH = 2  # several batches even for a few rows
    Camera.objects.create(id="door", name="Door", folder="door")
    return settings.DATA_DIR


def write(path: Path, size: int, age: timedelta = timedelta(days=60)) -> Path:
    """A file of `size` bytes last written `age` before NOW."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"x" * size)
    stamp = (NOW - age).timestamp()
    os.utime(path, (stamp, stamp))
    return path


def upload(settings, days: float, *, size: int = 1000, status: str = "done", **fields) -> Ingest:
    """An upload `days` old with its file in the camera root."""
    n = next(_n)
    path = write(settings.CAMERA_ROOT / "door" / f"{n}.jpg", size)
    at = NOW - timedelta(days=days)
    st = path.stat()
    return Ingest.objects.create(
        camera_id="door",
        path=f"door/{n}.jpg",
        size=size,
        mtime_ns=st.st_mtime_ns,
        status=status,
        arrived_at=at,
        queued_at=at,
        handed_off_at=at if status == "done" else None,
        **fields,
    )


def detection(settings, ingest: Ingest, *, size: int = 100) -> Detection:
    """A detection of the upload, with its thumbnail and preview on disk."""
    name = f"door/{ingest.arrived_at:%Y-%m-%d}/{ingest.pk}-0.jpg"
    write(settings.MEDIA_ROOT / "thumbs" / name, size)
    write(settings.MEDIA_ROOT / "previews" / name, size)
    found = Detection.objects.create(
        camera_id="door",
        ingest=ingest,
        captured_at=ingest.arrived_at,
        label="person",
        confidence=0.9,
        x=1,
        y=1,
        width=10,
        height=10,
        frame_width=640,
        frame_height=360,
        thumbnail=f"thumbs/{name}",
        preview=f"previews/{name}",
    )
    Detection.objects.filter(pk=found.pk).update(created_at=ingest.arrived_at)
    return found


def event(settings, days: float, *, level: str = "low", reviewed: bool = False, status: str = "closed", **kw) -> Event:
    """An event `days` old made of one upload and its detection."""
    ingest = upload(settings, days, **kw)
    at = ingest.arrived_at
    made = Event.objects.create(
        camera_id="door",
        status=status,
        started_at=at,
        last_detection_at=at,
        ended_at=at + timedelta(minutes=1) if status == "closed" else None,
        chain_started_at=at,
        risk_level=level,
        reviewed=reviewed,
        detection_count=1,
    )
    made.detections.add(detection(settings, ingest))
    return made


def disk(root: Path) -> dict[str, int]:
    return {str(p.relative_to(root)): p.stat().st_size for p in root.rglob("*") if p.is_file()}


def rows() -> dict[str, list]:
    return {
        model.__name__: sorted(model.objects.values_list(*fields))
        for model, fields in (
            (Ingest, ("pk", "status")),
            (Detection, ("pk", "thumbnail", "preview")),
            (Event, ("pk",)),
            (Notification, ("pk",)),
            (Alert, ("pk",)),
        )
    } | {"AuditEntry": sorted(AuditEntry.objects.exclude(action="cleanup.run").values_list("pk"))}  # the run's own


def files_of(settings, made: Event) -> list[Path]:
    det = made.detections.get()
    return [
        settings.CAMERA_ROOT / det.ingest.path,
        settings.MEDIA_ROOT / det.thumbnail,
        settings.MEDIA_ROOT / det.preview,
    ]


# --- By age ----------------------------------------------------------------------------------


def test_an_old_event_goes_with_its_detections_and_files_and_its_ingest_row_once_its_file_is_gone(settings, data):
    old, young = event(settings, 40), event(settings, 5)
    old_files, old_ingest = files_of(settings, old), old.detections.get().ingest_id

    run = cleanup_run(now=NOW)

    assert not Event.objects.filter(pk=old.pk).exists() and Event.objects.filter(pk=young.pk).exists()
    assert not any(path.exists() for path in old_files)
    assert all(path.exists() for path in files_of(settings, young))
    # The row stays until a later run sees its file gone: it is the rescan's dedupe key.
    assert Ingest.objects.get(pk=old_ingest).status == "deleted"
    assert run.deleted["events.Event"] == 1 and run.deleted["detections.Detection"] == 1
    cleanup_run(now=NOW + timedelta(days=1))
    assert not Ingest.objects.filter(pk=old_ingest).exists()


def test_nothing_in_flight_is_touched(settings, data):
    channel = Channel.objects.create(name="hook", kind="webhook")
    open_event = event(settings, 40, status="open")
    assessing = event(settings, 40)
    Event.objects.filter(pk=assessing.pk).update(assess_step="running")
    pending = upload(settings, 40, status="pending")
    not_handed_on = upload(settings, 40)
    Ingest.objects.filter(pk=not_handed_on.pk).update(handed_off_at=None)
    at = NOW - timedelta(days=40)
    alert = Alert.objects.create(severity="high", title="t", dedup_key="k", created_at=at, state="delivered")
    unsent = Notification.objects.create(alert=alert, channel=channel, status="pending", queued_at=at, created_at=at)
    sent = Notification.objects.create(channel=channel, test=True, status="delivered", queued_at=at, created_at=at)
    before = disk(data)

    cleanup_run(now=NOW)

    assert set(Event.objects.values_list("pk", flat=True)) == {open_event.pk, assessing.pk}
    assert Detection.objects.count() == 2
    assert set(Ingest.objects.filter(status__in=("pending", "done")).values_list("pk", flat=True)) >= {
        pending.pk,
        not_handed_on.pk,
    }
    assert Notification.objects.filter(pk=unsent.pk).exists() and Alert.objects.filter(pk=alert.pk).exists()
    assert not Notification.objects.filter(pk=sent.pk).exists()
    assert disk(data) == before


@pytest.mark.parametrize(
    ("status", "days", "file_there", "row_stays"),
    [
        ("rejected", 8, False, False),
        ("duplicate", 8, False, False),
        ("rejected", 8, True, True),  # the row keeps a rescan from taking the file again
        ("rejected", 6, False, True),
        ("done", 8, False, True),  # an accepted upload's row lives as long as its file would
    ],
)
def test_refused_uploads_rows_go_after_seven_days_once_their_files_are_gone(
    settings, status, days, file_there, row_stays
):
    row = upload(settings, days, status=status)
    if not file_there:
        (settings.CAMERA_ROOT / row.path).unlink()
    cleanup_run(now=NOW)
    assert Ingest.objects.filter(pk=row.pk).exists() == row_stays


def test_audit_entries_stay_a_year(settings):
    kept = AuditEntry.objects.create(action="auth.login", at=NOW - timedelta(days=364))
    AuditEntry.objects.create(action="auth.login", at=NOW - timedelta(days=366))
    cleanup_run(now=NOW)
    assert set(AuditEntry.objects.filter(action="auth.login").values_list("pk", flat=True)) == {kept.pk}


# --- By disk budget --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("level", "reviewed", "days", "status", "kept"),
    [
        ("critical", False, 3, "closed", True),  # important: unreviewed, top level, young
        ("high", False, 3, "closed", True),  # the second level from the top is important too
        ("medium", False, 3, "closed", False),
        ("critical", True, 3, "closed", False),  # reviewed: the household has seen it
        ("critical", False, 20, "closed", False),  # older than HOMESEC_KEEP_IMPORTANT_DAYS
        ("low", False, 3, "open", True),  # an open event's files are in use
    ],
)
def test_over_budget_the_oldest_media_go_except_protected_ones(settings, level, reviewed, days, status, kept):
    settings.MEDIA_BUDGET_GB = 1 / 1024**3  # one byte: everything that may go, goes
    case = files_of(settings, event(settings, days, level=level, reviewed=reviewed, status=status))
    other = files_of(settings, event(settings, 2))
    cleanup_run(now=NOW)
    assert all(path.exists() == kept for path in case)
    assert not any(path.exists() for path in other)
    assert Event.objects.count() == 2  # the budget takes media, never events


def test_over_budget_detections_not_yet_in_an_event_keep_their_media(settings):
    settings.MEDIA_BUDGET_GB = 1 / 1024**3
    ingest = upload(settings, 0.01)
    found = detection(settings, ingest)  # the events stage has not taken it yet
    files = [settings.CAMERA_ROOT / ingest.path, settings.MEDIA_ROOT / found.thumbnail]
    run = cleanup_run(now=NOW)
    assert all(path.exists() for path in files) and run.kept["media kept: in flight"] == 1


def test_the_budget_takes_the_oldest_first_and_stops_once_within(settings, data):
    uploads = [files_of(settings, event(settings, days))[0] for days in (9, 3, 7, 1)]  # 1200 bytes each
    settings.MEDIA_BUDGET_GB = 2500 / 1024**3
    run = cleanup_run(now=NOW)
    assert [path.exists() for path in uploads] == [False, True, False, True]  # the 9 and 7 days old went
    assert run.bytes_freed == 2400 and run.deleted["uploads removed (budget)"] == 2
    # Their detections stay, without pictures; the uploads' rows say why.
    assert Detection.objects.filter(thumbnail="").count() == 2
    assert set(Ingest.objects.filter(status="deleted").values_list("reason", flat=True)) == {
        "removed by retention: over the media budget or under the free-space floor"
    }


def test_an_upload_already_gone_from_the_disk_brings_the_count_down_so_no_more_goes(settings):
    first, second = (files_of(settings, event(settings, days))[0] for days in (9, 8))
    first.unlink()  # removed by hand: its recorded 1000 bytes still count until its row says so
    settings.MEDIA_BUDGET_GB = 1400 / 1024**3  # 2000 recorded + 400 of pictures: 1000 over
    run = cleanup_run(now=NOW)
    assert second.exists() and run.deleted["uploads removed (budget)"] == 1 and run.bytes_freed == 200


def test_the_free_space_floor_frees_media_too(settings, data):
    event(settings, 5)
    settings.MIN_FREE_GB = 10**6  # a petabyte: never free
    run = cleanup_run(now=NOW)
    assert run.deleted["uploads removed (budget)"] == 1 and not any((settings.CAMERA_ROOT / "door").iterdir())


def test_protected_media_over_the_budget_stay_and_raise_the_low_disk_alert(settings):
    settings.MEDIA_BUDGET_GB = 1 / 1024**3
    important = files_of(settings, event(settings, 3, level="critical"))
    run = cleanup_run(now=NOW)
    assert all(path.exists() for path in important)
    assert run.kept["media kept: an unreviewed important event"] == 1
    assert run.kept["bytes still over the budget or floor"] > 0
    assert Alert.objects.filter(kind="disk_low", dedup_key__startswith="disk_low:budget:").count() == 1


# --- Orphans -----------------------------------------------------------------------------------


def test_files_without_a_row_go_after_the_grace_period_and_never_from_the_camera_root(settings):
    named = event(settings, 2)
    media = settings.MEDIA_ROOT
    stale = write(media / "thumbs" / "door" / "lost.jpg", 10, age=timedelta(hours=2))
    fresh = write(media / "clips" / "door" / "7.mp4.part", 10, age=timedelta(minutes=10))
    elsewhere = write(media / "exports" / "mine.zip", 10, age=timedelta(days=9))  # not homesec's media folders
    waiting = write(settings.CAMERA_ROOT / "door" / "waiting.jpg", 10, age=timedelta(days=9))
    run = cleanup_run(now=NOW)
    assert not stale.exists() and run.deleted["orphan files"] == 1
    assert fresh.exists() and elsewhere.exists() and waiting.exists()
    assert all(path.exists() for path in files_of(settings, named))


def test_the_camera_root_inside_the_media_folders_is_never_swept(settings):
    settings.CAMERA_ROOT = settings.MEDIA_ROOT / "clips" / "cameras"
    upload_in_wait = write(settings.CAMERA_ROOT / "door" / "a.jpg", 10, age=timedelta(days=9))
    cleanup_run(now=NOW)
    assert upload_in_wait.exists()


# --- The dry run and the report ------------------------------------------------------------------


def a_bit_of_everything(settings) -> None:
    channel = Channel.objects.create(name="hook", kind="webhook")
    for days in (45, 40, 20, 3):
        event(settings, days)
    event(settings, 2, level="critical")
    upload(settings, 10, status="rejected")
    (settings.CAMERA_ROOT / upload(settings, 9, status="duplicate").path).unlink()
    write(settings.MEDIA_ROOT / "thumbs" / "door" / "lost.jpg", 50, age=timedelta(hours=5))
    at = NOW - timedelta(days=40)
    Notification.objects.create(channel=channel, test=True, status="delivered", queued_at=at, created_at=at)
    AuditEntry.objects.create(action="auth.login", at=NOW - timedelta(days=400))
    settings.MEDIA_BUDGET_GB = 2000 / 1024**3


def test_a_dry_run_changes_nothing_and_reports_what_the_real_run_then_does(settings, data):
    a_bit_of_everything(settings)
    files, before = disk(data), rows()

    dry = cleanup_run(now=NOW, dry_run=True)

    assert disk(data) == files
    assert rows() == before
    real = cleanup_run(now=NOW)
    assert dry.deleted == real.deleted and dry.bytes_freed == real.bytes_freed and dry.kept == real.kept
    assert real.deleted["events.Event"] == 2 and real.deleted["orphan files"] == 1


def test_the_report_is_true_to_what_happened_on_disk(settings, data):
    a_bit_of_everything(settings)
    files = disk(data)
    run = cleanup_run(now=NOW)
    after = disk(data)
    removed = set(files) - set(after)
    assert run.bytes_freed == sum(files[name] for name in removed) > 0
    assert run.deleted["media files"] + run.deleted["orphan files"] == len(removed)
    assert run.status == "done" and run.finished_at is not None
    stored = CleanupRun.objects.get(pk=run.pk)
    assert (stored.deleted, stored.bytes_freed, stored.kept) == (run.deleted, run.bytes_freed, run.kept)
    entry = AuditEntry.objects.get(action="cleanup.run")
    assert entry.target == f"cleanup run {run.pk}" and entry.detail["bytes_freed"] == run.bytes_freed
    counted = dict(MetricCount.objects.filter(name__startswith="homesec_cleanup_").values_list("name", "value"))
    assert counted == {"homesec_cleanup_runs_total": 1, "homesec_cleanup_freed_bytes_total": run.bytes_freed}


# --- One run at a time, daily ---------------------------------------------------------------------


def test_only_one_real_run_at_a_time_and_a_dead_one_is_taken_over(settings):
    running = cleanup_start(trigger="command", now=NOW)
    with pytest.raises(CleanupBusy):
        cleanup_start(trigger="command", now=NOW + timedelta(minutes=5))
    assert cleanup_run(now=NOW, dry_run=True).status == "done"  # a dry run changes nothing: it may
    taken = cleanup_start(trigger="command", now=NOW + timedelta(hours=7))
    running.refresh_from_db()
    assert running.status == "failed" and taken.status == "running"


def test_the_clock_starts_a_run_a_day_after_the_last_scheduled_one(settings):
    first = cleanup_due(now=NOW)
    assert first is not None
    assert cleanup_due(now=NOW + timedelta(seconds=5)) is None  # queued or running: not twice
    cleanup_task(first)
    assert CleanupRun.objects.get(pk=first).status == "done"
    cleanup_task(first)  # a second delivery of the task does nothing
    assert CleanupRun.objects.filter(trigger="schedule").count() == 1
    assert cleanup_due(now=NOW + timedelta(hours=23)) is None
    assert cleanup_due(now=NOW + timedelta(hours=24)) is not None


# --- The command -----------------------------------------------------------------------------------


def test_the_command_prints_what_a_dry_run_would_delete(settings, data):
    event(settings, 40)
    before = disk(data)
    out = StringIO()
    call_command("cleanup", "--dry-run", stdout=out)
    assert disk(data) == before
    text = out.getvalue()
    assert "dry run: nothing was changed" in text and "events.Event: 1" in text and "Would free" in text


def test_the_command_shows_progress_and_what_it_deleted(settings, capsys):
    event(settings, 40)
    out = StringIO()
    call_command("cleanup", stdout=out)
    assert "Deleted:" in out.getvalue() and "events.Event: 1" in out.getvalue()
    assert "events [" in capsys.readouterr().err  # the bar, on stderr


def test_the_command_fails_when_another_run_is_going_on(settings):
    cleanup_start(trigger="schedule")
    with pytest.raises(CommandError, match="is running"):
        call_command("cleanup", stdout=StringIO())


def test_the_command_exits_1_when_it_cannot_run(settings, tmp_path):
    cleanup_start(trigger="schedule")
    env = process_env(tmp_path / "proc", DATABASE_URL=database_url_for_tests())
    done = subprocess.run(
        [sys.executable, str(REPO / "manage.py"), "cleanup"], env=env, cwd=REPO, capture_output=True, text=True
    )
    assert done.returncode == 1 and "is running" in done.stderr
    help_text = subprocess.run(
        [sys.executable, str(REPO / "manage.py"), "cleanup", "--help"],
        env=env,
        cwd=REPO,
        capture_output=True,
        text=True,
    )
    assert help_text.returncode == 0 and "--dry-run" in help_text.stdout


def test_a_run_past_its_time_limit_stops_between_batches_and_says_so(settings):
    event(settings, 40)
    run = cleanup_run(now=NOW, time_limit_s=1e-9)
    assert run.status == "done" and run.kept == {"stopped at the time limit": 1}
    assert Event.objects.count() == 1  # the next run goes on


def test_the_console_shows_runs_and_the_audit_log_and_nobody_changes_them(settings, admin_client):
    event(settings, 40)
    run = cleanup_run(now=NOW)
    listed = admin_client.get("/admin/monitoring/cleanuprun/").content.decode()
    assert "command" in listed and "1.2 KB" in listed
    detail = admin_client.get(f"/admin/monitoring/cleanuprun/{run.pk}/change/").content.decode()
    assert "events.Event: 1" in detail and "Kept, and why" in detail
    entry = AuditEntry.objects.get(action="cleanup.run")
    found = admin_client.get("/admin/monitoring/auditentry/", {"q": f"cleanup run {run.pk}", "action": "cleanup.run"})
    assert f"cleanup run {run.pk}" in found.content.decode()
    for model, pk in (("auditentry", entry.pk), ("cleanuprun", run.pk)):
        assert admin_client.get(f"/admin/monitoring/{model}/add/").status_code == 403
        assert admin_client.post(f"/admin/monitoring/{model}/{pk}/delete/", {"post": "yes"}).status_code == 403
        admin_client.post(f"/admin/monitoring/{model}/{pk}/change/", {"target": "changed", "status": "failed"})
    assert AuditEntry.objects.get(pk=entry.pk).target == f"cleanup run {run.pk}"
    assert CleanupRun.objects.get(pk=run.pk).status == "done"
