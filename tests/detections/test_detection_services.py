"""The detection stage against the real database, files on disk and a local detector server."""

from datetime import timedelta
from pathlib import Path

import cv2
import pytest
from django.utils import timezone

from cameras.ingest import ingest_process, ingest_register
from cameras.models import Camera, Ingest, Zone
from detections.backends import get_detector
from detections.models import Clip, Detection, DetectionRun
from detections.services import clip_transcode, detection_accept, detection_process, detection_replay, detection_sweep
from homesec.core.models import Breaker, DeadLetter
from tests.cameras.corpus import good_clip, good_jpeg

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def configured(tmp_path, settings, server):
    settings.CAMERA_ROOT = tmp_path / "cameras"
    settings.MEDIA_ROOT = tmp_path / "media"
    settings.CAMERA_ROOT.mkdir()
    settings.INGEST_NEXT_STAGE = ""
    settings.DETECTOR, settings.DETECTOR_URL, settings.DETECTOR_API = "http", server.url, "reference"
    settings.DETECTOR_TIMEOUT_S = 1.0
    settings.DETECTOR_COOLDOWN_S = 0.3
    get_detector.cache_clear()
    yield
    get_detector.cache_clear()


def ingested(settings, *names, clip=False) -> list[int]:
    paths = []
    for n, name in enumerate(names):
        path = settings.CAMERA_ROOT / "Front Door" / name
        (good_clip(path, seconds=7, fps=10) if clip else good_jpeg(path, w=1280, h=720, seed=n))
        paths.append(path)
    ids = ingest_register(paths=paths)
    ingest_process(ingest_ids=ids)
    return ids


def runs(ids) -> list[int]:
    return detection_accept(ingest_ids=ids)


def test_a_photo_gets_detections_with_zones_and_a_thumbnail(settings):
    ids = ingested(settings, "MDAlarm_20260101-171020.jpg")
    camera = Camera.objects.get()
    Zone.objects.create(
        camera=camera, name="porch", kind="entry", polygon=[[0.3, 0.5], [0.7, 0.5], [0.7, 0.9], [0.3, 0.9]]
    )
    Zone.objects.create(camera=camera, name="street", kind="sidewalk", polygon=[[0, 0], [1, 0], [1, 0.2], [0, 0.2]])
    assert detection_process(run_ids=runs(ids)) == {"done": 1}
    detection = Detection.objects.get()  # the low-confidence cat is dropped
    assert (detection.label, detection.confidence, detection.x, detection.y, detection.width, detection.height) == (
        "person",
        0.93,
        426,
        240,
        426,
        360,
    )
    assert (detection.frame_width, detection.frame_height, detection.frame_offset_s) == (1280, 720, None)
    assert detection.zones == ["porch"] and detection.zone_kinds == ["entry"]
    assert detection.captured_at == Ingest.objects.get().captured_at
    thumb = cv2.imread(str(settings.MEDIA_ROOT / detection.thumbnail))
    assert thumb is not None and thumb.shape[1] == 640
    run = DetectionRun.objects.get()
    assert (run.status, run.backend, run.frames, run.attempts) == ("done", "http", 1, 0)


def test_taking_the_same_ingests_twice_makes_one_run_and_processing_twice_one_set_of_detections(settings):
    ids = ingested(settings, "a.jpg")
    first = runs(ids)
    assert runs(ids) == [] or runs(ids) == first
    detection_process(run_ids=first)
    detection_process(run_ids=first)
    assert DetectionRun.objects.count() == 1 and Detection.objects.count() == 1


@pytest.mark.parametrize(
    ("filters", "zone", "kept"),
    [
        ({}, None, 1),
        ({"person": {"min_confidence": 0.95}}, None, 0),
        ({"person": {"min_area": 0.2}}, None, 0),
        ({"person": {"max_area": 0.1}}, None, 0),
        ({"person": {"min_area": 0.1, "max_area": 0.2}}, None, 1),
        ({}, [[0.3, 0.5], [0.7, 0.5], [0.7, 0.9], [0.3, 0.9]], 0),  # an ignore mask under its feet
        ({}, [[0, 0], [1, 0], [1, 0.3], [0, 0.3]], 1),  # a mask elsewhere
    ],
)
def test_camera_filters_and_ignore_masks_decide_what_is_kept(settings, filters, zone, kept):
    ids = ingested(settings, "a.jpg")
    camera = Camera.objects.get()
    camera.filters = filters
    camera.save()
    if zone:
        Zone.objects.create(camera=camera, name="tree", kind="ignore", polygon=zone)
    detection_process(run_ids=runs(ids))
    assert Detection.objects.count() == kept
    assert DetectionRun.objects.get().status == "done"


def test_a_clip_gets_frames_every_two_seconds_with_offsets_and_a_browser_copy(settings):
    ids = ingested(settings, "record.mp4", clip=True)
    detection_process(run_ids=runs(ids))
    offsets = sorted(Detection.objects.values_list("frame_offset_s", flat=True))
    assert offsets == [0.0, 2.0, 4.0, 6.0]
    assert DetectionRun.objects.get().frames == 4
    clip = Clip.objects.get()
    assert (clip.transcode, clip.codec, clip.duration_s) == ("pending", "FMP4", 7.0)
    clip_transcode(clip_ids=[clip.pk])
    clip.refresh_from_db()
    assert clip.transcode == "done"
    capture = cv2.VideoCapture(str(settings.MEDIA_ROOT / clip.playable))
    fourcc = int(capture.get(cv2.CAP_PROP_FOURCC))
    assert "".join(chr(fourcc >> 8 * i & 0xFF) for i in range(4)) in ("avc1", "h264")
    assert int(capture.get(cv2.CAP_PROP_FRAME_COUNT)) == 70


