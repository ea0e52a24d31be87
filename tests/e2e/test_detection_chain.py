"""Whole chain with the real processes: camera folder -> watcher -> ingest -> detection."""

from __future__ import annotations

import os
from pathlib import Path

import cv2
import pytest

from cameras.models import Ingest
from detections.models import Clip, Detection, DetectionRun
from tests.support.fake_detector import FakeDetector
from tests.support.processes import ALERT_WORKER, SLOW_WORKER, pipeline_env, start_manage, wait_for

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]
PHOTOS = Path(__file__).parent.parent / "detections" / "photos"
# Six breaker cool-downs (2.5 s each) by default: enough to show that waiting uses no try.
# HOMESEC_TEST_OUTAGE_S=120 makes a longer run.
OUTAGE_S = float(os.environ.get("HOMESEC_TEST_OUTAGE_S", "15"))


def astronaut_clip(path: Path, seconds: int = 5, fps: int = 10) -> None:
    """A clip a browser cannot play (mp4v), showing the astronaut portrait."""
    frame = cv2.resize(cv2.imread(str(PHOTOS / "astronaut.jpg")), (640, 640))
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), fps, (640, 640))
    for _ in range(seconds * fps):
        writer.write(frame)
    writer.release()


def test_photos_and_a_clip_become_detections_with_thumbnails_and_a_playable_copy(tmp_path, spawn):
    from tests.support.fake_llm import GOOD, FakeLLM

    llm = FakeLLM().start()  # down for its first request, then answering
    llm.script = ["error500"]
    env, root = pipeline_env(
        tmp_path,
        HOMESEC_DETECTOR="opencv",
        HOMESEC_EVENT_IDLE_S="4",
        HOMESEC_LLM_URL=llm.url,
        HOMESEC_LLM_MODEL="qwen3-8b",
    )
    start_manage(spawn, env, ["watch_cameras"], ["worker"], ALERT_WORKER, SLOW_WORKER)
    folder = root / "Front Door"
    folder.mkdir()
    for name in ("astronaut.jpg", "coffee.jpg"):
        (folder / f"MDAlarm_20260101-17102{len(name) % 10}_{name}").write_bytes((PHOTOS / name).read_bytes())
    staging = tmp_path / "staging.mp4"
    astronaut_clip(staging)
    os.rename(staging, folder / "record.mp4")  # an FTP server's rename into place

    wait_for(
        lambda: DetectionRun.objects.filter(status="done").count() == 3,
        timeout=90,
        what=lambda: list(DetectionRun.objects.values_list("ingest__path", "status", "error")),
    )
    photo = Detection.objects.filter(ingest__path__endswith="astronaut.jpg", label="person")
    assert photo.exists() and all((Path(env["HOMESEC_DATA_DIR"]) / "media" / d.thumbnail).is_file() for d in photo)
    assert not Detection.objects.filter(ingest__path__endswith="coffee.jpg", label="person").exists()
    offsets = sorted(
        set(Detection.objects.filter(ingest__path="Front Door/record.mp4").values_list("frame_offset_s", flat=True))
    )
    assert offsets == [0.0, 2.0, 4.0]
    assert Ingest.objects.get(path="Front Door/record.mp4").camera_id == "front_door"
    # ... and grouped: the photos and the clip arrived together, so they are one event.
    from events.models import Event

    event = wait_for(lambda: Event.objects.filter(camera_id="front_door").first(), timeout=30, what="an event")
    wait_for(
        lambda: Event.objects.get(pk=event.pk).detection_count == Detection.objects.count(),
        timeout=30,
        what=lambda: list(Event.objects.values()),
    )
    assert Event.objects.count() == 1 and "person" in Event.objects.get().classes
    # Quiet for the idle time: the clock closes the event. The LLM fails its first request, so
    # the rules assess it as a fallback; the clock sends it back, and the LLM's answer is stored
    # with full provenance.
    closed = wait_for(
        lambda: Event.objects.filter(status="closed", analyzer="llm").first(),
        timeout=60,
        what=lambda: list(Event.objects.values("status", "assessment_state", "analyzer", "provenance")),
    )
    assert (closed.assessment_state, closed.risk_score, closed.risk_level) == ("assessed", 72, "high")
    assert closed.summary == GOOD["summary"]
    provenance = closed.provenance
    assert (provenance["provider"], provenance["model"], provenance["tokens_in"], provenance["tokens_out"]) == (
        llm.url,
        "qwen3-8b",
        321,
        54,
    )
    assert provenance["latency_ms"] > 0 and provenance["raw"] and "prompt_version" in provenance
    assert len(llm.requests) >= 2  # the failed one, then the re-assessment
    llm.stop()
    clip = wait_for(
        lambda: Clip.objects.filter(transcode="done").first(), timeout=60, what=lambda: list(Clip.objects.values())
    )
    playable = cv2.VideoCapture(str(Path(env["HOMESEC_DATA_DIR"]) / "media" / clip.playable))
    assert playable.isOpened() and int(playable.get(cv2.CAP_PROP_FRAME_COUNT)) == 50


