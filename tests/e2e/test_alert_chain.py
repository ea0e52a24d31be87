"""Alerts through the real processes: a photo dropped into a camera folder reaches an SMTP
server, a webhook receiver, an MQTT broker and an ntfy receiver; and a worker killed in
the middle of a delivery loses nothing."""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import signal
from datetime import timedelta
from urllib.parse import parse_qs, urlsplit

import pytest
from django.utils import timezone

from alerts.engine import alerts_evaluate
from alerts.models import Alert, AlertCheck, AlertRule, Notification
from events.models import Event
from tests.alerts.factory import assessed_event, webhook_channel
from tests.support.fake_detector import FakeDetector
from tests.support.processes import ALERT_WORKER, SLOW_WORKER, pipeline_env, start_manage, wait_for
from tests.support.servers import Receiver, Subscriber

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]
SECRET = "chain-secret"


def _photo(seed: int) -> bytes:
    from tests.cameras.corpus import jpeg_bytes

    return jpeg_bytes(seed=seed)


def test_a_photo_in_a_camera_folder_alerts_by_email_webhook_mqtt_and_ntfy(
    tmp_path, spawn, smtp_server, mqtt_broker, receiver
):
    detector = FakeDetector().start()  # a person at 0.93: the fast path
    ntfy = Receiver().start()
    subscriber = Subscriber(mqtt_broker.port)
    try:
        env, root = pipeline_env(
            tmp_path,
            HOMESEC_DETECTOR="http",
            HOMESEC_DETECTOR_URL=detector.url,
            HOMESEC_EVENT_IDLE_S="3",
            HOMESEC_ALERT_MIN_LEVEL="low",  # the rules score a lone person by day below "high"
            HOMESEC_PUBLIC_URL="https://homesec.example.org",
            HOMESEC_NOTIFY_WEBHOOK_URL=receiver.url + "/hook",
            HOMESEC_NOTIFY_WEBHOOK_SECRET=SECRET,
            HOMESEC_NOTIFY_EMAIL_TO="household@example.org",
            HOMESEC_SMTP_HOST="127.0.0.1",
            HOMESEC_SMTP_PORT=str(smtp_server.port),
            HOMESEC_NOTIFY_MQTT_URL=mqtt_broker.url,
            HOMESEC_NOTIFY_NTFY_URL=ntfy.url + "/homesec-house",
        )
        start_manage(spawn, env, ["watch_cameras"], ["worker"], ALERT_WORKER, SLOW_WORKER)
        (root / "porch").mkdir()
        (root / "porch" / "snapshot-1.jpg").write_bytes(_photo(7))

        alert = wait_for(
            lambda: Alert.objects.filter(state="delivered", notifications__status="delivered").first(),
            timeout=60,
            what=lambda: (
                list(Notification.objects.values("channel__name", "status", "error")),
                list(AlertCheck.objects.values("outcome", "decisions")),
                list(AlertRule.objects.values("name", "min_level")),
                list(Event.objects.values("status", "risk_score", "assessment_seq")),
            ),
        )
        wait_for(
            lambda: Notification.objects.filter(alert=alert, status="delivered").count() == 4,
            timeout=30,
            what=lambda: list(Notification.objects.values("channel__name", "status", "error")),
        )
        event_url = f"https://homesec.example.org/events/{alert.event_id}/"

        # The webhook, signed with the secret.
        [hook] = receiver.requests
        expected = "sha256=" + hmac.new(SECRET.encode(), hook["body"], hashlib.sha256).hexdigest()
        assert hmac.compare_digest(hook["headers"]["X-Homesec-Signature"], expected)
        body = json.loads(hook["body"])
        assert body["camera"]["id"] == "porch" and body["url"] == event_url and len(body["images"]) == 1

        # The email, with the event's thumbnail attached.
        [mail] = smtp_server.mailbox.messages
        assert mail["To"] == "household@example.org" and "porch" in mail["Subject"].lower()
        [attachment] = list(mail.iter_attachments())
        thumbnail = alert.event.detections.first().thumbnail
        media = tmp_path / "var" / "media"
        assert attachment.get_content() == (media / thumbnail).read_bytes()

        # ntfy, with the snapshot as its attachment.
        [push] = ntfy.requests
        assert urlsplit(push["path"]).path == "/homesec-house" and push["headers"]["Filename"] == "snapshot.jpg"
        assert event_url in parse_qs(urlsplit(push["path"]).query)["message"][0]

        # MQTT, on the events topic and the camera's.
        wait_for(lambda: subscriber.on("homesec/porch/alert"), timeout=10, what="the MQTT alert")
        assert json.loads(subscriber.on("homesec/events")[0][0])["alert"]["id"] == alert.pk

        # The event closes and is assessed again at the same level: checked, no second alert.
        wait_for(
            lambda: AlertCheck.objects.filter(event_id=alert.event_id, outcome__contains="alerted already").exists(),
            timeout=30,
            what=lambda: list(AlertCheck.objects.values("seq", "outcome")),
        )
        assert Alert.objects.count() == 1 and len(receiver.requests) == 1
    finally:
        subscriber.stop()
        ntfy.stop()
        detector.stop()


