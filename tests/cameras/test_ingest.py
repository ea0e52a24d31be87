"""Ingest services against the real database and files on disk."""

import errno
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from django.db import connection
from django.test import override_settings
from django.utils import timezone

from cameras.ingest import ingest_claim_for_stage, ingest_process, ingest_register, ingest_replay, ingest_sweep
from cameras.models import Camera, Ingest
from cameras.services import camera_get_or_create_for_folder, camera_normalise_id
from homesec.core.models import DeadLetter
from tests.cameras.corpus import good_jpeg

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def camera_root(tmp_path, settings):
    settings.CAMERA_ROOT = tmp_path / "cameras"
    settings.CAMERA_ROOT.mkdir()
    settings.INGEST_NEXT_STAGE = ""
    return settings.CAMERA_ROOT


def drop(root: Path, rel: str, **kw) -> Path:
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    good_jpeg(path, **kw)
    return path


@pytest.mark.parametrize(
    ("folder", "expected"),
    [("Front Door", "front_door"), ("garage", "garage"), ("Cámara Jardín", "camara_jardin"), ("  --  ", "camera")],
)
def test_folder_names_normalise_to_camera_ids(folder, expected):
    assert camera_normalise_id(folder) == expected


def test_a_second_folder_with_a_taken_id_gets_a_suffix_not_a_merge(caplog):
    first = camera_get_or_create_for_folder(folder="Front Door")
    second = camera_get_or_create_for_folder(folder="front-door")
    assert (first.id, second.id) == ("front_door", "front_door_2")
    assert "normalises to the taken camera id" in caplog.text
    assert camera_get_or_create_for_folder(folder="front-door").pk == "front_door_2"


def test_registering_a_file_twice_makes_one_row(camera_root):
    path = drop(camera_root, "Front Door/snap/MDAlarm_20260101-171020.jpg")
    first = ingest_register(paths=[path])
    again = ingest_register(paths=[path])
    assert len(first) == 1 and again == []
    row = Ingest.objects.get()
    assert (row.camera_id, row.path, row.status) == (
        "front_door",
        "Front Door/snap/MDAlarm_20260101-171020.jpg",
        "pending",
    )


def test_a_good_photo_is_done_with_its_capture_time_from_the_name(camera_root):
    path = drop(camera_root, "Front Door/snap/MDAlarm_20260101-171020.jpg", w=1280, h=720)
    Camera.objects.update_or_create(
        pk="front_door", defaults={"name": "Front Door", "folder": "Front Door", "time_zone": "Europe/Berlin"}
    )
    ids = ingest_register(paths=[path])
    assert ingest_process(ingest_ids=ids) == {"done": 1}
    row = Ingest.objects.get()
    assert (row.status, row.media_type, row.width, row.height, row.captured_from) == (
        "done",
        "image",
        1280,
        720,
        "name",
    )
    assert row.captured_at == datetime(2026, 1, 1, 16, 10, 20, tzinfo=UTC)  # 17:10:20 in Berlin
    assert len(row.sha256) == 64
    camera = Camera.objects.get()
    assert camera.last_seen_at is not None and camera.status == "online"


def test_processing_twice_changes_nothing_the_second_time(camera_root):
    ids = ingest_register(paths=[drop(camera_root, "cam/a.jpg")])
    assert ingest_process(ingest_ids=ids) == {"done": 1}
    before = Ingest.objects.values().get()
    assert ingest_process(ingest_ids=ids) == {}
    assert Ingest.objects.values().get() == before


def test_the_same_bytes_under_two_names_are_one_ingest_and_a_recorded_duplicate(camera_root):
    a = drop(camera_root, "cam/a.jpg", seed=7)
    b = camera_root / "cam" / "b.jpg"
    b.write_bytes(a.read_bytes())
    ingest_process(ingest_ids=ingest_register(paths=[a, b]))
    rows = {r.path: r for r in Ingest.objects.all()}
    statuses = sorted(r.status for r in rows.values())
    assert statuses == ["done", "duplicate"]
    dup = next(r for r in rows.values() if r.status == "duplicate")
    done = next(r for r in rows.values() if r.status == "done")
    assert dup.duplicate_of_id == done.pk and dup.reason == f"same content as {done.path}"


