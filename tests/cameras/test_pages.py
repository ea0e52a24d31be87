"""The overview and the cameras pages through the Django test client: tiles, the latest
image and its cache, the household mode, today's counts, adding a camera with its FTP
account, a camera's settings and zones, and what viewers may not do."""

from __future__ import annotations

import re
import time
from datetime import UTC, datetime, timedelta

import cv2
import numpy as np
import pytest
from django.contrib.auth.hashers import check_password
from django.utils import timezone

from alerts.models import Alert
from alerts.selectors import alerts_open_count, household_mode
from cameras.ingest import ingest_delete, ingest_process, ingest_register
from cameras.models import Camera, FtpAccount, Ingest, Zone
from cameras.services import camera_check_offline, camera_saw_upload
from detections.models import Detection
from events.models import Event
from homesec.core.models import LiveMessage
from tests.cameras.corpus import good_clip, good_jpeg

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def folders(tmp_path, settings):
    settings.CAMERA_ROOT = tmp_path / "cameras"
    settings.MEDIA_ROOT = tmp_path / "media"
    settings.DATA_DIR = tmp_path / "data"
    for folder in (settings.CAMERA_ROOT, settings.MEDIA_ROOT, settings.DATA_DIR):
        folder.mkdir()
    settings.INGEST_NEXT_STAGE = ""


def upload(settings, folder: str, name: str, *, w: int = 1280, h: int = 720, seed: int = 0, clip: bool = False) -> int:
    """One file into a camera folder, registered and accepted as the watcher and a worker would."""
    path = settings.CAMERA_ROOT / folder / name
    good_clip(path, w=w, h=h) if clip else good_jpeg(path, w=w, h=h, seed=seed)
    ids = ingest_register(paths=[path])
    ingest_process(ingest_ids=ids)
    assert Ingest.objects.get(pk=ids[0]).status == "done"
    return ids[0]


def main_html(response) -> str:
    html = response.content.decode()
    return html[html.index("<main>") : html.index("</main>")]


def tile_html(html: str, camera_id: str) -> str:
    start = html.index(f'id="tile-{camera_id}"')
    return html[start : html.index("</article>", start)]


def event(camera: Camera, *, at: datetime, status: str = "open", score: int | None = None, level: str = "") -> Event:
    return Event.objects.create(
        camera=camera,
        status=status,
        started_at=at,
        last_detection_at=at,
        chain_started_at=at,
        risk_score=score,
        risk_level=level,
    )


# --- The overview ---------------------------------------------------------------------------


def test_the_overview_shows_each_cameras_latest_image_status_open_event_risk_and_last_upload(settings, viewer_client):
    upload(settings, "Front Door", "a.jpg", seed=1)
    newest = upload(settings, "Front Door", "b.jpg", seed=2)
    door = Camera.objects.get(pk="front_door")
    seen = datetime(2026, 7, 4, 18, 5, tzinfo=UTC)
    Camera.objects.filter(pk=door.pk).update(time_zone="America/New_York", last_seen_at=seen)
    open_event = event(door, at=timezone.now(), score=72, level="high")
    event(door, at=timezone.now() - timedelta(hours=1), status="closed", score=95, level="critical")
    Camera.objects.create(
        id="garage",
        name="Garage",
        folder="garage",
        status="error",
        status_reason="uploads keep being rejected: not an image",
    )

    response = viewer_client.get("/")
    assert response.status_code == 200
    html = main_html(response)
    door_tile = tile_html(html, "front_door")
    assert f'src="/cameras/front_door/latest.jpg?v={newest}"' in door_tile
    assert 'data-status="online"' in door_tile
    assert f'href="/events/{open_event.pk}/"' in door_tile
    assert re.search(r'class="badge high">high</span>\s*<span class="score"[^>]*>72</span>', door_tile)
    assert "critical" not in door_tile  # the closed event is not the current risk
    assert "Sat 4 Jul, 14:05 EDT" in door_tile  # the camera's zone, not the household's

    garage_tile = tile_html(html, "garage")
    assert 'data-status="error"' in garage_tile and "uploads keep being rejected: not an image" in garage_tile
    assert "No image yet" in garage_tile and "No open event" in garage_tile and "never" in garage_tile


