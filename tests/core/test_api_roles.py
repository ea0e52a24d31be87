"""Who may do what through the API, endpoint by endpoint: anonymous callers get 401,
viewers read and do what the household does with what it sees (review, acknowledge,
dismiss, snooze, the mode), and only admins configure. One table against real rows."""

from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from alerts.models import Alert, AlertRule, Channel
from homesec.core.services import api_token_create
from tests.alerts.factory import assessed_event, webhook_channel, zone
from tests.events.test_api_export import body

pytestmark = pytest.mark.django_db

A, V, ADM = "anonymous", "viewer", "admin"


@pytest.fixture
def world(settings, tmp_path):
    settings.CAMERA_ROOT = tmp_path / "cameras"
    settings.CAMERA_ROOT.mkdir()
    event = assessed_event()
    the_zone = zone("front_door", "porch")
    alert = Alert.objects.create(
        event=event, camera_id="front_door", severity="high", title="t", dedup_key="k", created_at=event.started_at
    )
    rule = AlertRule.objects.create(name="night people")
    channel = webhook_channel("http://127.0.0.1:9/hook")
    return {"event": event.pk, "zone": the_zone.pk, "alert": alert.pk, "rule": rule.pk, "channel": channel.pk}


def caller(who: str, viewer, admin_user) -> APIClient:
    client = APIClient()
    if who != A:
        _, key = api_token_create(user=viewer if who == V else admin_user, name="t")
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {key}")
    return client


# (method, url, body, what a viewer gets, what an admin gets); anonymous always 401.
CASES = [
    ("get", "/api/cameras/", None, 200, 200),
    ("get", "/api/cameras/front_door/", None, 200, 200),
    ("post", "/api/cameras/", {"name": "Shed"}, 403, 201),
    ("patch", "/api/cameras/front_door/", {"enabled": False}, 403, 200),
    ("get", "/api/cameras/front_door/zones/", None, 200, 200),
    ("post", "/api/cameras/front_door/zones/", {"name": "gate", "polygon": [[0, 0], [1, 0], [1, 1]]}, 403, 201),
    ("patch", "/api/cameras/front_door/zones/{zone}/", {"enabled": False}, 403, 200),
    ("delete", "/api/cameras/front_door/zones/{zone}/", None, 403, 204),
    ("post", "/api/cameras/front_door/snooze/", {"minutes": 30}, 200, 200),
    ("delete", "/api/cameras/front_door/snooze/", None, 204, 204),
    ("get", "/api/events/", None, 200, 200),
    ("get", "/api/events/{event}/", None, 200, 200),
    ("patch", "/api/events/{event}/", {"reviewed": True}, 200, 200),
    ("post", "/api/events/review/", {"ids": ["{event}"]}, 200, 200),
    ("post", "/api/events/{event}/reassess/", None, 403, 202),
    ("get", "/api/events/export/", None, 200, 200),
    ("get", "/api/detections/", None, 200, 200),
    ("get", "/api/alerts/", None, 200, 200),
    ("get", "/api/alerts/{alert}/", None, 200, 200),
    ("post", "/api/alerts/{alert}/acknowledge/", None, 200, 200),
    ("post", "/api/alerts/handle/", {"ids": ["{alert}"], "action": "dismiss"}, 200, 200),
    ("get", "/api/household/", None, 200, 200),
    ("patch", "/api/household/", {"mode": "away"}, 200, 200),
    ("get", "/api/rules/", None, 200, 200),
    ("post", "/api/rules/", {"name": "cars", "classes": ["car"]}, 403, 201),
    ("patch", "/api/rules/{rule}/", {"min_risk_score": 40}, 403, 200),
    ("delete", "/api/rules/{rule}/", None, 403, 204),
    ("get", "/api/channels/", None, 403, 200),
    ("get", "/api/channels/{channel}/", None, 403, 200),
    (
        "post",
        "/api/channels/",
        {"name": "n", "kind": "ntfy", "config": {"server": "http://127.0.0.1:9", "topic": "t"}},
        403,
        201,
    ),
    ("patch", "/api/channels/{channel}/", {"enabled": False}, 403, 200),
    ("delete", "/api/channels/{channel}/", None, 403, 204),
    ("get", "/api/system/health/", None, (200, 503), (200, 503)),
    ("get", "/api/system/stats/", None, 200, 200),
    ("get", "/api/system/gpu/", None, 200, 200),
]


def _fill(value, ids):
    if isinstance(value, str) and value.startswith("{") and value.endswith("}"):
        return ids[value[1:-1]]
    if isinstance(value, dict):
        return {k: _fill(v, ids) for k, v in value.items()}
    if isinstance(value, list):
        return [_fill(v, ids) for v in value]
    return value


@pytest.mark.parametrize("method,url,data,as_viewer,as_admin", CASES, ids=[f"{c[0]} {c[1]}" for c in CASES])
def test_every_endpoint_answers_each_role_as_the_roles_say(
    world, viewer, admin_user, method, url, data, as_viewer, as_admin
):
    # In this order: what the viewer may do to a row, the admin may do after.
    for who, expected in ((A, 401), (V, as_viewer), (ADM, as_admin)):
        response = getattr(caller(who, viewer, admin_user), method)(
            url.format(**world), _fill(data, world), format="json"
        )
        assert response.status_code in (expected if isinstance(expected, tuple) else (expected,)), (
            who,
            response.content,
        )
        if response.status_code >= 400 and response.status_code != 503:  # not ready: the readiness report
            assert response["Content-Type"] == "application/problem+json"


def test_no_answer_carries_a_secret(settings, world, admin_user, viewer):
    """The channel's secret, the LLM's key, tokens and the secret key never leave."""
    Channel.objects.filter(pk=world["channel"]).update(secrets={"secret": "hook-secret-7f3a9"})
    settings.LLM_PROVIDERS = [("http://127.0.0.1:9/v1", "model", "llm-key-55c1e")]
    admin = caller(ADM, viewer, admin_user)
    secrets = ["hook-secret-7f3a9", "llm-key-55c1e", settings.SECRET_KEY]
    for method, url, *_ in CASES:
        if method == "get":
            response = admin.get(url.format(**world))
            text = body(response) if response.streaming else response.content.decode()
            assert not any(secret in text for secret in secrets), url
    channel = admin.get(f"/api/channels/{world['channel']}/").json()
    assert channel["has_secret"] is True and "secret" not in channel and "secrets" not in channel


def test_a_channel_secret_is_write_only_and_checked_by_its_transport(world, viewer, admin_user):
    admin = caller(ADM, viewer, admin_user)
    url = f"/api/channels/{world['channel']}/"
    changed = admin.patch(url, {"secret": "new-secret-1"}, format="json")
    assert changed.json()["has_secret"] is True, changed.content
    assert Channel.objects.get(pk=world["channel"]).secrets == {"secret": "new-secret-1"}
    cleared = admin.patch(url, {"clear_secret": True}, format="json")  # a webhook signs with it
    assert cleared.status_code == 400 and "needs a secret" in str(cleared.json()["errors"])
    bad = admin.patch(url, {"config": {"url": "not a url"}}, format="json")
    assert bad.status_code == 400 and "config" in bad.json()["errors"]
