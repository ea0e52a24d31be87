"""The zone editor in headless Chromium: zones drawn with the mouse and with touch are stored
as the 0-1 points where they were drawn, a dragged vertex and a deleted one are stored too,
and the next detection on the camera is in the drawn zone. The pages do not scroll
sideways at phone width."""

from __future__ import annotations

import pytest

from cameras.ingest import ingest_process, ingest_register
from cameras.models import Camera, Zone
from detections.backends import get_detector
from detections.models import Detection
from detections.services import detection_accept, detection_process
from tests.cameras.corpus import good_jpeg
from tests.support.fake_detector import FakeDetector

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
TOLERANCE = 0.01  # a pixel or two of the picture on the page


@pytest.fixture
def detector():
    server = FakeDetector().start()  # it sees a person whose feet are at (0.5, 0.83)
    yield server
    server.stop()


@pytest.fixture
def camera(tmp_path, settings, detector):
    settings.CAMERA_ROOT = tmp_path / "cameras"
    settings.MEDIA_ROOT = tmp_path / "media"
    settings.DATA_DIR = tmp_path / "data"
    for folder in (settings.CAMERA_ROOT, settings.MEDIA_ROOT, settings.DATA_DIR):
        folder.mkdir()
    settings.INGEST_NEXT_STAGE = ""
    settings.DETECTOR, settings.DETECTOR_URL, settings.DETECTOR_API = "http", detector.url, "reference"
    get_detector.cache_clear()
    upload(settings, "a.jpg", seed=1)
    yield Camera.objects.get(pk="front_door")
    get_detector.cache_clear()


def upload(settings, name: str, seed: int) -> list[int]:
    path = good_jpeg(settings.CAMERA_ROOT / "Front Door" / name, w=1280, h=720, seed=seed)
    ids = ingest_register(paths=[path])
    ingest_process(ingest_ids=ids)
    return ids


def signed_in(context, live_server, client) -> None:
    """The browser gets the session of a test client that signed in."""
    context.add_cookies([{"name": "sessionid", "value": client.cookies["sessionid"].value, "url": live_server.url}])


def open_editor(page, live_server):
    """The camera's page, scrolled so the whole picture is on screen: (its box)."""
    page.goto(live_server.url + "/cameras/front_door/")
    page.wait_for_function("document.getElementById('zone-image').naturalWidth > 0")
    return stage_box(page)


def stage_box(page):
    page.locator("#zone-stage").evaluate("stage => stage.scrollIntoView({block: 'center'})")
    box = page.locator("#zone-svg").bounding_box()
    viewport = page.viewport_size
    assert box["y"] >= 0 and box["y"] + box["height"] <= viewport["height"], (box, viewport)
    return box


def at(box, x: float, y: float) -> tuple[float, float]:
    return box["x"] + x * box["width"], box["y"] + y * box["height"]


def save(page, name: str, kind: str) -> None:
    page.fill("#id_name", name)
    page.select_option("#id_kind", kind)
    with page.expect_navigation():
        page.click("#zone-save")
    assert f"Zone {name} saved." in page.locator(".messages").inner_text()


def touch_drag(page, start: tuple[float, float], end: tuple[float, float], steps: int = 8) -> None:
    """One finger down at `start`, moved to `end`, lifted (Playwright's touchscreen only taps)."""
    cdp = page.context.new_cdp_session(page)
    cdp.send("Input.dispatchTouchEvent", {"type": "touchStart", "touchPoints": [{"x": start[0], "y": start[1]}]})
    for n in range(1, steps + 1):
        x = start[0] + (end[0] - start[0]) * n / steps
        y = start[1] + (end[1] - start[1]) * n / steps
        cdp.send("Input.dispatchTouchEvent", {"type": "touchMove", "touchPoints": [{"x": x, "y": y}]})
    cdp.send("Input.dispatchTouchEvent", {"type": "touchEnd", "touchPoints": []})
    cdp.detach()