def test_the_overview_costs_the_same_queries_for_one_camera_or_many(
    settings, viewer_client, django_assert_max_num_queries
):
    upload(settings, "porch", "a.jpg")
    event(Camera.objects.get(), at=timezone.now(), score=40, level="medium")
    with django_assert_max_num_queries(12) as one:
        viewer_client.get("/")
    for n in range(6):
        camera = Camera.objects.create(id=f"cam{n}", name=f"Cam {n}", folder=f"cam{n}")
        upload(settings, f"cam{n}", "a.jpg", seed=n + 1)
        event(camera, at=timezone.now(), score=90, level="critical")
    with django_assert_max_num_queries(len(one.captured_queries)):
        assert viewer_client.get("/").content.decode().count('class="card tile"') == 7


def test_an_open_event_not_yet_assessed_says_so(settings, viewer_client):
    camera = Camera.objects.create(id="porch", name="Porch", folder="porch")
    open_event = event(camera, at=timezone.now())
    tile = tile_html(main_html(viewer_client.get("/")), "porch")
    assert f"Event #{open_event.pk}" in tile and ">not assessed yet<" in tile


def test_the_tile_fragment_is_one_cameras_tile_and_unknown_cameras_are_404(settings, viewer_client):
    upload(settings, "porch", "a.jpg")
    response = viewer_client.get("/cameras/porch/tile")
    html = response.content.decode()
    assert response.status_code == 200 and html.strip().startswith('<article class="card tile" id="tile-porch"')
    assert "<main" not in html
    assert viewer_client.get("/cameras/nope/tile").status_code == 404


def test_the_latest_image_is_downscaled_cached_and_made_again_only_for_a_newer_upload(settings, viewer_client):
    first = upload(settings, "porch", "a.jpg", w=1920, h=1080, seed=1)
    response = viewer_client.get("/cameras/porch/latest.jpg?v=whatever")
    assert response.status_code == 200 and response["Content-Type"] == "image/jpeg"
    image = cv2.imdecode(np.frombuffer(b"".join(response.streaming_content), np.uint8), cv2.IMREAD_COLOR)
    assert image.shape[:2] == (360, 640)
    cached = settings.DATA_DIR / "cache" / "latest" / "porch" / f"{first}.jpg"
    made_at = cached.stat().st_mtime_ns

    time.sleep(0.02)
    again = viewer_client.get("/cameras/porch/latest.jpg")
    assert again.status_code == 200 and b"".join(again.streaming_content)
    assert cached.stat().st_mtime_ns == made_at  # served from the cache, not decoded again
    # The browser asks again with the ETag and gets a 304.
    assert viewer_client.get("/cameras/porch/latest.jpg", HTTP_IF_NONE_MATCH=again["ETag"]).status_code == 304

    second = upload(settings, "porch", "b.jpg", w=1920, h=1080, seed=2)
    viewer_client.get("/cameras/porch/latest.jpg")
    assert (settings.DATA_DIR / "cache" / "latest" / "porch" / f"{second}.jpg").is_file()
    assert not cached.exists()  # the older upload's image is not kept


def test_a_clips_latest_image_is_its_first_frame_and_small_pictures_are_not_enlarged(settings, viewer_client):
    upload(settings, "drive", "clip.mp4", w=320, h=240, clip=True)
    response = viewer_client.get("/cameras/drive/latest.jpg")
    image = cv2.imdecode(np.frombuffer(b"".join(response.streaming_content), np.uint8), cv2.IMREAD_COLOR)
    assert response.status_code == 200 and image.shape[:2] == (240, 320)


def test_the_latest_image_refuses_unknown_cameras_and_never_takes_a_path(settings, viewer_client, client):
    upload(settings, "porch", "a.jpg")
    Camera.objects.create(id="attic", name="Attic", folder="attic")
    assert viewer_client.get("/cameras/nope/latest.jpg").status_code == 404
    assert viewer_client.get("/cameras/attic/latest.jpg").status_code == 404  # nothing uploaded yet
    assert viewer_client.get("/cameras/..%2F..%2Fetc/latest.jpg").status_code == 404
    assert viewer_client.get("/cameras/porch/latest.jpg?path=../../etc/passwd").status_code == 200
    assert client.get("/cameras/porch/latest.jpg").status_code == 302  # signed out: to the login page


