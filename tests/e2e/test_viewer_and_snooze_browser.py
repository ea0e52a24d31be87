"""Headless Chromium as a household member (a viewer): no configuration control on any
page and a forged configuration POST from the signed-in browser refused with 403; the
member snoozes a camera on the alerts page, its next alert is listed but notifies no
channel, and after the snooze ends the camera's alerts notify again."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from alerts.engine import alerts_evaluate
from alerts.models import AlertRule, CameraSnooze, Notification
from tests.alerts.factory import assessed_event, webhook_channel, zone
from tests.support.users import PASSWORD

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

CONFIGURATION_FORMS = "form[action='/overview/mode'], form[action$='/settings'], form[action$='/zones'], form[action$='/reassess'], form[action='/cameras/add']"  # noqa: E501


def sign_in(page, base: str) -> None:
    page.goto(base + "/accounts/login/")
    page.fill("#id_username", "member")
    page.fill("#id_password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(base + "/")


def test_a_member_sees_no_configuration_control_and_a_forged_post_is_refused(live_server, page, member):
    event = assessed_event(cam="front_door", score=72)
    zone("front_door", "driveway")
    sign_in(page, live_server.url)
    for path in ("/", "/events/?reviewed=all", f"/events/{event.pk}/", "/cameras/", "/cameras/front_door/", "/system/"):
        page.goto(live_server.url + path)
        assert page.locator(CONFIGURATION_FORMS).count() == 0, path
        assert page.locator("a[href^='/admin/']").count() == 0, path
    csrf = next(c["value"] for c in page.context.cookies() if c["name"] == "csrftoken")
    forged = page.request.post(
        live_server.url + "/cameras/front_door/settings",
        form={"csrfmiddlewaretoken": csrf, "name": "Renamed", "time_zone": "UTC"},
        headers={"Referer": live_server.url + "/cameras/front_door/"},
    )
    assert forged.status == 403
    assert (
        page.request.post(live_server.url + "/overview/mode", form={"csrfmiddlewaretoken": csrf, "mode": "away"}).status
        == 403
    )


def test_a_camera_snoozed_on_the_alerts_page_raises_alerts_that_notify_nobody_until_it_ends(
    live_server, page, member, receiver
):
    rule = AlertRule.objects.create(name="everything", cooldown_s=0)
    rule.channels.set([webhook_channel(receiver.url)])
    now = timezone.now()
    [first] = alerts_evaluate(event_id=assessed_event(at=now - timedelta(minutes=2), cam="front_door").pk, now=now)

    sign_in(page, live_server.url)
    page.goto(live_server.url + "/alerts/")
    page.locator(".snooze[data-camera='front_door'] button[value='30']").click()
    page.wait_for_load_state("networkidle")
    snooze = CameraSnooze.objects.get(camera_id="front_door")
    assert timedelta(minutes=29) < snooze.until - timezone.now() <= timedelta(minutes=30)
    assert "Snoozed until" in page.locator(".snooze[data-camera='front_door']").inner_text()

    later = timezone.now()
    [snoozed] = alerts_evaluate(event_id=assessed_event(at=later, cam="front_door", score=70).pk, now=later)
    page.goto(live_server.url + "/alerts/")
    assert snoozed.title in page.locator("main").inner_text()  # raised and listed
    assert list(Notification.objects.filter(alert=snoozed).values_list("status", flat=True)) == ["skipped"]
    assert Notification.objects.get(alert=snoozed).error.startswith("snoozed until")

    after = snooze.until + timedelta(seconds=1)
    [again] = alerts_evaluate(event_id=assessed_event(at=after, cam="front_door", score=70).pk, now=after)
    assert list(Notification.objects.filter(alert=again).values_list("status", flat=True)) == ["pending"]
    assert first.pk != again.pk