def test_racing_workers_still_make_one_ingest_per_content(camera_root):
    paths = []
    for n in range(8):
        source = drop(camera_root, f"cam/src{n}.jpg", seed=100 + n)
        copy = camera_root / "cam" / f"copy{n}.jpg"
        copy.write_bytes(source.read_bytes())
        paths += [source, copy]
    ids = ingest_register(paths=paths)
    # Two workers, each given every row's twin in the other order: claims and the unique
    # content key decide, not timing.
    halves = [ids[0::2] + ids[1::2], ids[1::2] + ids[0::2]]
    barrier = threading.Barrier(2)

    def work(batch):
        barrier.wait()
        try:
            for i in batch:
                ingest_process(ingest_ids=[i])
        finally:
            connection.close()

    threads = [threading.Thread(target=work, args=(h,)) for h in halves]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert Ingest.objects.filter(status="done").count() == 8
    assert Ingest.objects.filter(status="duplicate").count() == 8
    assert Ingest.objects.exclude(content_key=None).count() == 8


def test_repeated_rejections_put_the_camera_in_error_and_a_good_upload_clears_it(camera_root):
    folder = camera_root / "cam"
    folder.mkdir()
    for n in range(3):
        (folder / f"bad{n}.jpg").write_text("not a photo")
    ingest_process(ingest_ids=ingest_register(paths=sorted(folder.iterdir())))
    assert set(Ingest.objects.values_list("status", flat=True)) == {"rejected"}
    camera = Camera.objects.get()
    assert camera.status == "error" and "uploads keep being rejected" in camera.status_reason
    ingest_process(ingest_ids=ingest_register(paths=[drop(camera_root, "cam/good.jpg")]))
    assert Camera.objects.get().status == "online"


def test_an_io_error_is_retried_with_backoff_then_dead_lettered_then_replayed(camera_root, monkeypatch):
    path = drop(camera_root, "cam/flaky.jpg")
    real_open = Path.open

    def failing_open(self, *args, **kwargs):
        if self.name == "flaky.jpg":
            raise OSError(errno.EIO, "Input/output error")
        return real_open(self, *args, **kwargs)

    monkeypatch.setattr(Path, "open", failing_open)
    ids = ingest_register(paths=[path])
    for attempt in (1, 2):
        assert ingest_process(ingest_ids=ids) == {"retry": 1}
        row = Ingest.objects.get()
        assert row.status == "pending" and row.attempts == attempt
        assert timedelta(0) < row.next_attempt_at - timezone.now() <= timedelta(seconds=2**attempt)
        assert ingest_process(ingest_ids=ids) == {}  # not due yet: the sweep sends it when it is
        Ingest.objects.update(next_attempt_at=timezone.now() - timedelta(seconds=1))
        assert ingest_sweep()["ingests"] == 1
    assert ingest_process(ingest_ids=ids) == {"failed": 1}
    letter = DeadLetter.objects.get()
    assert letter.key == f"ingest:{ids[0]}" and "Input/output error" in letter.error
    assert letter.payload == {"ingest_ids": ids} and letter.attempts == 3

    monkeypatch.setattr(Path, "open", real_open)
    ingest_replay(ingest_ids=ids)
    assert Ingest.objects.get().status == "done"
    assert not DeadLetter.objects.exists()
    ingest_replay(ingest_ids=ids)  # replaying finished work changes nothing
    assert Ingest.objects.get().status == "done"


@override_settings(INGEST_STALE_S=60)
def test_the_sweep_resends_abandoned_rows_and_untaken_hand_offs(camera_root, settings):
    ids = ingest_register(paths=[drop(camera_root, "cam/a.jpg", seed=1), drop(camera_root, "cam/b.jpg", seed=2)])
    assert ingest_sweep() == {"ingests": 0, "hand_offs": 0}  # fresh rows: their tasks are still on the way
    long_ago = timezone.now() - timedelta(seconds=61)
    Ingest.objects.filter(pk=ids[0]).update(queued_at=long_ago)  # its task message was lost
    Ingest.objects.filter(pk=ids[1]).update(status="processing", claimed_at=long_ago, queued_at=long_ago)  # died
    assert ingest_sweep() == {"ingests": 2, "hand_offs": 0}
    assert ingest_sweep() == {"ingests": 0, "hand_offs": 0}  # sent again only after another stale period
    settings.INGEST_NEXT_STAGE = "tests.support.stage_stub.record"
    for pk in ids:  # the row whose worker died is tried on its own
        ingest_process(ingest_ids=[pk])
    Ingest.objects.update(queued_at=long_ago)
    assert ingest_sweep() == {"ingests": 0, "hand_offs": 2}