def test_an_upload_replaced_since_its_check_is_not_decoded_and_the_one_before_shows(settings, viewer_client):
    first = upload(settings, "porch", "a.jpg", seed=1)
    second = upload(settings, "porch", "b.jpg", seed=2)
    (settings.CAMERA_ROOT / "porch" / "b.jpg").write_bytes(b"\xff\xd8 something else entirely")
    assert viewer_client.get("/cameras/porch/latest.jpg").status_code == 200
    folder = settings.DATA_DIR / "cache" / "latest" / "porch"
    assert (folder / f"{first}.jpg").is_file() and (folder / f"{second}.none").is_file()


def test_a_deleted_uploads_picture_leaves_the_cache_and_the_one_before_shows(
    settings, viewer_client, django_capture_on_commit_callbacks
):
    first = upload(settings, "porch", "a.jpg", seed=1)
    second = upload(settings, "porch", "b.jpg", seed=2)
    folder = settings.DATA_DIR / "cache" / "latest" / "porch"
    viewer_client.get("/cameras/porch/latest.jpg")
    assert (folder / f"{second}.jpg").is_file()
    with django_capture_on_commit_callbacks(execute=True):
        ingest_delete(ingest_ids=[second])
    assert not (folder / f"{second}.jpg").exists()
    assert f"latest.jpg?v={first}" in tile_html(main_html(viewer_client.get("/")), "porch")
    assert viewer_client.get("/cameras/porch/latest.jpg").status_code == 200
    assert [p.name for p in folder.iterdir()] == [f"{first}.jpg"]


def test_a_camera_going_offline_or_into_error_sends_one_live_message(settings):
    long_ago = timezone.now() - timedelta(hours=1)
    Camera.objects.create(id="porch", name="Porch", folder="porch", offline_after_min=10, last_seen_at=long_ago)
    camera_check_offline()
    camera_check_offline()
    door = Camera.objects.create(id="door", name="Door", folder="door")
    for _ in range(4):
        camera_saw_upload(door, rejected=True, reason="not an image", now=timezone.now())
    kinds = list(LiveMessage.objects.filter(kind="camera.status").values_list("payload", flat=True))
    assert kinds == [{"camera": "porch", "status": "offline"}, {"camera": "door", "status": "error"}]


def test_an_accepted_upload_sends_one_live_message_per_camera(settings):
    paths = [good_jpeg(settings.CAMERA_ROOT / "porch" / f"{n}.jpg", seed=n) for n in range(3)]
    ids = ingest_register(paths=paths)
    ingest_process(ingest_ids=ids)
    messages = list(LiveMessage.objects.filter(kind="camera.upload").values_list("stream", "payload"))
    assert messages == [("events", {"camera": "porch", "ingest": max(ids)})]


def test_an_admin_switches_the_household_mode_and_a_viewers_forged_post_is_refused(admin_client, viewer_client):
    assert 'action="/overview/mode"' not in main_html(viewer_client.get("/"))
    assert viewer_client.post("/overview/mode", {"mode": "away"}).status_code == 403
    assert household_mode(now=timezone.now()).mode == "home"

    overview = main_html(admin_client.get("/"))
    assert 'action="/overview/mode"' in overview and 'value="night"' in overview
    response = admin_client.post("/overview/mode", {"mode": "night"})
    assert response.status_code == 302 and response["Location"] == "/"
    mode = household_mode(now=timezone.now())
    assert mode.mode == "night" and "admin" in mode.source
    assert admin_client.post("/overview/mode", {"mode": "party"}).status_code == 302
    assert household_mode(now=timezone.now()).mode == "night"
    assert admin_client.get("/overview/mode").status_code == 405  # a GET never writes


def test_the_overview_counts_the_open_alerts(viewer_client):
    now = timezone.now()
    for n, state in enumerate(["pending", "delivered", "failed", "acknowledged", "dismissed"]):
        Alert.objects.create(
            kind="disk_low", severity="high", title=f"alert {n}", dedup_key=f"k{n}", state=state, created_at=now
        )
    assert alerts_open_count() == 3
    assert re.search(r'id="open-alerts-count">3</strong> open alerts', main_html(viewer_client.get("/")))
    summary = viewer_client.get("/overview/summary").content.decode()
    assert 'id="open-alerts-count">3<' in summary and "<main" not in summary


