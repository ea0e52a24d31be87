"""Concurrent workers on the embedded default (SQLite), as separate processes, never open two
events for one camera: SQLite has no row locks (select_for_update does nothing), so it is
the IMMEDIATE transactions and the partial unique constraint that hold."""

import subprocess
import sys

from tests.support.processes import REPO, manage, process_env

SETUP = """
from datetime import UTC, datetime
from cameras.models import Camera, Ingest
from detections.models import Detection
at = datetime(2026, 11, 24, 3, 0, tzinfo=UTC)
camera = Camera.objects.create(id="door", name="door", folder="door")
for n in range(24):
    ingest = Ingest.objects.create(camera=camera, path=f"door/{n}.jpg", size=1, mtime_ns=n, status="done",
                                   arrived_at=at, queued_at=at, captured_at=at)
    Detection.objects.create(camera=camera, ingest=ingest, captured_at=at, label="person", confidence=0.8, x=0,
                             y=0, width=1, height=1, frame_width=10, frame_height=10)
"""
WORK = """
import sys, time
from datetime import UTC, datetime, timedelta
from events.grouping import event_add_detections
start = float(sys.argv[-1])
time.sleep(max(0, start - time.time()))
for pk in range(int(sys.argv[-3]), 25, int(sys.argv[-2])):
    event_add_detections(ingest_ids=[pk], now=datetime(2026, 11, 24, 3, 0, 1, tzinfo=UTC))
"""
CHECK = """
from events.models import Event
print([(e.status, e.detection_count) for e in Event.objects.all()])
"""


def test_four_processes_on_sqlite_never_open_two_events(tmp_path):
    import time

    env = process_env(tmp_path, DATABASE_URL=f"sqlite:///{tmp_path}/db.sqlite3", REDIS_URL="<unset>")
    manage("migrate", "--noinput", env=env, timeout=120)
    manage("shell", "-c", SETUP, env=env)
    script = tmp_path / "work.py"
    script.write_text("import django; django.setup()\n" + WORK)
    start = time.time() + 3  # all four begin at the same moment
    procs = [
        subprocess.Popen(
            [sys.executable, str(script), str(first), "4", str(start)],
            cwd=REPO,
            env={**env, "DJANGO_SETTINGS_MODULE": "homesec.settings", "PYTHONPATH": str(REPO)},
        )
        for first in range(1, 5)
    ]
    assert [p.wait(timeout=60) for p in procs] == [0, 0, 0, 0]
    assert manage("shell", "-c", CHECK, env=env).strip().splitlines()[-1] == "[('open', 24)]"
