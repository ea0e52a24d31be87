"""The MQTT transport and the presence connection, against a real mosquitto broker."""

import json
import os
import signal
import time

import pytest

from alerts.delivery import notification_send
from alerts.models import Channel
from tests.alerts.factory import FRIDAY_NOON, assessed_event
from tests.support.processes import free_port, pipeline_env, start_manage, wait_for
from tests.support.servers import Subscriber


@pytest.mark.django_db
def test_an_alert_goes_to_the_events_and_camera_topics_with_the_snapshot(mqtt_broker, notify, snapshot):
    subscriber = Subscriber(mqtt_broker.port)
    try:
        channel = Channel.objects.create(name="ha", kind="mqtt", config={"url": mqtt_broker.url})
        notification = notify(channel)
        assert notification_send(notification_id=notification.pk, now=FRIDAY_NOON) == "delivered"
        wait_for(lambda: subscriber.on("homesec/front_door/snapshot"), timeout=10, what="the snapshot")
        [(events, _)] = subscriber.on("homesec/events")
        [(alert, _)] = subscriber.on("homesec/front_door/alert")
        assert events == alert
        data = json.loads(alert)
        assert data["idempotency_key"] == str(notification.pk)
        assert (data["camera"]["id"], data["alert"]["level"], data["alert"]["risk_score"]) == ("front_door", "high", 72)
        assert data["event"]["summary"] == "A person seen by front_door."
        [(image, retained)] = subscriber.on("homesec/front_door/snapshot")
        assert image == snapshot[1]
    finally:
        subscriber.stop()


@pytest.mark.django_db
def test_a_broker_that_is_down_is_retried(notify):
    channel = Channel.objects.create(name="ha", kind="mqtt", config={"url": f"mqtt://127.0.0.1:{free_port()}"})
    notification = notify(channel)
    assert notification_send(notification_id=notification.pk, now=FRIDAY_NOON) == "retry"
    assert "could not reach the broker" in type(notification).objects.get().error


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_home_assistant_discovery_and_availability_set_by_the_last_will(tmp_path, spawn, mqtt_broker):
    event = assessed_event(score=72)  # front_door has a risk to show
    env, _ = pipeline_env(tmp_path, HOMESEC_NOTIFY_MQTT_URL=mqtt_broker.url)
    [watcher] = start_manage(spawn, env, ["watch_cameras"])
    subscriber = Subscriber(mqtt_broker.port)
    try:
        config_topic = "homeassistant/sensor/homesec_front_door/risk/config"
        wait_for(lambda: subscriber.on(config_topic), timeout=20, what=lambda: watcher.output())
        discovery = json.loads(subscriber.on(config_topic)[0][0])
        assert discovery["unique_id"] == "homesec_front_door_risk"
        assert discovery["state_topic"] == "homesec/front_door/risk"
        assert discovery["value_template"] == "{{ value_json.score }}"
        assert discovery["availability_topic"] == "homesec/availability"
        assert (discovery["payload_available"], discovery["payload_not_available"]) == ("online", "offline")
        assert discovery["device"] == {
            "identifiers": ["homesec_front_door"],
            "name": "Front Door",
            "manufacturer": "homesec",
            "model": "upload-folder camera",
        }
        wait_for(lambda: subscriber.on("homesec/front_door/risk"), timeout=10, what="the risk state")
        state = json.loads(subscriber.on("homesec/front_door/risk")[-1][0])
        assert (state["score"], state["level"], state["event"]) == (72, "high", event.pk)
        assert subscriber.on("homesec/availability")[-1][0] == b"online"

        # The watcher dies without a goodbye: the broker publishes its last will.
        os.killpg(watcher.popen.pid, signal.SIGKILL)
        wait_for(lambda: subscriber.on("homesec/availability")[-1][0] == b"offline", timeout=10, what="the will")
    finally:
        subscriber.stop()
    # ... and keeps it, retained with the discovery, for whoever looks next (Home Assistant
    # after a restart).
    late = Subscriber(mqtt_broker.port)
    try:
        wait_for(lambda: late.on("homesec/availability"), timeout=10, what="the retained availability")
        time.sleep(0.2)
        assert late.on("homesec/availability") == [(b"offline", True)]
        assert [retained for _, retained in late.on(config_topic)] == [True]
        assert json.loads(late.on("homesec/front_door/risk")[0][0])["score"] == 72
    finally:
        late.stop()
