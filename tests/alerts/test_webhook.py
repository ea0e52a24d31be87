"""The webhook transport against a real HTTP receiver that checks the signature."""

import hashlib
import hmac
import json

import pytest

from alerts.delivery import notification_send
from alerts.models import Channel
from tests.alerts.factory import FRIDAY_NOON, webhook_channel

pytestmark = pytest.mark.django_db


def test_the_receiver_gets_a_signed_json_body_naming_camera_level_score_summary_and_link(receiver, notify, client):
    notification = notify(webhook_channel(receiver.url + "/hook"))
    assert notification_send(notification_id=notification.pk, now=FRIDAY_NOON) == "delivered"
    [request] = receiver.requests
    body, headers = request["body"], request["headers"]
    expected = "sha256=" + hmac.new(b"s3cret-for-tests", body, hashlib.sha256).hexdigest()
    assert hmac.compare_digest(headers["X-Homesec-Signature"], expected)
    assert headers["Content-Type"] == "application/json" and request["path"] == "/hook"
    data = json.loads(body)
    assert data["idempotency_key"] == headers["X-Homesec-Idempotency-Key"] == str(notification.pk)
    assert data["camera"] == {"id": "front_door", "name": "Front Door"}
    assert (data["alert"]["level"], data["alert"]["risk_score"]) == ("high", 72)
    assert data["event"]["summary"] == "A person seen by front_door."
    event_id = notification.alert.event_id
    assert data["url"] == f"https://homesec.example.org/events/{event_id}/"
    assert data["title"].startswith("[homesec] HIGH risk 72 on Front Door")
    # The snapshot link opens the picture without signing in; a tampered one does not.
    [image_url] = data["images"]
    path = image_url.removeprefix("https://homesec.example.org")
    response = client.get(path)
    assert response.status_code == 200 and response["Content-Type"] == "image/jpeg"
    assert b"".join(response.streaming_content)[:2] == b"\xff\xd8"
    assert client.get(path.replace("/snapshots/", "/snapshots/x")).status_code == 404


def test_a_webhook_without_a_secret_is_refused_for_good(receiver, notify):
    channel = Channel.objects.create(name="unsigned", kind="webhook", config={"url": receiver.url})
    notification = notify(channel)
    assert notification_send(notification_id=notification.pk, now=FRIDAY_NOON) == "failed"
    channel.refresh_from_db()
    assert not channel.enabled and "no secret" in channel.disabled_reason
    assert receiver.requests == []