# --- The cameras list -----------------------------------------------------------------------


def test_the_cameras_list_counts_todays_events_and_detections_in_a_fixed_number_of_queries(
    settings, viewer_client, django_assert_max_num_queries
):
    settings.TIME_ZONE = "Europe/Berlin"
    now = timezone.now()
    midnight = timezone.localtime(now).replace(hour=0, minute=0, second=0, microsecond=0)
    door = Camera.objects.create(id="door", name="Door", folder="door")
    Camera.objects.create(id="yard", name="Yard", folder="yard")
    for at in (midnight + timedelta(minutes=1), now, midnight - timedelta(minutes=1)):
        event(door, at=at, status="closed")
    ingest = Ingest.objects.create(camera=door, path="door/x.jpg", size=1, mtime_ns=1, arrived_at=now, queued_at=now)
    for at in (midnight, now, now, midnight - timedelta(seconds=1)):
        Detection.objects.create(
            camera=door, ingest=ingest, captured_at=at, label="person", confidence=0.9,
            x=0, y=0, width=1, height=1, frame_width=10, frame_height=10,
        )  # fmt: skip

    def rows() -> dict[str, tuple[str, str]]:
        html = main_html(viewer_client.get("/cameras/"))
        found = re.findall(
            r'id="camera-(\w+)".*?class="num events-today">(\d+)<.*?class="num detections-today">(\d+)<', html, re.S
        )
        return {camera: (events, detections) for camera, events, detections in found}

    assert rows() == {"door": ("2", "3"), "yard": ("0", "0")}
    with django_assert_max_num_queries(8) as few:
        rows()
    for n in range(5):
        Camera.objects.create(id=f"extra{n}", name=f"Extra {n}", folder=f"extra{n}")
    with django_assert_max_num_queries(len(few.captured_queries)):
        assert len(rows()) == 7  # more cameras, not more queries


def test_an_admin_adds_a_camera_its_folder_and_its_ftp_account_whose_password_shows_once(settings, admin_client):
    response = admin_client.post("/cameras/add", {"name": "  Back   Yard ", "ftp_account": "on"})
    assert response.status_code == 200
    camera = Camera.objects.get()
    assert (camera.pk, camera.name, camera.folder) == ("back_yard", "Back Yard", "Back Yard")
    assert (settings.CAMERA_ROOT / "Back Yard").is_dir()
    password = re.search(r'id="ftp-password">([^<]+)<', response.content.decode()).group(1)
    account = FtpAccount.objects.get(camera=camera)
    assert account.username == "back_yard" and len(password) >= 24
    assert check_password(password, account.password_hash) and password not in account.password_hash
    assert response["Cache-Control"] == "no-store"
    page = admin_client.get("/cameras/back_yard/").content.decode()
    assert password not in page and "back_yard" in page

    # A new password replaces the old one, shown once too.
    again = admin_client.post("/cameras/back_yard/ftp").content.decode()
    new_password = re.search(r'id="ftp-password">([^<]+)<', again).group(1)
    account.refresh_from_db()
    assert new_password != password and check_password(new_password, account.password_hash)
    assert not check_password(password, account.password_hash)

    # Uploads into the new folder belong to the camera, as for a folder that appeared by itself.
    ingest = Ingest.objects.get(pk=upload(settings, "Back Yard", "a.jpg"))
    assert ingest.camera_id == "back_yard" and Camera.objects.count() == 1


def test_a_camera_added_without_an_ftp_account_goes_to_its_page(settings, admin_client):
    response = admin_client.post("/cameras/add", {"name": "Garage"})
    assert response.status_code == 302 and response["Location"] == "/cameras/garage/"
    assert not FtpAccount.objects.exists() and (settings.CAMERA_ROOT / "Garage").is_dir()


