"""Snoozing a camera's notifications for the whole household.

The table: each case snoozes a camera (or not), raises one alert through the real rule
engine or the offline check at its own moment, sends what is pending to a real webhook
receiver, and says whether any channel was notified or why not. Then the page's snooze
endpoint and its controls."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from datetime import timedelta
from zoneinfo import ZoneInfo

import pytest
from django.template.loader import render_to_string
from django.test import Client, RequestFactory
from django.utils import timezone

from alerts.delivery import notification_send
from alerts.engine import alerts_evaluate
from alerts.models import Alert, AlertRule, CameraSnooze, Notification
from alerts.selectors import alert_list_open, camera_snoozed_until
from alerts.services import camera_snooze, camera_unsnooze, system_alerts_check
from alerts.setup import default_rule_ensure
from cameras.models import Camera
from tests.alerts.factory import FRIDAY_NOON, assessed_event, camera, webhook_channel

pytestmark = pytest.mark.django_db

SET_AT = FRIDAY_NOON - timedelta(minutes=5)  # 11:55 UTC, 12:55 in Berlin (the household's zone here)


@dataclass
class Case:
    id: str
    snooze_min: float | None = 60  # front_door snoozed at SET_AT for this long (None: not snoozed)
    unsnooze: bool = False  # and unsnoozed again before the alert
    alert: dict = field(default_factory=dict)  # cam, score, after (s after FRIDAY_NOON), or offline=True
    notified: bool = False
    why: str = ""  # the skipped notifications' reason


CASES = [
    Case("not snoozed: notifies", snooze_min=None, notified=True),
    Case("snoozed camera: raised and listed, no channel notified", why="snoozed until 13:55"),
    Case("a medium alert is held back too", alert={"score": 50}, why="snoozed until 13:55"),
    Case("a snooze into tomorrow names the day", snooze_min=24 * 60, why="snoozed until Sat 28 Nov 12:55"),
    Case("after the snooze ends a new alert notifies", snooze_min=30, alert={"after": 30 * 60}, notified=True),
    Case("at the very end of the snooze it is over", snooze_min=30, alert={"after": 25 * 60}, notified=True),
    Case("a minute before the end it still holds", snooze_min=30, alert={"after": 24 * 60}, why="snoozed until"),
    Case("critical breaks through", alert={"score": 95}, notified=True),
    Case("another camera is unaffected", alert={"cam": "garden"}, notified=True),
    Case("a camera going offline is never snoozed", alert={"offline": True}, notified=True),
    Case("unsnoozed: notifies again", unsnooze=True, notified=True),
]


def _raise(case: Case) -> tuple[Alert, object]:
    after = case.alert.get("after", 0)
    moment = FRIDAY_NOON + timedelta(seconds=after)
    if case.alert.get("offline"):
        Camera.objects.filter(pk="front_door").update(
            status="offline", status_reason="no upload for 30 min", offline_after_min=30, last_seen_at=SET_AT
        )
        [alert] = system_alerts_check(now=moment)
        return alert, moment
    event = assessed_event(at=moment, cam=case.alert.get("cam", "front_door"), score=case.alert.get("score", 72))
    [alert] = alerts_evaluate(event_id=event.pk, now=moment)
    return alert, moment


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_snooze(case: Case, receiver, settings):
    settings.TIME_ZONE, settings.MIN_FREE_GB = "Europe/Berlin", 0
    channels = [webhook_channel(receiver.url, name="household"), webhook_channel(receiver.url, name="phone")]
    AlertRule.objects.create(name="rule").channels.set(channels)
    default_rule_ensure()  # system alerts go to the default rule's channels; events to "rule"
    AlertRule.objects.filter(is_default=True).update(enabled=False, all_channels=False)
    AlertRule.objects.get(is_default=True).channels.set(channels)
    front_door = camera("front_door")
    if case.snooze_min is not None:
        camera_snooze(camera=front_door, until=SET_AT + timedelta(minutes=case.snooze_min), now=SET_AT)
    if case.unsnooze:
        camera_unsnooze(camera=front_door)
    alert, moment = _raise(case)
    for notification in Notification.objects.filter(alert=alert, status="pending"):
        notification_send(notification_id=notification.pk, now=moment)
    notifications = list(Notification.objects.filter(alert=alert).order_by("channel__name"))
    assert len(notifications) == 2
    alert.refresh_from_db()
    if case.notified:
        assert [n.status for n in notifications] == ["delivered", "delivered"]
        assert len(receiver.requests) == 2 and alert.state == "delivered"
    else:
        assert [n.status for n in notifications] == ["skipped", "skipped"]
        assert all(case.why in n.error for n in notifications), [n.error for n in notifications]
        assert receiver.requests == []
        assert alert.state == "failed" and case.why in alert.state_reason
    assert alert in alert_list_open().alerts  # raised and listed either way


def test_a_snoozed_cameras_alert_is_on_the_page_with_the_reason(receiver, settings, viewer_client):
    settings.TIME_ZONE = "UTC"
    AlertRule.objects.create(name="rule").channels.set([webhook_channel(receiver.url)])
    camera_snooze(camera=camera("front_door"), until=FRIDAY_NOON + timedelta(minutes=90), now=FRIDAY_NOON)
    [alert] = alerts_evaluate(event_id=assessed_event().pk, now=FRIDAY_NOON)
    page = viewer_client.get("/alerts/").content.decode()
    row = re.search(rf'<li class="alert-row" id="alert-{alert.pk}".*?</li>\s*</ul>', page, re.S).group(0)
    assert "nobody to notify: snoozed until 13:30" in row
    assert '<span class="nstate skipped">skipped</span>' in row and "snoozed until 13:30" in row
    assert receiver.requests == []


def test_the_table_covers_the_promises():
    assert len(CASES) >= 10


def test_a_snooze_expires_by_itself_and_the_next_alert_notifies(receiver):
    """Advance the clock past the end: nothing clears the row, the comparison with now does."""
    AlertRule.objects.create(name="rule", cooldown_s=0).channels.set([webhook_channel(receiver.url)])
    camera_snooze(camera=camera("front_door"), until=FRIDAY_NOON + timedelta(hours=1), now=FRIDAY_NOON)
    soon = FRIDAY_NOON + timedelta(minutes=10)
    [held] = alerts_evaluate(event_id=assessed_event(at=soon).pk, now=soon)
    assert Notification.objects.get(alert=held).status == "skipped"
    later = FRIDAY_NOON + timedelta(hours=1, minutes=1)
    assert camera_snoozed_until(camera_id="front_door", now=later) is None
    assert CameraSnooze.objects.count() == 1
    [sent] = alerts_evaluate(event_id=assessed_event(at=later).pk, now=later)
    notification = Notification.objects.get(alert=sent)
    assert notification_send(notification_id=notification.pk, now=later) == "delivered"
    assert len(receiver.requests) == 1 and receiver.json()["alert"]["id"] == sent.pk


def test_snoozing_again_moves_the_end_one_row_per_camera(viewer, admin_user):
    cam = camera("front_door")
    camera_snooze(camera=cam, until=FRIDAY_NOON + timedelta(hours=1), user=viewer, now=FRIDAY_NOON)
    camera_snooze(camera=cam, until=FRIDAY_NOON + timedelta(hours=8), user=admin_user, now=FRIDAY_NOON)
    snooze = CameraSnooze.objects.get()
    assert (snooze.until, snooze.set_by) == (FRIDAY_NOON + timedelta(hours=8), admin_user)


# --- The endpoint and the controls --------------------------------------------------------------------


def _json(client: Client, data: dict, cam: str = "front_door"):
    return client.post(f"/cameras/{cam}/snooze", data, HTTP_ACCEPT="application/json")


def test_a_viewer_snoozes_for_30_minutes_and_the_page_shows_it(viewer_client, viewer):
    camera("front_door")
    before = timezone.now()
    response = viewer_client.post("/cameras/front_door/snooze", {"minutes": "30"})
    assert response.status_code == 302 and response["Location"] == "/alerts/"
    snooze = CameraSnooze.objects.get()
    assert snooze.set_by == viewer and timedelta(minutes=30) <= snooze.until - before < timedelta(minutes=31)
    page = viewer_client.get("/alerts/").content.decode()
    assert "Front Door: notifications snoozed until" in page
    active = re.search(r'<ul class="snoozes-active".*?</ul>', page, re.S).group(0)
    assert "Front Door" in active and "by viewer" in active
    assert 'name="unsnooze"' in page


def test_until_is_a_time_in_the_household_zone(viewer_client, settings):
    settings.TIME_ZONE = "America/New_York"
    camera("front_door")
    zone = ZoneInfo("America/New_York")
    end = (timezone.now() + timedelta(days=2)).astimezone(zone).replace(second=0, microsecond=0)
    response = _json(viewer_client, {"until": end.strftime("%Y-%m-%dT%H:%M")})
    assert response.status_code == 200
    assert CameraSnooze.objects.get().until == end
    assert json.loads(response.content) == {"camera": "front_door", "snoozed_until": end.isoformat()}


def test_unsnooze_ends_it_now(viewer_client, viewer):
    cam = camera("front_door")
    camera_snooze(camera=cam, until=timezone.now() + timedelta(hours=1), user=viewer)
    response = _json(viewer_client, {"unsnooze": "1"})
    assert json.loads(response.content) == {"camera": "front_door", "snoozed_until": None}
    assert not CameraSnooze.objects.exists()


def test_a_snooze_that_makes_no_sense_is_refused_with_the_reason(viewer_client):
    camera("front_door")
    for data, problem in [
        ({"until": "2020-01-01T10:00"}, "That time has passed"),
        ({"minutes": "30", "until": "2099-01-01T10:00"}, "Give one of"),
        ({}, "Give one of"),
        ({"minutes": "-5"}, "greater than or equal to 1"),
        ({"until": "tomorrow"}, "date and time"),
        ({"minutes": str(40 * 24 * 60)}, "less than or equal to"),
    ]:
        response = _json(viewer_client, data)
        assert response.status_code == 400 and problem in json.loads(response.content)["error"], data
    assert not CameraSnooze.objects.exists()
    response = viewer_client.post("/cameras/front_door/snooze", {"until": "2020-01-01T10:00"}, follow=True)
    assert "Front Door: That time has passed" in response.content.decode()


def test_the_form_posts_come_back_where_they_came_from_on_this_site_only(viewer_client):
    camera("front_door")
    assert viewer_client.post("/cameras/front_door/snooze", {"minutes": "60", "next": "/"})["Location"] == "/"
    response = viewer_client.post("/cameras/front_door/snooze", {"unsnooze": "1", "next": "https://evil.example/"})
    assert response["Location"] == "/alerts/"
    # Without a next (a control in a fragment the page fetched): back to the page it was on.
    response = viewer_client.post("/cameras/front_door/snooze", {"minutes": "60"}, HTTP_REFERER="http://testserver/")
    assert response["Location"] == "http://testserver/"
    response = viewer_client.post("/cameras/front_door/snooze", {"minutes": "60"}, HTTP_REFERER="https://evil.example/")
    assert response["Location"] == "/alerts/"


def test_an_unknown_camera_a_get_and_a_missing_csrf_token_change_nothing(viewer, viewer_client):
    camera("front_door")
    assert viewer_client.post("/cameras/nope/snooze", {"minutes": "30"}).status_code == 404
    assert viewer_client.get("/cameras/front_door/snooze", {"minutes": "30"}).status_code == 405
    strict = Client(enforce_csrf_checks=True)
    strict.force_login(viewer)
    assert strict.post("/cameras/front_door/snooze", {"minutes": "30"}).status_code == 403
    assert not CameraSnooze.objects.exists()


def test_the_controls_template_for_the_overview_tile(viewer):
    cam = camera("front_door")
    request = RequestFactory().get("/")
    request.user = viewer
    idle = render_to_string("alerts/_snooze.html", {"camera": cam, "snoozed_until": None}, request=request)
    assert 'action="/cameras/front_door/snooze"' in idle and 'name="csrfmiddlewaretoken"' in idle
    assert all(f'name="minutes" value="{m}"' in idle for m in (30, 60, 480))
    assert 'type="datetime-local" name="until"' in idle and 'name="next"' not in idle  # back where it was
    here = {"camera": cam, "snoozed_until": None, "next_url": "/"}
    assert 'name="next" value="/"' in render_to_string("alerts/_snooze.html", here, request=request)
    until = timezone.now() + timedelta(hours=1)
    snoozed = render_to_string("alerts/_snooze.html", {"camera": cam, "snoozed_until": until}, request=request)
    assert "Snoozed until" in snoozed and 'name="unsnooze"' in snoozed and 'name="minutes"' not in snoozed


def test_anonymous_snooze_is_sent_to_sign_in(client):
    camera("front_door")
    response = client.post("/cameras/front_door/snooze", {"minutes": "30"})
    assert response.status_code == 302 and "/accounts/login/" in response["Location"]
    assert not CameraSnooze.objects.exists()
