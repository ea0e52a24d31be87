"""Browser copies of clips on the slow lane: claimed like every durable row, counted when a
worker dies on them, given up as a dead letter, and replayable."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone

from cameras.ingest import ingest_process, ingest_register
from detections.models import Clip
from detections.services import clip_transcode, detection_accept, detection_process, detection_sweep
from homesec.core.deadletters import dead_letter_replay
from homesec.core.models import DeadLetter
from tests.cameras.corpus import good_clip
from tests.support.processes import wait_for

pytestmark = pytest.mark.django_db(transaction=True)
TRANSCODE = "detections.tasks.clip_transcode"


@pytest.fixture(autouse=True)
def configured(tmp_path, settings):
    settings.CAMERA_ROOT = tmp_path / "cameras"
    settings.MEDIA_ROOT = tmp_path / "media"
    settings.CAMERA_ROOT.mkdir()
    settings.INGEST_NEXT_STAGE = settings.DETECT_NEXT_STAGE = ""
    settings.DETECTOR = "opencv"


def a_clip(settings, seconds: float = 2, name: str = "record.mp4", w: int = 320, h: int = 240) -> Clip:
    path = good_clip(settings.CAMERA_ROOT / "porch" / name, seconds=seconds, w=w, h=h)
    ids = ingest_register(paths=[path])
    ingest_process(ingest_ids=ids)
    detection_process(run_ids=detection_accept(ingest_ids=ids))
    return Clip.objects.get(ingest_id=ids[0])


def test_a_transcode_a_worker_is_running_is_not_run_a_second_time(settings, queues):
    clip = a_clip(settings, seconds=10, w=1280, h=720)  # long enough to still be running below
    first = threading.Thread(target=lambda: (clip_transcode(clip_ids=[clip.pk]), connection.close()))
    first.start()
    wait_for(lambda: Clip.objects.get(pk=clip.pk).transcode == "running", timeout=10, interval=0.005, what="the claim")
    assert clip_transcode(clip_ids=[clip.pk]) == {"not due": 1}  # a second copy of its task
    first.join()
    clip.refresh_from_db()
    assert (clip.transcode, clip.attempts) == ("done", 1)
    leftovers = [p.name for p in (settings.MEDIA_ROOT / "clips" / "porch").iterdir()]
    assert leftovers == [f"{clip.ingest_id}.mp4"]


def test_a_transcode_that_keeps_killing_its_worker_becomes_a_dead_letter(settings, queues):
    clip = a_clip(settings)
    long_ago = timezone.now() - timedelta(seconds=settings.SLOW_STALE_S + 5)
    # Its worker died three times: killed at the time limit, or out of memory.
    Clip.objects.filter(pk=clip.pk).update(transcode="running", claimed_at=long_ago, queued_at=long_ago, attempts=3)
    queues.purge()
    detection_sweep()
    clip.refresh_from_db()
    assert clip.transcode == "failed" and "worker died" in clip.transcode_error
    letter = DeadLetter.objects.get(key=f"transcode:{clip.pk}")
    assert "worker died" in letter.error
    assert queues.queued("slow") == []  # not sent again


def test_the_sweep_waits_the_slow_lanes_stale_period_before_sending_a_transcode_again(settings, queues):
    clip = a_clip(settings)
    queues.purge()
    waited = timezone.now() - timedelta(seconds=settings.INGEST_STALE_S + 10)  # long for the main lane only
    Clip.objects.filter(pk=clip.pk).update(queued_at=waited)
    detection_sweep()
    assert queues.queued("slow") == []  # it may simply be waiting behind other transcodes
    Clip.objects.filter(pk=clip.pk).update(queued_at=timezone.now() - timedelta(seconds=settings.SLOW_STALE_S + 10))
    detection_sweep()
    assert queues.queued("slow") == [(TRANSCODE, ([clip.pk],))]


def test_a_clip_that_cannot_be_transcoded_is_retried_then_a_dead_letter_that_can_be_replayed(settings, queues):
    clip = a_clip(settings)
    source = settings.CAMERA_ROOT / clip.ingest.path
    kept = source.read_bytes()
    source.write_bytes(b"not a clip any more")
    for _ in range(3):
        Clip.objects.filter(pk=clip.pk).update(next_attempt_at=None)
        clip_transcode(clip_ids=[clip.pk])
    clip.refresh_from_db()
    assert (clip.transcode, clip.attempts) == ("failed", 3)
    letter = DeadLetter.objects.get(key=f"transcode:{clip.pk}")

    source.write_bytes(kept)  # the operator fixed what was wrong, and replays
    queues.purge()
    dead_letter_replay(letters=[letter])
    [(task, args)] = queues.queued("slow")
    from django.utils.module_loading import import_string

    import_string(task)(*args)
    clip.refresh_from_db()
    assert clip.transcode == "done" and (settings.MEDIA_ROOT / clip.playable).is_file()
    assert not DeadLetter.objects.filter(key=f"transcode:{clip.pk}").exists()
