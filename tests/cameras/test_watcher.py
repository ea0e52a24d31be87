"""The real watcher and worker processes on a real filesystem."""

from __future__ import annotations

import os
import signal
import sys
import threading
import time
from pathlib import Path

import pytest

from cameras.models import Camera, Ingest
from homesec.core.supervisor import ProcessSpec, Supervisor
from tests.cameras.corpus import BAD_CASES, GOOD_ODD_NAMES, good_jpeg, good_png
from tests.support.processes import REPO, pipeline_env, start_manage, wait_for

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]


@pytest.fixture
def env(tmp_path):
    return pipeline_env(
        tmp_path,
        HOMESEC_MAX_UPLOAD_MB="1",
        HOMESEC_INGEST_NEXT_STAGE="tests.support.stage_stub.record",
        HOMESEC_TEST_STAGE_LOG=str(tmp_path / "stage.log"),
    )[0]


@pytest.fixture
def root(env):
    return Path(env["HOMESEC_CAMERA_ROOT"])


def settled(n: int, timeout: float = 30):
    """Wait until n ingests exist and none is pending or processing."""

    def check():
        rows = list(Ingest.objects.values_list("status", flat=True))
        return len(rows) >= n and not {"pending", "processing"} & set(rows)

    wait_for(
        check, timeout=timeout, what=lambda: f"{n} settled ingests: {list(Ingest.objects.values('path', 'status'))}"
    )


def stage_log(env) -> list[int]:
    path = Path(env["HOMESEC_TEST_STAGE_LOG"])
    return [int(x) for x in path.read_text().split()] if path.exists() else []


def test_a_photo_in_a_new_folder_creates_the_camera_and_one_ingest(spawn, env, root):
    start_manage(spawn, env, "watch_cameras", "worker")
    (root / "Front Door" / "snap").mkdir(parents=True)
    good_jpeg(root / "Front Door" / "snap" / "MDAlarm_20260101-171020.jpg", seed=1)
    settled(1)
    row = Ingest.objects.get()
    assert (row.camera_id, row.status, row.path) == (
        "front_door",
        "done",
        "Front Door/snap/MDAlarm_20260101-171020.jpg",
    )
    assert Camera.objects.get().name == "Front Door"
    wait_for(lambda: stage_log(env) == [row.pk], timeout=10, what="the hand-off")


