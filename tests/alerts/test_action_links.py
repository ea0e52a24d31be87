"""Acknowledge from the notification: every alert's webhook, MQTT, email and ntfy message
carries a signed, expiring link to the alert's page; opening it never changes anything,
the page's button (a signed-in POST with CSRF) acknowledges. Without a session the login
comes first and brings the user back. Expired or forged links are refused."""

from __future__ import annotations

import json
import re
import time
from urllib.parse import quote

import pytest
from django.core import signing
from django.test import Client

from alerts.delivery import channel_send_test, notification_send
from alerts.messages import ACTION_SALT, action_alert_id, snapshot_token
from alerts.models import Alert, Channel, Notification, NotificationAttempt
from homesec.core.models import LiveMessage
from tests.alerts.factory import FRIDAY_NOON, webhook_channel
from tests.support.processes import wait_for
from tests.support.servers import Subscriber
from tests.support.users import PASSWORD

pytestmark = pytest.mark.django_db

HOST = "https://homesec.example.org"  # settings.PUBLIC_URL in these tests (the snapshot fixture)


def _path(url: str) -> str:
    assert url.startswith(HOST + "/alerts/act/"), url
    return url.removeprefix(HOST)


def _db() -> str:
    """What a write would change: the alerts, the attempts and the live messages."""
    return repr(
        (list(Alert.objects.order_by("pk").values()), NotificationAttempt.objects.count(), LiveMessage.objects.count())
    )


def _csrf(html: str) -> str:
    return re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', html).group(1)


@pytest.fixture
def delivered(receiver, notify):
    """An alert delivered to a real webhook receiver: (alert, the JSON body it got)."""
    notification = notify(webhook_channel(receiver.url))
    assert notification_send(notification_id=notification.pk, now=FRIDAY_NOON) == "delivered"
    return Alert.objects.get(pk=notification.alert_id), receiver.json()


def test_the_webhook_a_receiver_got_carries_the_acknowledge_link(delivered):
    alert, data = delivered
    url = data["actions"]["acknowledge"]
    assert action_alert_id(_path(url).rsplit("/", 1)[1]) == alert.pk
    # Everything a receiver read before is still there.
    keys = {"idempotency_key", "notification", "kind", "title", "url", "images", "sent_at", "camera", "alert", "event"}
    assert keys <= set(data) and data["alert"]["id"] == alert.pk


def test_opening_the_link_signed_in_shows_the_button_and_writes_nothing(delivered, viewer_client):
    alert, data = delivered
    before = _db()
    response = viewer_client.get(_path(data["actions"]["acknowledge"]))
    html = response.content.decode()
    assert response.status_code == 200
    assert '<button type="submit" id="acknowledge">Acknowledge</button>' in html
    assert alert.title in html and "A person seen by front_door." in html
    assert f'href="/events/{alert.event_id}/"' in html
    assert _db() == before


def test_the_button_acknowledges_with_csrf_and_only_once(delivered, viewer):
    alert, data = delivered
    path = _path(data["actions"]["acknowledge"])
    client = Client(enforce_csrf_checks=True)
    client.force_login(viewer)
    token = _csrf(client.get(path).content.decode())
    before = _db()
    assert client.post(path).status_code == 403  # no CSRF token
    assert _db() == before
    response = client.post(path, {"csrfmiddlewaretoken": token})
    assert response.status_code == 302 and response["Location"] == path
    alert.refresh_from_db()
    assert (alert.state, alert.handled_by) == ("acknowledged", viewer) and alert.acknowledged_at
    page = client.get(path).content.decode()
    assert "Acknowledged: no more reminders for this alert." in page
    assert 'id="acknowledge"' not in page and "Acknowledged by viewer" in page
    again = client.post(path, {"csrfmiddlewaretoken": token}, follow=True).content.decode()
    assert "this alert was acknowledged already" in again


def test_without_a_session_the_login_comes_first_and_returns_to_the_page(delivered, viewer, client):
    alert, data = delivered
    path = _path(data["actions"]["acknowledge"])
    before = _db()
    response = client.get(path)
    assert response.status_code == 302 and response["Location"] == "/accounts/login/?next=" + quote(path, safe="/")
    assert client.post(path).status_code == 302  # the link alone changes nothing
    assert _db() == before
    login = client.post(response["Location"], {"username": "viewer", "password": PASSWORD})
    assert login.status_code == 302 and login["Location"] == path
    assert 'id="acknowledge"' in client.get(path).content.decode()
    assert _db() == before
    client.post(path)
    assert Alert.objects.get(pk=alert.pk).state == "acknowledged"


