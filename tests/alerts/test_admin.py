"""The operator console for alerts: test sends, rule tests, write-only secrets, actions."""

import json

import pytest

from alerts.engine import alerts_evaluate
from alerts.models import Alert, AlertRule, Channel, Household
from tests.alerts.factory import FRIDAY_NOON, assessed_event, webhook_channel

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    "model", ["alertrule", "alert", "channel", "notification", "alertcheck", "household", "modescheduleentry"]
)
def test_every_alerts_page_of_the_console_opens(admin_client, model):
    assert admin_client.get(f"/admin/alerts/{model}/").status_code == 200


def test_send_a_test_notification_reports_the_outcome(admin_client, receiver):
    channel = webhook_channel(receiver.url)
    response = admin_client.post(
        "/admin/alerts/channel/", {"action": "send_test", "_selected_action": [channel.pk]}, follow=True
    )
    assert "test delivered" in response.content.decode()
    body = json.loads(receiver.requests[0]["body"])
    assert body["kind"] == "test" and body["alert"] is None and "Test notification for hook" in body["title"]
    receiver.script = [500]
    response = admin_client.post(
        "/admin/alerts/channel/", {"action": "send_test", "_selected_action": [channel.pk]}, follow=True
    )
    assert "test failed: HTTP 500" in response.content.decode()
    channel.refresh_from_db()
    assert channel.enabled  # a failed test never disables a channel


def test_channel_secrets_are_write_only(admin_client, receiver):
    channel = webhook_channel(receiver.url)
    page = admin_client.get(f"/admin/alerts/channel/{channel.pk}/change/").content.decode()
    assert "s3cret-for-tests" not in page and "set (hidden)" in page
    form = {"name": "hook", "kind": "webhook", "enabled": "on", "config": json.dumps({"url": receiver.url})}
    assert (
        admin_client.post(f"/admin/alerts/channel/{channel.pk}/change/", {**form, "new_secret": ""}).status_code == 302
    )
    channel.refresh_from_db()
    assert channel.secrets == {"secret": "s3cret-for-tests"}  # an empty field keeps it
    admin_client.post(f"/admin/alerts/channel/{channel.pk}/change/", {**form, "new_secret": "fresh"})
    channel.refresh_from_db()
    assert channel.secrets == {"secret": "fresh"}
    refused = admin_client.post(f"/admin/alerts/channel/{channel.pk}/change/", {**form, "clear_secret": "on"})
    assert "a webhook needs a secret" in refused.content.decode()


def test_re_enabling_a_channel_clears_the_reason(admin_client, receiver):
    channel = webhook_channel(receiver.url, enabled=False, disabled_reason="HTTP 410 Gone")
    admin_client.post("/admin/alerts/channel/", {"action": "enable", "_selected_action": [channel.pk]})
    channel.refresh_from_db()
    assert channel.enabled and channel.disabled_reason == ""


def test_a_bad_channel_config_is_refused_with_the_reason(admin_client):
    response = admin_client.post(
        "/admin/alerts/channel/add/",
        {"name": "phone", "kind": "ntfy", "enabled": "on", "config": json.dumps({"server": "ntfy.sh"})},
    )
    page = response.content.decode()
    assert "config needs &quot;server&quot;" in page or 'config needs "server"' in page
    assert not Channel.objects.exists()


def test_test_this_rule_against_past_events_lists_what_would_match_and_why(admin_client):
    rule = AlertRule.objects.create(name="driveway people", classes=["person"], min_risk_score=60)
    matching = assessed_event(score=72)
    assessed_event(cam="garden", score=30)
    assessed_event(cam="street", seen=(("car", 0.8, ()),), score=70)
    response = admin_client.post(
        "/admin/alerts/alertrule/", {"action": "test_against_events", "_selected_action": [rule.pk], "count": "10"}
    )
    page = response.content.decode()
    assert response.status_code == 200 and "1 of 3 event(s) match" in page
    assert "risk score 72 ≥ 60; person 0.93" in page
    assert "risk score 30 is below 60" in page and "no person seen (saw car)" in page
    assert f"/admin/events/event/{matching.pk}/change/" in page


def test_acknowledge_and_dismiss_from_the_console(admin_client, admin_user):
    AlertRule.objects.create(name="rule")
    [first] = alerts_evaluate(event_id=assessed_event().pk, now=FRIDAY_NOON)
    [second] = alerts_evaluate(event_id=assessed_event(cam="garden").pk, now=FRIDAY_NOON)
    admin_client.post("/admin/alerts/alert/", {"action": "acknowledge", "_selected_action": [first.pk]})
    admin_client.post("/admin/alerts/alert/", {"action": "dismiss", "_selected_action": [second.pk]})
    assert dict(Alert.objects.values_list("pk", "state")) == {first.pk: "acknowledged", second.pk: "dismissed"}
    assert Alert.objects.get(pk=first.pk).handled_by == admin_user


def test_setting_the_mode_by_hand_in_the_console(admin_client, admin_user):
    admin_client.get("/admin/alerts/household/")
    response = admin_client.post("/admin/alerts/household/1/change/", {"mode": "away"})
    assert response.status_code == 302
    household = Household.objects.get()
    assert (household.mode, household.mode_set_by) == ("away", admin_user.username)
    assert household.mode_set_at is not None