def test_a_slow_chunked_write_is_ingested_once_when_complete(spawn, env, root):
    start_manage(spawn, env, "watch_cameras", "worker")
    (root / "cam").mkdir()
    source = root.parent / "source.jpg"
    good_jpeg(source, w=1280, h=720, seed=2)
    data = source.read_bytes()
    with open(root / "cam" / "slow.jpg", "wb") as handle:
        for start_at in range(0, len(data), len(data) // 8 + 1):
            handle.write(data[start_at : start_at + len(data) // 8 + 1])
            handle.flush()
            time.sleep(0.3)
    settled(1)
    time.sleep(1)
    row = Ingest.objects.get()
    assert (row.status, row.size) == ("done", len(data))


def test_polling_mode_waits_for_a_stable_size(spawn, env, root):
    polling = {**env, "HOMESEC_WATCH_POLLING": "1", "HOMESEC_WATCH_STABLE_S": "1.5"}
    start_manage(spawn, polling, "watch_cameras", "worker")
    (root / "nas").mkdir()
    source = root.parent / "source.jpg"
    good_jpeg(source, seed=3)
    data = source.read_bytes()
    with open(root / "nas" / "slow.jpg", "wb") as handle:
        for start_at in range(0, len(data), len(data) // 4 + 1):
            handle.write(data[start_at : start_at + len(data) // 4 + 1])
            handle.flush()
            time.sleep(0.6)  # shorter than the stable time: never taken half-written
    settled(1)
    time.sleep(2)
    row = Ingest.objects.get()
    assert (row.status, row.size) == ("done", len(data))


def test_same_bytes_twice_part_renames_and_files_dropped_while_stopped(spawn, env, root):
    (root / "cam").mkdir()
    good_jpeg(root / "cam" / "while-down-1.jpg", seed=4)
    good_jpeg(root / "cam" / "while-down-2.jpg", seed=5)
    (root / "cam" / ".hidden.jpg").write_bytes(b"ignored")
    start_manage(spawn, env, "watch_cameras", "worker")
    settled(2)
    good_jpeg(root / "cam" / "a.jpg", seed=6)
    (root / "cam" / "b.jpg").write_bytes((root / "cam" / "a.jpg").read_bytes())
    good_jpeg(root / "cam" / "upload.jpg.part", seed=7)
    time.sleep(1)
    assert not Ingest.objects.filter(path__endswith=".part").exists()
    os.rename(root / "cam" / "upload.jpg.part", root / "cam" / "upload.jpg")
    settled(5)
    statuses = dict(Ingest.objects.values_list("path", "status"))
    assert statuses == {
        "cam/while-down-1.jpg": "done",
        "cam/while-down-2.jpg": "done",
        "cam/a.jpg": statuses["cam/a.jpg"],
        "cam/b.jpg": statuses["cam/b.jpg"],
        "cam/upload.jpg": "done",
    }
    assert sorted([statuses["cam/a.jpg"], statuses["cam/b.jpg"]]) == ["done", "duplicate"]


def test_files_dropped_while_the_watcher_was_down_are_found_on_its_next_start_manage(spawn, env, root):
    watcher, _ = start_manage(spawn, env, "watch_cameras", "worker")
    (root / "cam").mkdir()
    good_jpeg(root / "cam" / "before.jpg", seed=8)
    settled(1)
    watcher.stop()
    for n in range(3):
        good_jpeg(root / "cam" / f"during-{n}.jpg", seed=20 + n)
    time.sleep(1)
    assert Ingest.objects.count() == 1
    start_manage(spawn, env, "watch_cameras")
    settled(4)
    assert sorted(Ingest.objects.values_list("path", flat=True)) == [
        "cam/before.jpg",
        "cam/during-0.jpg",
        "cam/during-1.jpg",
        "cam/during-2.jpg",
    ]


def test_every_bad_input_is_a_recorded_rejection_and_nothing_stops(spawn, env, root, tmp_path):
    watcher, worker = start_manage(spawn, env, "watch_cameras", "worker")
    folder = root / "cam"
    folder.mkdir()
    time.sleep(1)
    expected = {}
    for kind, build, reason in BAD_CASES:
        path = build(folder)
        expected[path.relative_to(root).as_posix()] = (kind, reason)
    time.sleep(1)
    wait_for(
        lambda: Ingest.objects.filter(status="rejected").count() >= len(expected) - 1,
        timeout=30,
        what=f"rejections: {list(Ingest.objects.values_list('path', 'status', 'reason'))}",
    )
    rows = {r.path: r for r in Ingest.objects.all()}
    for rel, (kind, reason) in expected.items():
        if rel not in rows:
            continue  # a file deleted before the watcher saw it close is not an upload
        assert rows[rel].status == "rejected", (kind, rows[rel].status, rows[rel].reason)
        assert reason in rows[rel].reason, (kind, rows[rel].reason)
    assert len(rows) >= len(expected) - 1
    assert watcher.popen.poll() is None and worker.popen.poll() is None
    good_jpeg(folder / "after.jpg", seed=30)
    for n, name in enumerate(GOOD_ODD_NAMES):  # unicode, spaces, a newline: fine names
        (good_png if name.endswith(".png") else good_jpeg)(folder / name, seed=40 + n)
    wait_for(
        lambda: (
            Ingest.objects.filter(status="done", path__in=[f"cam/{n}" for n in GOOD_ODD_NAMES]).count()
            == len(GOOD_ODD_NAMES)
        ),
        timeout=20,
        what=lambda: list(Ingest.objects.values_list("path", "status", "reason")),
    )
    wait_for(
        lambda: Ingest.objects.filter(path="cam/after.jpg", status="done").exists(),
        timeout=20,
        what="a good file after the bad ones",
    )


def test_killing_every_worker_process_during_a_burst_loses_and_repeats_nothing(env, root, tmp_path):
    env = {**env, "HOMESEC_TASK_TIMEOUT_S": "5", "HOMESEC_INGEST_STALE_S": "6", "HOMESEC_INGEST_BATCH": "4"}
    manage = str(REPO / "manage.py")
    supervisor = Supervisor(
        [
            ProcessSpec("worker", [sys.executable, manage, "worker"], env),
            ProcessSpec("watcher", [sys.executable, manage, "watch_cameras"], env),
        ],
        poll_s=0.1,
    )
    runner = threading.Thread(target=supervisor.supervise, daemon=True)
    runner.start()
    try:
        (root / "burst").mkdir()
        time.sleep(3)
        sources = []
        for n in range(40):
            path = root / "burst" / f"MDAlarm_20260101-1710{n:02d}.jpg"
            good_jpeg(path, seed=1000 + n)
            sources.append(path)
            if n == 20:
                worker = supervisor.children[0].popen
                os.killpg(worker.pid, signal.SIGKILL)
            time.sleep(0.05)
        wait_for(lambda: supervisor.children[0].restarts, timeout=10, what="the worker restart")
        settled(40, timeout=60)
        assert Ingest.objects.filter(status="done").count() == 40
        assert sorted(Ingest.objects.values_list("path", flat=True)) == sorted(
            p.relative_to(root).as_posix() for p in sources
        )
        ids = set(Ingest.objects.values_list("pk", flat=True))
        wait_for(lambda: len(stage_log(env)) >= 40, timeout=30, what="every hand-off")
        time.sleep(2)
        log = stage_log(env)
        assert sorted(log) == sorted(ids), "each ingest reaches the next stage exactly once"
    finally:
        supervisor.stopping = True
        runner.join(timeout=30)


def test_a_photo_uploaded_through_the_built_in_ftp_receiver_is_ingested(spawn, env, root):
    import ftplib
    import io

    from cameras.ftp import ftp_account_create
    from tests.cameras.corpus import jpeg_bytes
    from tests.support.processes import free_port

    camera = Camera.objects.create(id="porch", name="Porch", folder="Porch")
    ftp_account_create(camera=camera, username="porchcam", password="porch-secret-1")
    port = free_port()
    ftp = spawn(
        [sys.executable, str(REPO / "manage.py"), "ftp_server"],
        {**env, "HOMESEC_FTP_PORT": str(port), "HOMESEC_FTP_BIND": "127.0.0.1"},
        "ftp",
    )
    start_manage(spawn, env, "watch_cameras", "worker")
    wait_for(lambda: "listening" in ftp.output(), timeout=20, what=ftp.output)
    with ftplib.FTP() as session:
        session.connect("127.0.0.1", port, timeout=5)
        session.login("porchcam", "porch-secret-1")
        session.mkd("snap")
        session.storbinary("STOR snap/MDAlarm_20260101-171020.jpg.part", io.BytesIO(jpeg_bytes(seed=9)))
        session.rename("snap/MDAlarm_20260101-171020.jpg.part", "snap/MDAlarm_20260101-171020.jpg")
    settled(1)
    row = Ingest.objects.get()
    assert (row.camera_id, row.path, row.status) == ("porch", "Porch/snap/MDAlarm_20260101-171020.jpg", "done")


@pytest.mark.parametrize("polling", [False, True], ids=["inotify", "polling"])
def test_a_folder_symlinked_out_of_the_camera_folder_is_never_ingested(spawn, env, root, tmp_path, polling):
    outside = tmp_path / "elsewhere"
    good_jpeg(outside / "private.jpg", seed=5)
    (root / "door").mkdir()
    watching = {**env, "HOMESEC_WATCH_POLLING": "1" if polling else "0", "HOMESEC_WATCH_RESCAN_S": "1"}
    start_manage(spawn, watching, "watch_cameras", "worker")
    os.symlink(outside, root / "door" / "nas")  # `door/nas -> /home/...`
    good_jpeg(root / "door" / "after.jpg", seed=6)
    wait_for(
        lambda: Ingest.objects.filter(path="door/after.jpg", status="done").exists(),
        timeout=30,
        what=lambda: list(Ingest.objects.values_list("path", "status", "reason")),
    )
    time.sleep(2)  # two rescans of the whole tree
    settled(1)
    assert not Ingest.objects.filter(path__startswith="door/nas", status="done").exists()