def assert_points(stored, expected) -> None:
    assert len(stored) == len(expected), stored
    for (sx, sy), (ex, ey) in zip(stored, expected, strict=True):
        assert 0 <= sx <= 1 and 0 <= sy <= 1
        assert abs(sx - ex) <= TOLERANCE and abs(sy - ey) <= TOLERANCE, (stored, expected)


def test_a_zone_drawn_and_reshaped_with_the_mouse_is_stored_in_0_1_points_and_used_by_the_next_detection(
    live_server, page, admin_client, camera, settings
):
    signed_in(page.context, live_server, admin_client)
    page.set_viewport_size({"width": 1280, "height": 1000})
    box = open_editor(page, live_server)
    porch = [(0.3, 0.6), (0.7, 0.6), (0.7, 0.95), (0.3, 0.95)]
    for x, y in porch:
        page.mouse.click(*at(box, x, y))
    assert page.locator("#zone-svg .handle").count() == 4
    save(page, "porch", "entry")
    zone = Zone.objects.get()
    assert (zone.camera_id, zone.name, zone.kind, zone.enabled) == ("front_door", "porch", "entry", True)
    assert_points(zone.polygon, porch)

    # Drag the second vertex somewhere else, and take the last one away.
    box = open_editor(page, live_server)
    page.click(f"[data-edit-zone='{zone.pk}']")
    assert page.locator("#zone-svg .handle").count() == 4
    box = stage_box(page)
    page.mouse.move(*at(box, 0.7, 0.6))
    page.mouse.down()
    page.mouse.move(*at(box, 0.75, 0.55), steps=4)
    page.mouse.move(*at(box, 0.8, 0.5), steps=4)
    page.mouse.up()
    page.mouse.click(*at(box, 0.3, 0.95))  # selects that vertex
    page.click("#zone-delete-point")
    assert page.locator("#zone-svg .handle").count() == 3
    page.mouse.click(*at(box, 0.25, 0.98))  # and a new one beside where it was
    save(page, "porch", "entry")
    zone.refresh_from_db()
    assert_points(zone.polygon, [(0.3, 0.6), (0.8, 0.5), (0.7, 0.95), (0.25, 0.98)])
    assert Zone.objects.count() == 1

    # The next upload's detection stands in the zone: its feet at (0.5, 0.83).
    ids = upload(settings, "b.jpg", seed=2)
    assert detection_process(run_ids=detection_accept(ingest_ids=ids)) == {"done": 1}
    detection = Detection.objects.get(ingest_id=ids[0])
    assert (detection.label, detection.zones, detection.zone_kinds) == ("person", ["porch"], ["entry"])


def test_a_zone_drawn_with_touch_on_a_phone_is_stored_and_the_pages_do_not_scroll_sideways(
    live_server, browser, admin_client, camera
):
    context = browser.new_context(has_touch=True, is_mobile=True, viewport={"width": 390, "height": 844})
    try:
        signed_in(context, live_server, admin_client)
        page = context.new_page()
        for url in ("/", "/cameras/", "/cameras/front_door/"):
            page.goto(live_server.url + url)
            assert page.evaluate("document.documentElement.scrollWidth") <= 390, url

        box = open_editor(page, live_server)
        drive = [(0.1, 0.1), (0.5, 0.1), (0.5, 0.4), (0.1, 0.4)]
        for x, y in drive:
            page.touchscreen.tap(*at(box, x, y))
        page.touchscreen.tap(*at(box, 0.3, 0.03))  # a fifth, into the top edge ...
        assert page.locator("#zone-svg .handle").count() == 5
        page.touchscreen.tap(*at(box, 0.3, 0.03))  # ... tapped again to select it
        page.locator("#zone-delete-point").tap()
        assert page.locator("#zone-svg .handle").count() == 4
        box = stage_box(page)
        touch_drag(page, at(box, 0.5, 0.4), at(box, 0.6, 0.45))  # the third point, moved by finger
        save(page, "drive", "driveway")
        assert_points(Zone.objects.get(name="drive").polygon, [*drive[:2], (0.6, 0.45), drive[3]])
        assert page.evaluate("document.documentElement.scrollWidth") <= 390
    finally:
        context.close()
