import cv2
import numpy as np
import pytest

from alerts.engine import alerts_evaluate
from alerts.models import AlertRule, Notification
from tests.alerts.factory import FRIDAY_NOON, assessed_event


@pytest.fixture
def snapshot(settings, tmp_path):
    """A real JPEG thumbnail under a fresh media root; returns (relative path, bytes)."""
    settings.MEDIA_ROOT = tmp_path / "media"
    settings.PUBLIC_URL = "https://homesec.example.org"
    image = np.full((360, 640, 3), 90, np.uint8)
    cv2.rectangle(image, (100, 50), (180, 210), (0, 255, 0), 2)
    data = cv2.imencode(".jpg", image)[1].tobytes()
    path = settings.MEDIA_ROOT / "thumbs" / "front_door" / "1-0.jpg"
    path.parent.mkdir(parents=True)
    path.write_bytes(data)
    return "thumbs/front_door/1-0.jpg", data


@pytest.fixture
def notify(snapshot):
    """Raise one alert for a person at the front door (with its snapshot) to `channel`,
    and return its notification."""

    def raise_alert(channel, score: int = 72) -> Notification:
        rule = AlertRule.objects.create(name=f"rule for {channel.name}")
        rule.channels.set([channel])
        event = assessed_event(score=score, thumbnail=snapshot[0])
        [alert] = alerts_evaluate(event_id=event.pk, now=FRIDAY_NOON)
        return Notification.objects.get(alert=alert)

    return raise_alert


@pytest.fixture
def smtp(settings, smtp_server):
    """Email channels send to the test's SMTP server; returns its mailbox."""
    settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", smtp_server.port
    settings.EMAIL_USE_TLS = settings.EMAIL_USE_SSL = False
    settings.EMAIL_HOST_USER = settings.EMAIL_HOST_PASSWORD = ""
    settings.DEFAULT_FROM_EMAIL = "homesec@example.org"
    return smtp_server.mailbox