@pytest.mark.parametrize(
    ("name", "error"),
    [
        ("../etc", "Use letters, digits"),
        (".hidden", "Use letters, digits"),
        ("a/b", "Use letters, digits"),
        ("upload.part", "Use letters, digits"),
        ("", "This field is required"),
        ("garage", "There is a camera of that name already"),
    ],
)
def test_a_camera_name_that_cannot_be_a_folder_or_is_taken_is_refused(settings, admin_client, name, error):
    Camera.objects.create(id="garage", name="Garage", folder="Garage")
    response = admin_client.post("/cameras/add", {"name": name, "ftp_account": "on"})
    assert response.status_code == 400 and error in response.content.decode()
    assert Camera.objects.count() == 1 and not FtpAccount.objects.exists()
    assert sorted(p.name for p in settings.CAMERA_ROOT.iterdir()) == []


# --- A camera's settings -------------------------------------------------------------------


def settings_post(**changes) -> dict:
    data = {"name": "Front Door", "enabled": "on", "time_zone": "Europe/Berlin", "offline_after_min": ""}
    data.update(changes)
    return data


def test_an_admin_saves_a_cameras_settings_and_filters(admin_client):
    Camera.objects.create(id="door", name="Door", folder="door")
    response = admin_client.post(
        "/cameras/door/settings",
        settings_post(offline_after_min="30", person__min_confidence="0.7", car__max_area="0.5", enabled=""),
    )
    assert response.status_code == 302
    camera = Camera.objects.get()
    assert (camera.name, camera.enabled, camera.time_zone, camera.offline_after_min) == (
        "Front Door",
        False,
        "Europe/Berlin",
        30,
    )
    assert camera.filters == {"person": {"min_confidence": 0.7}, "car": {"max_area": 0.5}}
    page = admin_client.get("/cameras/door/").content.decode()
    assert 'name="person__min_confidence"' in page and 'value="0.7"' in page


@pytest.mark.parametrize(
    ("changes", "error"),
    [
        ({"time_zone": "Mars/Olympus_Mons"}, "Select a valid choice"),
        ({"offline_after_min": "0"}, "greater than or equal to 1"),
        ({"person__min_confidence": "1.5"}, "less than or equal to 1"),
        ({"dog__min_area": "0.5", "dog__max_area": "0.2"}, "dog: the minimum area is above the maximum area"),
        ({"name": ""}, "This field is required"),
    ],
)
def test_invalid_settings_are_shown_and_nothing_is_saved(admin_client, changes, error):
    Camera.objects.create(id="door", name="Door", folder="door")
    response = admin_client.post("/cameras/door/settings", settings_post(**changes))
    assert response.status_code == 400 and error in response.content.decode()
    camera = Camera.objects.get()
    assert (camera.name, camera.filters, camera.offline_after_min) == ("Door", {}, None)


def test_a_time_zone_that_is_no_time_zone_shows_as_it_is_and_is_refused_on_save(admin_client):
    Camera.objects.create(id="door", name="Door", folder="door", time_zone="Europe/Berln")
    page = admin_client.get("/cameras/door/").content.decode()
    assert '<option value="Europe/Berln" selected>Europe/Berln (not a time zone)</option>' in page
    response = admin_client.post("/cameras/door/settings", settings_post(time_zone="Europe/Berln"))
    assert response.status_code == 400 and "&#x27;Europe/Berln&#x27; is not a time zone." in response.content.decode()
    assert Camera.objects.get().name == "Door"


# --- Zones ---------------------------------------------------------------------------------


def zone_post(**changes) -> dict:
    data = {"name": "porch", "kind": "entry", "enabled": "on", "polygon": "[[0.1,0.2],[0.6,0.2],[0.6,0.9]]"}
    data.update(changes)
    return data