def test_a_detector_outage_mid_run_loses_nothing_and_heals_itself(tmp_path, spawn):
    server = FakeDetector().start()
    try:
        env, root = pipeline_env(
            tmp_path,
            HOMESEC_DETECTOR="http",
            HOMESEC_DETECTOR_URL=server.url,
            HOMESEC_DETECTOR_TIMEOUT_S="2",
            HOMESEC_DETECTOR_COOLDOWN_S="2.5",
        )
        start_manage(spawn, env, ["watch_cameras"], ["worker"])
        folder = root / "garage"
        folder.mkdir()
        for n in range(5):
            (folder / f"before-{n}.jpg").write_bytes(_photo(n))
        wait_for(lambda: DetectionRun.objects.filter(status="done").count() == 5, timeout=60, what="the first five")
        port = server.port
        server.stop()
        for n in range(20):
            (folder / f"during-{n}.jpg").write_bytes(_photo(100 + n))
        wait_for(lambda: Ingest.objects.filter(status="done").count() == 25, timeout=30, what="ingests during outage")
        import time

        time.sleep(OUTAGE_S)
        assert DetectionRun.objects.filter(status="done").count() == 5
        assert not DetectionRun.objects.filter(status="failed").exists()
        server.start(port=port)
        wait_for(
            lambda: DetectionRun.objects.filter(status="done").count() == 25,
            timeout=60,
            what=lambda: list(DetectionRun.objects.values_list("status", "deferrals", "error")),
        )
        assert set(DetectionRun.objects.values_list("attempts", flat=True)) == {0}
        assert Detection.objects.filter(label="person").count() == 25
    finally:
        server.stop()


def _photo(seed: int) -> bytes:
    from tests.cameras.corpus import jpeg_bytes

    return jpeg_bytes(seed=seed)


def test_a_sure_person_is_assessed_at_once_and_the_event_stays_one(tmp_path, spawn):
    server = FakeDetector().start()  # it sees a person at 0.93: above the fast-path 0.90
    try:
        env, root = pipeline_env(tmp_path, HOMESEC_DETECTOR="http", HOMESEC_DETECTOR_URL=server.url)
        start_manage(spawn, env, ["watch_cameras"], ["worker"], ALERT_WORKER, SLOW_WORKER)
        from events.models import Event

        (root / "porch").mkdir()
        (root / "porch" / "a.jpg").write_bytes(_photo(1))
        event = wait_for(
            lambda: Event.objects.filter(assessment_state="assessed").first(),
            timeout=30,
            what=lambda: list(Event.objects.values()),
        )
        assert event.status == "open"  # assessed without waiting for the close
        (root / "porch" / "b.jpg").write_bytes(_photo(2))
        wait_for(lambda: Event.objects.get(pk=event.pk).detection_count == 2, timeout=30, what="the second photo")
        assert Event.objects.count() == 1
    finally:
        server.stop()