class _Past(signing.TimestampSigner):
    """Signs as if it were eight days ago."""

    def timestamp(self) -> str:
        return signing.b62_encode(int(time.time()) - 8 * 86400)


def test_an_expired_link_is_refused_and_changes_nothing(delivered, viewer_client, settings):
    alert, _ = delivered
    settings.ACTION_LINK_DAYS = 7
    path = f"/alerts/act/{_Past(salt=ACTION_SALT).sign_object(alert.pk, compress=True)}"
    before = _db()
    for response in (viewer_client.get(path), viewer_client.post(path)):
        html = response.content.decode()
        assert response.status_code == 400
        assert "This link has expired: links in notifications work for 7 days." in html
        assert 'id="acknowledge"' not in html and "Nothing was changed." in html
    assert _db() == before


def test_a_forged_or_damaged_link_is_refused_and_changes_nothing(delivered, viewer_client):
    alert, data = delivered
    real = _path(data["actions"]["acknowledge"]).rsplit("/", 1)[1]
    forged = [
        snapshot_token(alert.pk),  # signed by this homesec, for something else
        signing.dumps(alert.pk, salt=ACTION_SALT, key="another homesec's secret key"),
        real[:-3] + ("abc" if not real.endswith("abc") else "xyz"),
        real.split(":", 1)[1],
    ]
    before = _db()
    for token in forged:
        for response in (viewer_client.get(f"/alerts/act/{token}"), viewer_client.post(f"/alerts/act/{token}")):
            assert response.status_code == 400, token
            assert "This link is not valid" in response.content.decode()
    assert _db() == before


def test_a_link_to_an_alert_no_longer_stored_says_so(viewer_client):
    response = viewer_client.get(f"/alerts/act/{signing.dumps(987654, salt=ACTION_SALT, compress=True)}")
    assert response.status_code == 404 and "no longer stored" in response.content.decode()


def test_ntfy_gets_an_acknowledge_view_button(receiver, notify):
    channel = Channel.objects.create(name="phone", kind="ntfy", config={"server": receiver.url, "topic": "t"})
    notification = notify(channel)
    assert notification_send(notification_id=notification.pk, now=FRIDAY_NOON) == "delivered"
    action = receiver.requests[-1]["headers"]["Actions"]
    kind, label, url = (part.strip() for part in action.split(","))
    assert (kind, label) == ("view", "Acknowledge")
    assert action_alert_id(_path(url).rsplit("/", 1)[1]) == notification.alert_id


def test_the_email_carries_the_link_in_text_and_html(smtp, notify):
    notification = notify(Channel.objects.create(name="mail", kind="email", config={"to": ["me@example.org"]}))
    assert notification_send(notification_id=notification.pk, now=FRIDAY_NOON) == "delivered"
    [message] = smtp.messages
    text = message.get_body(("plain",)).get_content()
    url = re.search(r"^Acknowledge: (\S+)\s*$", text, re.M).group(1)
    assert action_alert_id(_path(url).rsplit("/", 1)[1]) == notification.alert_id
    assert f'<a href="{url}">Acknowledge</a>' in message.get_body(("html",)).get_content()


def test_mqtt_carries_the_link_in_its_json(mqtt_broker, notify):
    subscriber = Subscriber(mqtt_broker.port)
    try:
        notification = notify(Channel.objects.create(name="ha", kind="mqtt", config={"url": mqtt_broker.url}))
        assert notification_send(notification_id=notification.pk, now=FRIDAY_NOON) == "delivered"
        wait_for(lambda: subscriber.on("homesec/events"), timeout=10, what="the alert")
        data = json.loads(subscriber.on("homesec/events")[0][0])
        assert action_alert_id(_path(data["actions"]["acknowledge"]).rsplit("/", 1)[1]) == notification.alert_id
    finally:
        subscriber.stop()


def test_a_test_notification_carries_no_action(receiver, smtp, settings):
    settings.PUBLIC_URL = HOST
    hook = channel_send_test(channel=webhook_channel(receiver.url))
    ntfy = Channel.objects.create(name="phone", kind="ntfy", config={"server": receiver.url, "topic": "t"})
    channel_send_test(channel=ntfy)
    mail = Channel.objects.create(name="mail", kind="email", config={"to": ["me@example.org"]})
    channel_send_test(channel=mail)
    assert Notification.objects.filter(test=True, status="delivered").count() == 3 and hook.ok
    webhook_request, ntfy_request = receiver.requests
    assert json.loads(webhook_request["body"])["actions"] == {}
    assert "Actions" not in ntfy_request["headers"]
    assert "/alerts/act/" not in smtp.messages[0].get_body(("plain",)).get_content()
