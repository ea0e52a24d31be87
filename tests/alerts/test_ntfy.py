"""The ntfy transport against a local receiver speaking ntfy's publish API."""

from urllib.parse import parse_qs, urlsplit

import pytest

from alerts.delivery import notification_send
from alerts.models import Channel
from tests.alerts.factory import FRIDAY_NOON
from tests.support.servers import Receiver

pytestmark = pytest.mark.django_db


def _channel(receiver, **config) -> Channel:
    return Channel.objects.create(
        name="phone",
        kind="ntfy",
        config={"server": receiver.url, "topic": "homesec-test", **config},
        secrets={"secret": "tk_localtoken"},
    )


def test_the_snapshot_is_posted_as_the_attachment_with_priority_by_severity(receiver, notify, snapshot):
    notification = notify(_channel(receiver), score=90)
    assert notification_send(notification_id=notification.pk, now=FRIDAY_NOON) == "delivered"
    [request] = receiver.requests
    path = urlsplit(request["path"])
    query = {k: v[0] for k, v in parse_qs(path.query).items()}
    headers = request["headers"]
    assert path.path == "/homesec-test" and request["body"] == snapshot[1]
    assert headers["Filename"] == "snapshot.jpg" and headers["Priority"] == "5"
    assert headers["Authorization"] == "Bearer tk_localtoken"
    assert headers["Click"].endswith(f"/events/{notification.alert.event_id}/")
    assert query["title"].startswith("[homesec] CRITICAL risk 90 on Front Door")
    assert "A person seen by front_door." in query["message"] and "Front Door" in query["message"]


class NtfyWithoutAttachments(Receiver):
    """Answers uploads as an ntfy server with attachments turned off does."""

    def handle(self, handler, body):
        self.requests.append({"path": handler.path, "headers": dict(handler.headers.items()), "body": body})
        if handler.headers.get("Filename"):
            return self.send_json(handler, 400, {"code": 40014, "http": 400, "error": "attachments not allowed"})
        self.send_json(handler, 200, {"id": "abc", "event": "message"})


def test_a_server_without_attachments_gets_the_snapshot_as_a_link(notify):
    server = NtfyWithoutAttachments().start()
    try:
        notification = notify(_channel(server))
        assert notification_send(notification_id=notification.pk, now=FRIDAY_NOON) == "delivered"
        upload, plain = server.requests
        assert upload["headers"].get("Filename") and not plain["headers"].get("Filename")
        assert "/snapshots/" in plain["headers"]["Attach"] and b"Front Door" in plain["body"]
        assert plain["headers"]["Priority"] == "4"
    finally:
        server.stop()


def test_a_refused_token_disables_the_channel(receiver, notify):
    receiver.script = [403]
    channel = _channel(receiver)
    notification = notify(channel)
    assert notification_send(notification_id=notification.pk, now=FRIDAY_NOON) == "failed"
    channel.refresh_from_db()
    assert not channel.enabled and channel.disabled_reason.startswith("HTTP 403")