def test_an_admin_saves_edits_and_deletes_a_zone(admin_client):
    Camera.objects.create(id="door", name="Door", folder="door")
    response = admin_client.post("/cameras/door/zones", zone_post())
    assert response.status_code == 302 and response["Location"] == "/cameras/door/#zones"
    zone = Zone.objects.get()
    assert (zone.name, zone.kind, zone.enabled, zone.polygon) == (
        "porch",
        "entry",
        True,
        [[0.1, 0.2], [0.6, 0.2], [0.6, 0.9]],
    )

    admin_client.post(
        "/cameras/door/zones", zone_post(zone=zone.pk, name="steps", enabled="", polygon="[[0,0],[1,0],[1,1],[0,1]]")
    )
    zone.refresh_from_db()
    assert (zone.name, zone.enabled, len(zone.polygon)) == ("steps", False, 4) and Zone.objects.count() == 1
    page = admin_client.get("/cameras/door/").content.decode()
    assert (
        'viewBox="0 0 1 1"' in page
        and 'preserveAspectRatio="none"' in page
        and "0.0,0.0 1.0,0.0 1.0,1.0 0.0,1.0" in page
    )

    assert admin_client.post(f"/cameras/door/zones/{zone.pk}/delete").status_code == 302
    assert not Zone.objects.exists()


@pytest.mark.parametrize(
    ("changes", "error"),
    [
        ({"polygon": "[[0.1,0.2],[0.6,0.2]]"}, "at least three points"),
        ({"polygon": "[[0.1,0.2],[1.6,0.2],[0.6,0.9]]"}, "at least three points, each inside the picture"),
        ({"polygon": "not json"}, "could not be read"),
        ({"polygon": ""}, "Draw the zone"),
        ({"kind": "moat"}, "Select a valid choice"),
        ({"name": "taken"}, "already exists"),
    ],
)
def test_an_invalid_zone_is_refused_with_the_reason(admin_client, changes, error):
    camera = Camera.objects.create(id="door", name="Door", folder="door")
    Zone.objects.create(camera=camera, name="taken", polygon=[[0, 0], [1, 0], [1, 1]])
    response = admin_client.post("/cameras/door/zones", zone_post(**changes))
    assert response.status_code == 400 and error in response.content.decode()
    assert Zone.objects.count() == 1


def test_a_zone_of_another_camera_cannot_be_edited_or_deleted_through_this_one(admin_client):
    Camera.objects.create(id="door", name="Door", folder="door")
    other = Camera.objects.create(id="yard", name="Yard", folder="yard")
    zone = Zone.objects.create(camera=other, name="lawn", polygon=[[0, 0], [1, 0], [1, 1]])
    assert admin_client.post("/cameras/door/zones", zone_post(zone=zone.pk)).status_code == 404
    assert admin_client.post(f"/cameras/door/zones/{zone.pk}/delete").status_code == 404
    assert Zone.objects.get().name == "lawn"


# --- Viewers -------------------------------------------------------------------------------


def test_a_viewer_sees_the_configuration_without_controls_and_forged_posts_get_403(settings, viewer_client):
    upload(settings, "door", "a.jpg")
    camera = Camera.objects.get()
    zone = Zone.objects.create(camera=camera, name="porch", kind="entry", polygon=[[0, 0], [1, 0], [1, 1]])
    Camera.objects.filter(pk="door").update(filters={"person": {"min_confidence": 0.7}}, offline_after_min=15)
    for url in ("/", "/cameras/", "/cameras/door/"):
        html = main_html(viewer_client.get(url))
        assert "<form" not in html and "<input" not in html and "<select" not in html and "<textarea" not in html, url
    page = main_html(viewer_client.get("/cameras/door/"))
    assert "porch" in page and "min_confidence 0.7" in page and "15 min" in page and "<polygon" in page
    assert "zones.js" not in viewer_client.get("/cameras/door/").content.decode()

    forged = [
        ("/cameras/add", {"name": "Shed", "ftp_account": "on"}),
        ("/cameras/door/settings", settings_post(name="Hacked")),
        ("/cameras/door/ftp", {}),
        ("/cameras/door/zones", zone_post(name="new")),
        ("/cameras/door/zones", zone_post(zone=zone.pk, name="renamed")),
        (f"/cameras/door/zones/{zone.pk}/delete", {}),
        ("/overview/mode", {"mode": "away"}),
    ]
    for url, data in forged:
        assert viewer_client.post(url, data).status_code == 403, url
    camera.refresh_from_db()
    assert camera.name == "door" and Camera.objects.count() == 1 and not FtpAccount.objects.exists()
    assert list(Zone.objects.values_list("name", flat=True)) == ["porch"]
    assert not (settings.CAMERA_ROOT / "Shed").exists()
