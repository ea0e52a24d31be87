"""The alerts page: open alerts with their event, camera, severity and how each channel
fared (every attempt with its error), acknowledge and dismiss one or many (viewers too, a
POST with CSRF), the history a page at a time, in a bounded number of queries."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from alerts.delivery import notification_send
from alerts.engine import alerts_evaluate
from alerts.models import Alert, AlertRule, Channel, Notification, NotificationAttempt
from alerts.services import alert_acknowledge, alert_dismiss
from tests.alerts.factory import assessed_event, camera, webhook_channel
from tests.support.servers import Receiver

pytestmark = pytest.mark.django_db


@pytest.fixture
def gone():
    """A receiver that answers 410 Gone: a permanent failure, recorded with its error."""
    server = Receiver().start()
    server.script = [410] * 100
    yield server
    server.stop()


@pytest.fixture
def raise_alert(receiver, gone):
    """Raise an alert for an event of `cam` now, sent to a working webhook ("hook") and to
    one that answers 410 ("broken"), through the real delivery code."""
    rule = AlertRule.objects.create(name="everything", cooldown_s=0)
    rule.channels.set([webhook_channel(receiver.url, name="hook"), webhook_channel(gone.url, name="broken")])

    def make(cam: str = "front_door", score: int = 72, minutes_ago: float = 1) -> Alert:
        at = timezone.now() - timedelta(minutes=minutes_ago)
        [alert] = alerts_evaluate(event_id=assessed_event(at=at, cam=cam, score=score).pk, now=at)
        for notification in Notification.objects.filter(alert=alert):
            notification_send(notification_id=notification.pk, now=at)
        alert.refresh_from_db()
        return alert

    return make


def _section(html: str, name: str) -> str:
    match = re.search(rf'<section class="card" id="alerts-{name}".*?</section>', html, re.S)
    assert match, f"no {name} section"
    return match.group(0)


def test_open_alerts_show_the_event_camera_severity_and_each_channels_delivery(viewer_client, raise_alert):
    alert = raise_alert(score=72)
    response = viewer_client.get("/alerts/")
    assert response.status_code == 200
    html = _section(response.content.decode(), "open")
    assert f'href="/events/{alert.event_id}/"' in html and alert.title in html
    assert "Front Door" in html and '<span class="badge high">high</span>' in html
    assert '<span class="channel">hook</span>' in html and '<span class="nstate delivered">delivered</span>' in html
    assert '<span class="channel">broken</span>' in html and '<span class="nstate failed">failed</span>' in html
    assert "HTTP 410 Gone" in html  # the failed attempt's error
    assert f'value="acknowledge:{alert.pk}"' in html and f'value="dismiss:{alert.pk}"' in html


def test_the_history_lists_handled_alerts_with_who_and_every_attempts_error(viewer_client, viewer, raise_alert):
    handled, still_open = raise_alert(minutes_ago=3), raise_alert(cam="garden")
    alert_acknowledge(alert=handled, user=viewer)
    html = viewer_client.get("/alerts/").content.decode()
    history, open_part = _section(html, "history"), _section(html, "open")
    assert f'id="alert-{handled.pk}"' in history and f'id="alert-{handled.pk}"' not in open_part
    assert f'id="alert-{still_open.pk}"' in open_part and f'id="alert-{still_open.pk}"' not in history
    assert "Acknowledged by viewer" in history
    assert re.search(r'class="attempt bad">.*?HTTP 410 Gone.*?\(410\)', history, re.S)
    assert re.search(r'class="attempt ok">.*?delivered', history, re.S)


def test_the_history_pages_newest_first_by_cursor(viewer_client):
    now = timezone.now()
    for n in range(30):
        Alert.objects.create(
            title=f"old alert {n}",
            severity="low",
            state=Alert.State.DISMISSED,
            dedup_key=f"k{n}",
            created_at=now - timedelta(minutes=n),
        )
    first = _section(viewer_client.get("/alerts/").content.decode(), "history")
    titles = re.findall(r"old alert (\d+)<", first)
    assert titles == [str(n) for n in range(25)]
    older = re.search(r'href="/alerts/\?older=([^"#]+)#alerts-history" rel="next"', first).group(1)
    second = _section(viewer_client.get(f"/alerts/?older={older}").content.decode(), "history")
    assert re.findall(r"old alert (\d+)<", second) == [str(n) for n in range(25, 30)]
    assert 'rel="next"' not in second and 'href="/alerts/#alerts-history">Newest' in second


def _queries(client: Client) -> int:
    with CaptureQueriesContext(connection) as queries:
        assert client.get("/alerts/").status_code == 200
    # The snoozes listed and the cameras' snooze controls come from one read.
    assert sum('"alerts_camerasnooze"' in query["sql"] for query in queries) == 1
    return len(queries)


def _alerts_with_deliveries(count: int, channels: list[Channel], user) -> None:
    """`count` open and `count` handled alerts, each with a notification per channel and two
    attempts each: rows as delivery leaves them."""
    now = timezone.now()
    cam = camera(f"cam{Alert.objects.count()}")
    for n in range(count * 2):
        alert = Alert.objects.create(
            camera=cam,
            title=f"alert {n}",
            severity="high",
            state="delivered" if n % 2 else "acknowledged",
            handled_by=None if n % 2 else user,
            dedup_key=f"{cam.pk}:{n}",
            created_at=now - timedelta(seconds=n),
        )
        for channel in channels:
            notification = Notification.objects.create(
                alert=alert, channel=channel, status="delivered", queued_at=now, created_at=now
            )
            NotificationAttempt.objects.bulk_create(
                NotificationAttempt(
                    notification=notification,
                    number=i,
                    ok=i == 2,
                    error="" if i == 2 else "HTTP 503",
                    latency_ms=5,
                    at=now,
                )
                for i in (1, 2)
            )


def test_the_page_costs_the_same_queries_for_two_alerts_or_twelve(viewer_client, viewer, receiver):
    channels = [webhook_channel(receiver.url, name="hook"), webhook_channel(receiver.url, name="phone")]
    _alerts_with_deliveries(2, channels, viewer)
    few = _queries(viewer_client)
    _alerts_with_deliveries(10, channels, viewer)
    assert Alert.objects.count() == 24
    assert _queries(viewer_client) == few <= 16


def test_a_viewer_acknowledges_the_ticked_alerts(viewer_client, viewer, raise_alert):
    a, b, c = raise_alert(cam="a"), raise_alert(cam="b"), raise_alert(cam="c")
    response = viewer_client.post("/alerts/handle", {"action": "acknowledge", "alert": [a.pk, b.pk]})
    assert response.status_code == 302 and response["Location"] == "/alerts/"
    states = dict(Alert.objects.values_list("pk", "state"))
    assert (states[a.pk], states[b.pk], states[c.pk]) == ("acknowledged", "acknowledged", c.state)
    assert set(Alert.objects.filter(state="acknowledged").values_list("handled_by", flat=True)) == {viewer.pk}
    follow = viewer_client.get("/alerts/")
    assert "2 alerts acknowledged." in follow.content.decode()


def test_a_viewer_dismisses_the_ticked_alerts(viewer_client, raise_alert):
    a, b = raise_alert(cam="a"), raise_alert(cam="b")
    viewer_client.post("/alerts/handle", {"action": "dismiss", "alert": [a.pk, b.pk]})
    assert set(Alert.objects.values_list("state", flat=True)) == {"dismissed"}
    assert Alert.objects.filter(dismissed_at__isnull=False).count() == 2


def test_an_alerts_own_button_handles_only_that_alert_even_with_others_ticked(viewer_client, raise_alert):
    a, b = raise_alert(cam="a"), raise_alert(cam="b")
    viewer_client.post("/alerts/handle", {"action": f"dismiss:{a.pk}", "alert": [a.pk, b.pk]})
    assert Alert.objects.get(pk=a.pk).state == "dismissed" and Alert.objects.get(pk=b.pk).state != "dismissed"


def test_nothing_ticked_or_a_strange_action_changes_nothing(viewer_client, raise_alert):
    alert = raise_alert()
    response = viewer_client.post("/alerts/handle", {"action": "acknowledge"}, follow=True)
    assert "Tick at least one alert first." in response.content.decode()
    viewer_client.post("/alerts/handle", {"action": "delete", "alert": [alert.pk]})
    assert Alert.objects.get().state == alert.state


def test_handling_an_alert_handled_already_changes_nothing(viewer_client, admin_user, raise_alert):
    alert = raise_alert()
    alert_dismiss(alert=alert, user=admin_user)
    response = viewer_client.post("/alerts/handle", {"action": "acknowledge", "alert": [alert.pk]}, follow=True)
    assert "handled already" in response.content.decode()
    alert.refresh_from_db()
    assert (alert.state, alert.handled_by_id) == ("dismissed", admin_user.pk)


def test_acknowledging_needs_the_csrf_token_and_a_get_never_writes(viewer, raise_alert):
    alert = raise_alert()
    client = Client(enforce_csrf_checks=True)
    client.force_login(viewer)
    assert client.post("/alerts/handle", {"action": "acknowledge", "alert": [alert.pk]}).status_code == 403
    assert client.get("/alerts/handle", {"action": "acknowledge", "alert": [alert.pk]}).status_code == 405
    assert Alert.objects.get().state == alert.state
    page = client.get("/alerts/").content.decode()
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page).group(1)
    response = client.post(
        "/alerts/handle", {"action": "acknowledge", "alert": [alert.pk], "csrfmiddlewaretoken": token}
    )
    assert response.status_code == 302 and Alert.objects.get().state == "acknowledged"


def test_a_part_of_the_page_comes_alone_for_live_updates(viewer_client, raise_alert):
    alert = raise_alert()
    part = viewer_client.get("/alerts/?part=open").content.decode()
    assert f'id="alert-{alert.pk}"' in part and "<html" not in part and "Open alerts" in part
    assert "Snooze" in viewer_client.get("/alerts/?part=snoozes").content.decode()
    assert viewer_client.get("/alerts/?part=nothing").status_code == 404


def test_the_page_asks_for_a_sign_in(client):
    response = client.get("/alerts/")
    assert response.status_code == 302 and response["Location"].startswith("/accounts/login/?next=/alerts/")
