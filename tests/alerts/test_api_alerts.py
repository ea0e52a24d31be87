"""/api/alerts/: open alerts and their history with each channel's delivery, acknowledged
or dismissed one by one or many at once; the household's mode; rules as the console
checks them."""

from __future__ import annotations

from datetime import timedelta

import pytest

from alerts.models import Alert, AlertRule, Household, Notification
from tests.alerts.factory import FRIDAY_NOON, assessed_event, webhook_channel
from tests.events.test_api_events import client_for

pytestmark = pytest.mark.django_db


def alert(state: str, minutes: int, cam: str = "front_door") -> Alert:
    event = assessed_event(at=FRIDAY_NOON + timedelta(minutes=minutes), cam=cam)
    return Alert.objects.create(
        event=event, camera_id=cam, severity="high", level="high", title=f"{state} {minutes}", state=state,
        dedup_key=f"k{minutes}", created_at=event.started_at,
    )  # fmt: skip


def test_open_means_not_yet_acknowledged_or_dismissed(viewer):
    made = [alert(s, n) for n, s in enumerate(["pending", "delivered", "failed", "acknowledged", "dismissed"])]
    api = client_for(viewer)
    open_ids = [a["id"] for a in api.get("/api/alerts/?state=open").json()["results"]]
    assert open_ids == [made[2].pk, made[1].pk, made[0].pk]
    assert api.get("/api/alerts/?state=open&count=true").json()["count"] == 3
    assert [a["id"] for a in api.get("/api/alerts/?state=dismissed").json()["results"]] == [made[4].pk]


def test_each_channels_delivery_and_attempts_are_in_the_alert(viewer):
    one = alert("delivered", 1)
    hook = webhook_channel("http://127.0.0.1:9/hook")
    Notification.objects.create(
        alert=one, channel=hook, status="failed", error="HTTP 500", queued_at=one.created_at,
        created_at=one.created_at,
    )  # fmt: skip
    body = client_for(viewer).get(f"/api/alerts/{one.pk}/").json()
    assert [(n["channel"], n["kind"], n["status"], n["error"]) for n in body["notifications"]] == [
        ("hook", "webhook", "failed", "HTTP 500")
    ]
    assert "s3cret" not in str(body)


def test_a_member_acknowledges_one_and_dismisses_many(viewer):
    first, second, third = alert("delivered", 1), alert("failed", 2), alert("pending", 3)
    api = client_for(viewer)
    acked = api.post(f"/api/alerts/{first.pk}/acknowledge/").json()
    assert acked["state"] == "acknowledged" and acked["handled_by"] == "viewer"
    handled = api.post(
        "/api/alerts/handle/", {"ids": [first.pk, second.pk, third.pk], "action": "dismiss"}, format="json"
    )
    assert handled.json() == {"handled": 2}  # the first was handled already
    assert dict(Alert.objects.values_list("pk", "state")) == {
        first.pk: "acknowledged", second.pk: "dismissed", third.pk: "dismissed",
    }  # fmt: skip
    assert api.post("/api/alerts/handle/", {"ids": [1], "action": "delete"}, format="json").status_code == 400


def test_the_mode_is_read_and_set_by_members(viewer):
    api = client_for(viewer)
    assert api.get("/api/household/").json()["mode"] == "home"
    set_ = api.patch("/api/household/", {"mode": "night"}, format="json").json()
    assert set_["mode"] == "night" and "by hand" in set_["source"]
    assert Household.objects.get().mode == "night"
    assert api.patch("/api/household/", {"mode": "party"}, format="json").status_code == 400


def test_rules_are_checked_as_the_console_checks_them(admin_user):
    api = client_for(admin_user)
    made = api.post("/api/rules/", {"name": "cars at night", "classes": ["car"], "modes": ["night"]}, format="json")
    assert made.status_code == 201, made.content
    assert AlertRule.objects.get(name="cars at night").classes == ["car"]
    assert api.post("/api/rules/", {"name": "bad", "classes": ["unicorn"]}, format="json").status_code == 400
    assert api.post("/api/rules/", {"name": "bad", "modes": ["party"]}, format="json").status_code == 400
    assert api.post("/api/rules/", {"name": "cars at night"}, format="json").status_code == 400
