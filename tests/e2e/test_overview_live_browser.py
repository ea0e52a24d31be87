"""The overview against the real processes (daphne, the watcher, the workers): a photo dropped
into a camera folder shows on the camera's tile, with its event and the event's risk, without
a reload. Once with Redis carrying the live messages, once embedded (no Redis: daphne's
tailer reads them from the database)."""

from __future__ import annotations

import os
import re

import pytest
from playwright.sync_api import expect

from cameras.models import Camera
from events.models import Event
from tests.support.fake_detector import FakeDetector
from tests.support.processes import (
    ALERT_WORKER,
    REPO,
    pipeline_env,
    start_daphne,
    start_manage,
    wait_answers,
    wait_for,
)
from tests.support.users import PASSWORD

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.django_db(transaction=True)]
REDIS_URL = os.environ.get("REDIS_URL", "")
PHOTO = REPO / "tests" / "detections" / "photos" / "astronaut.jpg"


@pytest.mark.parametrize("live", ["redis", "embedded"])
def test_a_photo_dropped_into_a_camera_folder_shows_on_the_overview_without_a_reload(
    tmp_path, spawn, page, admin_user, live
):
    if live == "redis" and not REDIS_URL:
        pytest.skip("REDIS_URL is not set (make test sets it)")
    detector = FakeDetector().start()  # a person at 0.93: assessed at once (the fast path)
    try:
        env, root = pipeline_env(
            tmp_path,
            HOMESEC_DETECTOR="http",
            HOMESEC_DETECTOR_URL=detector.url,
            REDIS_URL=REDIS_URL if live == "redis" else "<unset>",
        )
        daphne, base = start_daphne(spawn, env)
        (root / "porch").mkdir()
        start_manage(spawn, env, ["watch_cameras"], ["worker"], ALERT_WORKER)
        wait_answers(base + "/health", daphne)
        wait_for(lambda: Camera.objects.filter(pk="porch").exists(), timeout=10, what="the porch camera")

        page.goto(base + "/")
        page.fill("#id_username", "admin")
        page.fill("#id_password", PASSWORD)
        page.click("button[type=submit]")
        page.wait_for_url(base + "/")
        tile = page.locator("#tile-porch")
        expect(tile).to_contain_text("No image yet")
        expect(tile).to_contain_text("No open event")
        expect(page.locator("#live-state")).to_have_class(re.compile(r"\bon\b"))
        page.evaluate("window.sameDocument = true")

        (root / "porch" / "snap.jpg").write_bytes(PHOTO.read_bytes())

        image = page.locator("#tile-porch img")
        expect(image).to_have_attribute("src", re.compile(r"^/cameras/porch/latest\.jpg\?v=\d+$"), timeout=20_000)
        page.wait_for_function("document.querySelector('#tile-porch img').naturalWidth > 0")
        assert page.evaluate("document.querySelector('#tile-porch img').naturalWidth") == 512  # not enlarged
        event = wait_for(lambda: Event.objects.filter(camera_id="porch").first(), timeout=20, what="an event")
        expect(tile.locator(f'a[href="/events/{event.pk}/"]')).to_be_visible(timeout=20_000)
        event = wait_for(
            lambda: Event.objects.filter(pk=event.pk).exclude(risk_score=None).first(),
            timeout=30,
            what=lambda: list(Event.objects.values()),
        )
        expect(tile.locator(".score")).to_have_text(str(event.risk_score), timeout=10_000)
        expect(tile.locator(f".badge.{event.risk_level}")).to_be_visible()
        expect(tile.locator(".last-upload")).not_to_contain_text("never")
        assert page.evaluate("window.sameDocument") is True  # no reload happened
    finally:
        detector.stop()
