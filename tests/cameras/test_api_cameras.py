"""/api/cameras/: cameras with their state and today's counts, added and set up by admins
through the same services as the pages; zones drawn as 0-1 points; any member snoozes."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from alerts.models import CameraSnooze
from cameras.models import Camera, FtpAccount, Zone
from tests.alerts.factory import assessed_event
from tests.events.test_api_events import client_for

pytestmark = pytest.mark.django_db


@pytest.fixture
def root(settings, tmp_path):
    settings.CAMERA_ROOT = tmp_path / "cameras"
    settings.CAMERA_ROOT.mkdir()
    return settings.CAMERA_ROOT


def test_cameras_list_with_todays_counts_and_links(root, viewer):
    assessed_event(at=timezone.now() - timedelta(minutes=5), cam="garden")
    assessed_event(at=timezone.now() - timedelta(days=3), cam="garden")
    [garden] = client_for(viewer).get("/api/cameras/").json()
    assert (garden["id"], garden["events_today"], garden["detections_today"]) == ("garden", 1, 1)
    assert garden["latest_image"].endswith("/api/cameras/garden/latest.jpg")
    assert garden["snoozed_until"] is None


def test_an_admin_adds_a_camera_its_folder_and_ftp_account_shown_once(root, admin_user):
    api = client_for(admin_user)
    made = api.post("/api/cameras/", {"name": "Back Yard", "ftp_account": True}, format="json")
    assert made.status_code == 201, made.content
    body = made.json()
    assert body["id"] == "back_yard" and (root / "Back Yard").is_dir()
    account = FtpAccount.objects.get(camera_id="back_yard")
    assert body["ftp"]["username"] == account.username and body["ftp"]["password"] not in account.password_hash
    assert "ftp" not in api.get("/api/cameras/back_yard/").json()


@pytest.mark.parametrize("name", ["../escape", "a/b", "", "x" * 101, "Back Yard"])
def test_a_camera_name_that_cannot_be_a_folder_or_is_taken_is_a_400(root, admin_user, name):
    Camera.objects.create(id="back_yard", name="Back Yard", folder="Back Yard")
    response = client_for(admin_user).post("/api/cameras/", {"name": name}, format="json")
    assert response.status_code == 400 and "name" in response.json()["errors"]
    assert sorted(p.name for p in root.iterdir()) == []


def test_settings_change_through_the_service_checks(root, admin_user):
    assessed_event(cam="porch")
    api = client_for(admin_user)
    changed = api.patch("/api/cameras/porch/", {"time_zone": "America/Chicago", "offline_after_min": 30}, format="json")
    assert changed.status_code == 200 and changed.json()["time_zone"] == "America/Chicago"
    assert Camera.objects.get(pk="porch").offline_after_min == 30
    assert api.patch("/api/cameras/porch/", {"time_zone": "Mars/Olympus"}, format="json").status_code == 400
    bad = api.patch("/api/cameras/porch/", {"filters": {"person": {"min_confidence": 2}}}, format="json")
    assert bad.status_code == 400 and "filters" in bad.json()["errors"]
    assert api.get("/api/cameras/nowhere/").status_code == 404


def test_zones_are_drawn_as_points_between_0_and_1(root, admin_user):
    assessed_event(cam="porch")
    api = client_for(admin_user)
    made = api.post(
        "/api/cameras/porch/zones/", {"name": "gate", "kind": "entry", "polygon": [[0.1, 0.1], [0.9, 0.1], [0.5, 0.8]]},
        format="json",
    )  # fmt: skip
    assert made.status_code == 201, made.content
    assert Zone.objects.get(camera_id="porch", name="gate").polygon == [[0.1, 0.1], [0.9, 0.1], [0.5, 0.8]]
    assert (
        api.post(
            "/api/cameras/porch/zones/", {"name": "x", "polygon": [[0, 0], [2, 0], [1, 1]]}, format="json"
        ).status_code
        == 400
    )
    assert (
        api.post(
            "/api/cameras/porch/zones/", {"name": "gate", "polygon": [[0, 0], [1, 0], [1, 1]]}, format="json"
        ).status_code
        == 400
    )
    assert api.get("/api/cameras/elsewhere/zones/").status_code == 404


def test_a_member_snoozes_a_camera_and_lets_it_out_again(root, viewer):
    assessed_event(cam="porch")
    api = client_for(viewer)
    snoozed = api.post("/api/cameras/porch/snooze/", {"minutes": 60}, format="json")
    assert snoozed.status_code == 200
    until = CameraSnooze.objects.get(camera_id="porch").until
    assert abs((until - timezone.now()) - timedelta(minutes=60)) < timedelta(seconds=30)
    assert api.get("/api/cameras/porch/").json()["snoozed_until"] is not None
    past = (timezone.now() - timedelta(hours=1)).isoformat()
    assert api.post("/api/cameras/porch/snooze/", {"until": past}, format="json").status_code == 400
    assert api.post("/api/cameras/porch/snooze/", {}, format="json").status_code == 400
    assert api.delete("/api/cameras/porch/snooze/").status_code == 204
    assert not CameraSnooze.objects.exists()
