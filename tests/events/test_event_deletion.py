"""Deleting an event or an ingest from the console: what goes, and what must not come back."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from alerts.engine import alerts_evaluate
from alerts.models import Alert, AlertCheck, AlertRule
from cameras.models import Ingest
from cameras.watcher import CameraWatcher
from detections.models import Detection
from events.grouping import event_sweep
from events.models import Event
from tests.alerts.factory import assessed_event, webhook_channel
from tests.cameras.corpus import good_jpeg

pytestmark = pytest.mark.django_db(transaction=True)


def console_delete(client, model: str, pk: int):
    response = client.post(f"/admin/{model}/{pk}/delete/", {"post": "yes"})
    assert response.status_code == 302, response.content.decode()[:500]


def test_a_deleted_events_detections_never_come_back_as_a_new_event(admin_client, settings):
    settings.INGEST_STALE_S = 60
    event = assessed_event(at=timezone.now() - timedelta(minutes=10))
    console_delete(admin_client, "events/event", event.pk)
    Detection.objects.update(created_at=timezone.now() - timedelta(minutes=10))  # long enough to look lost
    assert event_sweep()["detections"] == 0
    assert not Event.objects.exists()


def test_deleting_an_event_removes_its_detections_and_thumbnails(admin_client, settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"
    thumb = settings.MEDIA_ROOT / "thumbs" / "front_door" / "1-0.jpg"
    thumb.parent.mkdir(parents=True)
    thumb.write_bytes(b"jpeg")
    event = assessed_event(thumbnail="thumbs/front_door/1-0.jpg")
    console_delete(admin_client, "events/event", event.pk)
    assert not Detection.objects.exists() and not thumb.exists()
    assert Ingest.objects.exists()  # the upload's record stays: it is what stops it being taken again


def test_deleting_an_event_keeps_the_cooldown_of_the_alert_it_raised(admin_client, receiver):
    webhook_channel(receiver.url)
    AlertRule.objects.create(name="everything", all_channels=True, cooldown_s=300)
    now = timezone.now()
    first = assessed_event(at=now - timedelta(seconds=60))
    [alert] = alerts_evaluate(event_id=first.pk, now=now - timedelta(seconds=60))
    console_delete(admin_client, "events/event", first.pk)
    assert Alert.objects.filter(pk=alert.pk, event=None).exists()  # what was sent stays on record
    second = assessed_event(at=now)
    assert alerts_evaluate(event_id=second.pk, now=now) == []
    assert "cooldown" in AlertCheck.objects.get(event=second).decisions[0]["why"]


def test_a_deleted_ingest_is_not_taken_again_by_the_rescan(admin_client, settings, tmp_path):
    settings.CAMERA_ROOT = tmp_path / "cameras"
    settings.MEDIA_ROOT = tmp_path / "media"
    settings.INGEST_NEXT_STAGE = ""
    from cameras.ingest import ingest_process, ingest_register

    path = good_jpeg(settings.CAMERA_ROOT / "porch" / "snap.jpg")
    ids = ingest_register(paths=[path])
    ingest_process(ingest_ids=ids)
    console_delete(admin_client, "cameras/ingest", ids[0])
    CameraWatcher(settings.CAMERA_ROOT).scan(settings.CAMERA_ROOT.resolve())
    assert not Ingest.objects.filter(status__in=["pending", "done"]).exists()