def test_an_outage_defers_without_using_tries_opens_the_breaker_and_resumes_by_itself(settings, server):
    ids = ingested(settings, *[f"{n}.jpg" for n in range(8)])
    run_ids = runs(ids)
    port = server.port
    server.stop()
    for run_id in run_ids[:5]:
        assert detection_process(run_ids=[run_id]) == {"deferred": 1}
    assert Breaker.objects.get(name="detector").state == "open"
    assert detection_process(run_ids=run_ids[5:]) == {"deferred": 3}  # no call made while open
    assert set(DetectionRun.objects.values_list("status", "attempts")) == {("pending", 0)}
    assert not DeadLetter.objects.exists()

    server.start(port=port)
    deadline = timezone.now() + timedelta(seconds=20)
    while DetectionRun.objects.exclude(status="done").exists() and timezone.now() < deadline:
        DetectionRun.objects.update(queued_at=timezone.now() - timedelta(days=1))
        detection_sweep()  # what the watcher's clock does every few seconds
        detection_process(run_ids=run_ids)
    assert set(DetectionRun.objects.values_list("status", flat=True)) == {"done"}
    assert Detection.objects.count() == 8
    assert Breaker.objects.get(name="detector").state == "closed"


def test_a_file_the_detector_refuses_is_a_dead_letter_at_once_and_can_be_replayed(settings, server):
    ids = ingested(settings, "a.jpg")
    server.mode = "reject"
    run_ids = runs(ids)
    assert detection_process(run_ids=run_ids) == {"failed": 1}
    letter = DeadLetter.objects.get()
    assert letter.key == f"detect:{run_ids[0]}" and "refused the image" in letter.error
    server.mode = "ok"
    assert detection_replay(run_ids=run_ids) == {"done": 1}
    assert not DeadLetter.objects.exists()


def test_garbage_answers_use_up_tries_then_become_a_dead_letter(settings, server):
    ids = ingested(settings, "a.jpg")
    server.mode = "garbage"
    run_ids = runs(ids)
    for _ in range(2):
        assert detection_process(run_ids=run_ids) == {"retry": 1}
        DetectionRun.objects.update(next_attempt_at=timezone.now())
    assert detection_process(run_ids=run_ids) == {"failed": 1}
    assert DetectionRun.objects.get().attempts == 3
    assert "not JSON" in DeadLetter.objects.get().error


def test_an_outage_older_than_the_limit_becomes_a_dead_letter(settings, server):
    settings.DETECT_MAX_AGE_H = 1
    ids = ingested(settings, "a.jpg")
    Ingest.objects.update(arrived_at=timezone.now() - timedelta(hours=2))
    server.stop()
    assert detection_process(run_ids=runs(ids)) == {"failed": 1}
    assert "still unavailable after 1 h" in DeadLetter.objects.get().error


def test_a_disabled_camera_is_skipped(settings):
    ids = ingested(settings, "a.jpg")
    Camera.objects.update(enabled=False)
    assert detection_process(run_ids=runs(ids)) == {"skipped": 1}
    assert not Detection.objects.exists()


def test_thumbnails_live_under_the_media_root(settings):
    ids = ingested(settings, "a.jpg")
    detection_process(run_ids=runs(ids))
    thumb = Path(Detection.objects.get().thumbnail)
    assert not thumb.is_absolute() and ".." not in thumb.parts


def test_a_run_that_keeps_killing_its_worker_becomes_a_dead_letter_and_its_batch_mates_proceed(settings, queues):
    ids = ingested(settings, "a.jpg", "b.jpg", "c.jpg")
    run_ids = runs(ids)
    killer, *mates = run_ids
    long_ago = timezone.now() - timedelta(seconds=settings.INGEST_STALE_S + 5)
    DetectionRun.objects.update(status="running", claimed_at=long_ago, queued_at=long_ago)  # their worker died
    queues.purge()
    detection_process(run_ids=run_ids)
    assert sorted(queues.queued("homesec")) == sorted(("detections.tasks.detection_process", ([pk],)) for pk in run_ids)
    for pk in mates:
        assert detection_process(run_ids=[pk]) == {"done": 1}
    # The killer took two more workers down (each re-claim counted a try) and is due again.
    DetectionRun.objects.filter(pk=killer).update(status="running", claimed_at=long_ago, attempts=2)
    assert detection_process(run_ids=[killer]) == {"failed": 1}
    run = DetectionRun.objects.get(pk=killer)
    assert run.status == "failed" and "worker died" in run.error
    assert "worker died" in DeadLetter.objects.get(key=f"detect:{killer}").error


def test_a_photo_replaced_after_its_check_is_not_decoded(settings, server):
    ids = ingested(settings, "a.jpg")
    path = settings.CAMERA_ROOT / Ingest.objects.get().path
    good_jpeg(path, w=1280, h=720, seed=99)  # overwritten over FTP after the ingest checked it
    assert detection_process(run_ids=runs(ids)) == {"failed": 1}
    assert "changed after it was checked" in DetectionRun.objects.get().error
    assert server.requests == [] and not Detection.objects.exists()