def test_the_next_stage_takes_each_row_exactly_once(camera_root):
    ids = ingest_register(paths=[drop(camera_root, "cam/a.jpg")])
    ingest_process(ingest_ids=ids)
    assert [r.pk for r in ingest_claim_for_stage(ingest_ids=ids)] == ids
    assert ingest_claim_for_stage(ingest_ids=ids) == []


def test_a_silent_camera_with_an_offline_limit_goes_offline_and_an_upload_brings_it_back(camera_root):
    from cameras.services import camera_check_offline

    ingest_process(ingest_ids=ingest_register(paths=[drop(camera_root, "quiet/a.jpg")]))
    ingest_process(ingest_ids=ingest_register(paths=[drop(camera_root, "motion_only/a.jpg", seed=2)]))
    Camera.objects.update(last_seen_at=timezone.now() - timedelta(minutes=30))
    Camera.objects.filter(pk="quiet").update(offline_after_min=15)
    assert camera_check_offline() == ["quiet"]  # motion_only has no limit: silence is normal for it
    assert camera_check_offline() == []
    camera = Camera.objects.get(pk="quiet")
    assert (camera.status, camera.status_reason) == ("offline", "no upload for 15 min")
    ingest_process(ingest_ids=ingest_register(paths=[drop(camera_root, "quiet/b.jpg", seed=3)]))
    assert Camera.objects.get(pk="quiet").status == "online"


def _died(ids: list[int], *, attempts: int) -> None:
    """The rows' worker died holding them (a crash, the time limit, out of memory)."""
    long_ago = timezone.now() - timedelta(seconds=3600)
    Ingest.objects.filter(pk__in=ids).update(
        status="processing", claimed_at=long_ago, queued_at=long_ago, attempts=attempts
    )


def test_a_file_that_keeps_killing_its_worker_becomes_a_dead_letter_and_its_batch_mates_proceed(camera_root, queues):
    ids = ingest_register(paths=[drop(camera_root, f"cam/{n}.jpg", seed=n) for n in range(3)])
    killer, *mates = ids
    _died(ids, attempts=1)  # the batch's worker died once
    queues.purge()
    ingest_process(ingest_ids=ids)
    # Each is tried alone from now on, so one file can only take itself down.
    assert sorted(queues.queued("homesec")) == sorted(("cameras.tasks.ingest_process", ([pk],)) for pk in ids)
    assert set(Ingest.objects.values_list("status", flat=True)) == {"processing"}
    for pk in mates:
        ingest_process(ingest_ids=[pk])
    assert set(Ingest.objects.filter(pk__in=mates).values_list("status", flat=True)) == {"done"}
    _died([killer], attempts=3)  # ... and the killer killed two more workers
    ingest_process(ingest_ids=[killer])
    row = Ingest.objects.get(pk=killer)
    assert row.status == "failed" and "worker died" in row.reason
    assert "worker died" in DeadLetter.objects.get(key=f"ingest:{killer}").error


def test_rows_stuck_in_endless_reclaims_become_dead_letters_when_homesec_starts(camera_root, queues):
    [stuck] = ingest_register(paths=[drop(camera_root, "cam/stuck.jpg")])
    _died([stuck], attempts=57)  # an install from before the limit was checked
    queues.purge()
    ingest_sweep()  # the watcher sweeps once as it starts
    assert Ingest.objects.get(pk=stuck).status == "failed"
    assert DeadLetter.objects.filter(key=f"ingest:{stuck}").exists()
    assert queues.queued("homesec") == []
