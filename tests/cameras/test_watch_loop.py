"""The watcher's loop: a path that cannot be looked at is a rejection, not a crash; every
step is guarded on its own; start jobs are retried; /ready hears of a failing tick."""

from __future__ import annotations

import os

import pytest
from django.db import DatabaseError
from django.utils import timezone
from watchdog.events import FileClosedEvent

from cameras.ingest import ingest_process
from cameras.management.commands.watch_cameras import Clock, Step
from cameras.models import Ingest
from cameras.watcher import CameraWatcher
from homesec.core.services import heartbeat_beat
from monitoring.selectors import readiness
from tests.cameras.corpus import good_jpeg

pytestmark = pytest.mark.django_db(transaction=True)


def test_a_path_that_cannot_be_looked_at_is_rejected_with_its_reason_and_the_others_are_taken(tmp_path, settings):
    settings.CAMERA_ROOT = root = tmp_path / "cameras"
    settings.INGEST_NEXT_STAGE = ""
    folder = root / "cam"
    folder.mkdir(parents=True)
    os.symlink(folder / "loop", folder / "loop")  # a symlink to itself: ELOOP
    good = good_jpeg(folder / "good.jpg")
    not_a_folder = folder / "good.jpg" / "x.jpg"  # ENOTDIR
    watcher = CameraWatcher(root)
    for path in (folder / "loop" / "x.jpg", not_a_folder, good):
        watcher.on_closed(FileClosedEvent(str(path)))
    assert watcher.flush() == 3
    ingest_process(ingest_ids=list(Ingest.objects.values_list("pk", flat=True)))
    rows = {row.path: row for row in Ingest.objects.all()}
    assert rows["cam/good.jpg"].status == "done"
    loop = rows["cam/loop/x.jpg"]
    assert loop.status == "rejected" and ("symbolic links" in loop.reason or "loop" in loop.reason)
    assert rows["cam/good.jpg/x.jpg"].status == "rejected" and "Not a directory" in rows["cam/good.jpg/x.jpg"].reason


def test_a_failing_step_never_stops_the_others_and_is_reported_until_it_works_again():
    ran, broken = [], [True]

    def register_uploads():
        if broken[0]:
            raise OSError("camera root went away")

    clock = Clock([Step("register uploads", register_uploads), Step("clock jobs", lambda: ran.append(1))])
    for second in range(4):
        clock.tick(now=float(second))
    assert ran == [1, 1, 1, 1]
    assert "register uploads" in clock.problem() and "camera root went away" in clock.problem()
    broken[0] = False
    clock.tick(now=5.0)
    assert clock.problem() == ""


def test_start_jobs_are_retried_until_they_succeed_and_then_never_again():
    calls = []

    def setup():
        calls.append(1)
        if len(calls) < 3:
            raise DatabaseError("the database is still starting")

    clock = Clock([Step("alerts setup", setup, once=True)])
    for tenth in range(0, 600):
        clock.tick(now=tenth / 10)
    assert len(calls) == 3


def test_ready_reports_a_watcher_whose_tick_is_failing():
    for role in ("worker", "slow-worker", "alert-worker"):
        heartbeat_beat(role=role, name=f"{role}@test", started_at=timezone.now())
    heartbeat_beat(
        role="watcher", name="watcher@test", started_at=timezone.now(), problem="register uploads failing: OSError"
    )
    report = readiness()
    assert not report["ready"] and report["not_ready"] == ["watcher"]
    assert "register uploads failing" in report["checks"]["watcher"]["error"]


def test_the_loop_sleeps_until_a_step_is_due_and_an_upload_wakes_it_at_once(tmp_path):
    watcher = CameraWatcher(tmp_path)
    clock = Clock(
        [
            Step("register uploads", watcher.flush, pending=watcher.has_news),
            Step("growing uploads", watcher.flush, every_s=0.05, pending=watcher.has_growing),
            Step("fast clock jobs", lambda: None, every_s=0.2, next_at=10.2),
        ]
    )
    assert clock.sleep_s(now=10.0) == pytest.approx(0.2)  # nothing uploaded: no wake-up for it
    assert not watcher.wake.is_set()
    watcher.on_closed(FileClosedEvent(str(tmp_path / "cam" / "a.jpg")))  # the observer's thread
    assert watcher.wake.is_set() and clock.sleep_s(now=10.0) == 0.0
