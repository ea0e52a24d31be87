"""Headless Chromium: the acknowledge link from a delivered webhook's payload, opened in a
fresh browser, asks for a sign-in, comes back and acknowledges with one click; the alerts
page follows live messages; both pages fit a phone (390 px) without sideways scrolling."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from alerts.delivery import notification_send
from alerts.engine import alerts_evaluate
from alerts.models import Alert, AlertRule, Notification
from alerts.services import alert_acknowledge, camera_snooze
from homesec.core.models import LiveMessage
from tests.alerts.factory import assessed_event, camera, webhook_channel
from tests.support.servers import Receiver
from tests.support.users import PASSWORD

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

# live_server speaks no WebSocket: the page gets a stand-in socket that the test hands
# messages to, as /ws/events would (the stream itself is tested in tests/e2e).
FAKE_SOCKET = """
window.__sockets = [];
window.WebSocket = class {
  constructor(url) { this.url = url; this.readyState = 1; window.__sockets.push(this);
                     setTimeout(() => this.onopen && this.onopen(), 0); }
  send() {}
  close() {}
};
window.WebSocket.OPEN = 1;
"""


def push(page, kind: str, data: dict) -> None:
    message = {"type": "message", "id": LiveMessage.objects.count() + 10**6, "kind": kind, "at": "", "data": data}
    script = "m => window.__sockets.filter(s => s.url.includes('/ws/events'))"
    page.evaluate(script + ".forEach(s => s.onmessage({data: JSON.stringify(m)}))", message)


def test_the_acknowledge_link_from_a_delivered_webhook_acknowledges_after_sign_in(
    live_server, page, receiver, viewer, settings
):
    settings.PUBLIC_URL = live_server.url
    broken = Receiver().start()
    broken.script = [(503, {"Retry-After": "1"})] * 10
    try:
        rule = AlertRule.objects.create(name="everything", cooldown_s=0)
        rule.channels.set(
            [webhook_channel(receiver.url, name="household"), webhook_channel(broken.url, name="a-very-long-name" * 3)]
        )
        now = timezone.now()
        alerts = []
        for cam in ("front_door", "garden_with_a_rather_long_camera_name_for_phones"):
            [alert] = alerts_evaluate(event_id=assessed_event(at=now - timedelta(minutes=1), cam=cam).pk, now=now)
            for notification in Notification.objects.filter(alert=alert):
                notification_send(notification_id=notification.pk, now=now)
            alerts.append(alert)
        camera_snooze(camera=camera("front_door"), until=now + timedelta(hours=1), user=viewer)
        payloads = [json.loads(request["body"]) for request in receiver.requests]
        link = next(p for p in payloads if p["alert"]["id"] == alerts[0].pk)["actions"]["acknowledge"]
    finally:
        broken.stop()

    # A fresh browser without a session: the login page first, then back to the alert.
    page.add_init_script(FAKE_SOCKET)
    page.goto(link)
    assert "/accounts/login/" in page.url
    assert Alert.objects.get(pk=alerts[0].pk).state == "delivered"
    page.fill("#id_username", "viewer")
    page.fill("#id_password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(link)
    assert Alert.objects.get(pk=alerts[0].pk).state == "delivered"  # opening it changed nothing
    page.click("#acknowledge")
    page.wait_for_selector("text=Acknowledged: no more reminders for this alert.")
    acknowledged = Alert.objects.get(pk=alerts[0].pk)
    assert (acknowledged.state, acknowledged.handled_by_id) == ("acknowledged", viewer.pk)
    assert Alert.objects.get(pk=alerts[1].pk).state != "acknowledged"

    # The alerts page follows the live stream: a message fetches the part it changes.
    page.goto(live_server.url + "/alerts/")
    assert page.locator(f"#alerts-open #alert-{alerts[1].pk}").is_visible()
    alert_acknowledge(alert=alerts[1], user=viewer)
    push(page, "alert.acknowledged", {"alert": alerts[1].pk})
    page.wait_for_selector(f"#alerts-history #alert-{alerts[1].pk}")
    expect(page.locator(f"#alerts-open #alert-{alerts[1].pk}")).to_have_count(0)
    [fired] = alerts_evaluate(event_id=assessed_event(at=timezone.now(), cam="porch").pk)
    push(page, "alert.fired", {"alert": fired.pk})
    page.wait_for_selector(f"#alerts-open #alert-{fired.pk}")

    # On a phone: the alert's page and the alerts page (open, snoozes, history) fit the width.
    page.set_viewport_size({"width": 390, "height": 844})
    page.goto(link)
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    page.goto(live_server.url + "/alerts/")
    assert page.locator(f"#alerts-open #alert-{fired.pk}").is_visible()
    assert page.locator(f"#alerts-history #alert-{alerts[0].pk}").is_visible()
    assert page.locator("#alerts-snoozes .snoozes-active").is_visible()
    for details in page.locator("details.attempts").all():
        details.locator("summary").click()
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