def test_a_worker_killed_mid_delivery_loses_no_alert_and_the_repeat_has_the_same_key(tmp_path, spawn, receiver):
    receiver.script = [("hold", 10)]  # the first delivery hangs in the receiver
    env, _ = pipeline_env(tmp_path, HOMESEC_NOTIFY_TIMEOUT_S="3", HOMESEC_NOTIFY_STALE_S="4")
    watcher, worker = start_manage(spawn, env, ["watch_cameras"], ALERT_WORKER)
    assert AlertRule.objects.get().is_default  # made by the watcher at its start: every channel, high and above
    webhook_channel(receiver.url)
    event = assessed_event(at=timezone.now() - timedelta(seconds=5))
    [alert] = alerts_evaluate(event_id=event.pk)

    wait_for(lambda: receiver.requests, timeout=30, what=lambda: worker.output())
    os.killpg(worker.popen.pid, signal.SIGKILL)  # between sending and recording
    assert Notification.objects.get().status == "sending"
    start_manage(spawn, env, ALERT_WORKER)

    wait_for(
        lambda: Alert.objects.get(pk=alert.pk).state == "delivered",
        timeout=40,
        what=lambda: list(Notification.objects.values("status", "error", "claimed_at")),
    )
    first, second = receiver.requests
    key = str(Notification.objects.get().pk)
    assert first["headers"]["X-Homesec-Idempotency-Key"] == second["headers"]["X-Homesec-Idempotency-Key"] == key
    assert json.loads(first["body"])["idempotency_key"] == json.loads(second["body"])["idempotency_key"] == key
    assert Alert.objects.count() == 1 and Notification.objects.count() == 1


def test_an_alert_goes_out_while_transcodes_fill_the_slow_lane_and_the_language_model_hangs(tmp_path, spawn, receiver):
    """The acceptance run for the alert lane: both slow workers are busy with long clip
    transcodes and the language model does not answer; a person at the porch is still
    alerted on (on the rules, once the model's budget is spent) while both transcodes run."""
    from cameras.models import Camera
    from detections.models import Clip, DetectionRun
    from tests.cameras.corpus import heavy_clip
    from tests.support.fake_llm import FakeLLM

    detector = FakeDetector().start()
    llm = FakeLLM().start()
    llm.script, llm.slow_s = ["slow"] * 100, 300  # hangs
    try:
        env, root = pipeline_env(
            tmp_path,
            HOMESEC_DETECTOR="http",
            HOMESEC_DETECTOR_URL=detector.url,
            HOMESEC_LLM_URL=llm.url,
            HOMESEC_LLM_MODEL="qwen3-8b",
            HOMESEC_FAST_PATH_LLM_BUDGET_S="2",
            HOMESEC_SLOW_WORKERS="2",
            HOMESEC_ALERT_MIN_LEVEL="low",
            HOMESEC_NOTIFY_WEBHOOK_URL=receiver.url + "/hook",
            HOMESEC_NOTIFY_WEBHOOK_SECRET=SECRET,
        )
        start_manage(spawn, env, ["watch_cameras"], ["worker"], ALERT_WORKER, SLOW_WORKER)
        clip = heavy_clip(tmp_path / "heavy.avi").read_bytes()
        # The yard's clips only make work for the slow lane: the camera keeps no detection
        # of them, so no event of theirs sends the model anything.
        Camera.objects.create(id="yard", name="Yard", folder="yard", filters={"person": {"min_confidence": 0.99}})
        (root / "yard").mkdir()
        for n in (1, 2):  # two different files, so both are copied
            (tmp_path / f"clip{n}.avi").write_bytes(clip + bytes([n]))
            os.rename(tmp_path / f"clip{n}.avi", root / "yard" / f"clip{n}.avi")
        wait_for(
            lambda: Clip.objects.filter(transcode="running").count() == 2,
            timeout=90,
            what=lambda: (
                list(Clip.objects.values("transcode", "transcode_error", "claimed_at", "queued_at")),
                list(DetectionRun.objects.values("ingest__path", "claimed_at", "finished_at")),
            ),
        )  # the slow lane is full

        (root / "porch").mkdir()
        (root / "porch" / "snapshot.jpg").write_bytes(_photo(11))
        wait_for(
            lambda: any(json.loads(r["body"])["camera"]["id"] == "porch" for r in receiver.requests),
            timeout=60,
            what=lambda: (list(Event.objects.values()), list(Notification.objects.values("status", "error"))),
        )
        assert Clip.objects.filter(transcode="running").count() == 2  # the alert waited for neither
        event = Event.objects.get(camera_id="porch")
        assert (event.analyzer, event.assessment_state) == ("rules", "fallback")
        assert "within 2 s" in event.provenance["llm_error"]
    finally:
        llm.stop()
        detector.stop()
