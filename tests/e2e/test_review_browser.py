"""The timeline and an event's page in headless Chromium: boxes drawn where the detections
are, a review that persists, bulk triage of exactly the chosen events, phone widths, and
(against daphne) new and re-assessed events that appear without a reload."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone
from playwright.sync_api import expect

from cameras.models import Ingest
from detections.models import Detection
from events.assessment import assessment_request, event_assess
from events.grouping import event_add_detections
from events.models import Event
from tests.events.pages import NOON, camera, frame, make_event
from tests.support.processes import pipeline_env, start_daphne, wait_answers, wait_for
from tests.support.users import PASSWORD

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PERSON_AND_CAR = [
    ("person", 0.91, (400, 200, 160, 380), ("porch",)),
    ("car", 0.82, (820, 420, 360, 220), ()),
]


@pytest.fixture
def media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"
    return settings.MEDIA_ROOT


def sign_in(page, base: str, user) -> None:
    """A session cookie for `user`, as signing in on the login page would leave."""
    client = Client()
    client.force_login(user)
    page.context.add_cookies([{"name": "sessionid", "value": client.cookies["sessionid"].value, "url": base}])


def test_the_event_page_draws_each_box_where_its_detection_is(live_server, page, viewer, media):
    camera("front_door").zones.create(
        name="porch", kind="entry", polygon=[[0.25, 0.5], [0.6, 0.5], [0.6, 1.0], [0.25, 1.0]]
    )
    event = make_event(frames=2, media=media, boxes=PERSON_AND_CAR)
    sign_in(page, live_server.url, viewer)
    page.set_viewport_size({"width": 1280, "height": 900})
    page.goto(f"{live_server.url}/events/{event.pk}/")
    figures = page.locator(".stage .shot")
    expect(figures).to_have_count(2)
    for n in range(2):
        page.locator(".filmstrip a").nth(n).click()
        figure = figures.nth(n)
        expect(figure).to_be_visible()
        image = figure.locator("img")
        # The clean still loaded through the media view.
        wait_for(lambda i=image: i.evaluate("i => i.complete && i.naturalWidth") == 960, timeout=5, what="preview")
        svg = figure.locator("svg.overlay")
        assert svg.get_attribute("viewBox") == "0 0 1280 720"
        shown = image.bounding_box()
        scale = shown["width"] / 1280
        ingest = Ingest.objects.get(pk=figure.get_attribute("data-ingest"))
        for detection in Detection.objects.filter(ingest=ingest):
            rect = figure.locator(f'[data-detection="{detection.pk}"] rect')
            box = [float(rect.get_attribute(name)) for name in ("x", "y", "width", "height")]
            assert box == [detection.x, detection.y, detection.width, detection.height]
            # And on the screen: where the box is in the picture, at the picture's scale
            # (the stroke straddles the edge, half of it outside).
            drawn = rect.bounding_box()
            assert drawn["x"] - shown["x"] == pytest.approx(detection.x * scale, abs=2.5)
            assert drawn["y"] - shown["y"] == pytest.approx(detection.y * scale, abs=2.5)
            assert drawn["width"] == pytest.approx(detection.width * scale, abs=3.5)
            assert drawn["height"] == pytest.approx(detection.height * scale, abs=3.5)
        expect(figure.locator(".det.person text")).to_have_text("person 91% · porch")
        expect(figure.locator(".zone.hit text")).to_have_text("porch")


def test_a_viewer_s_review_and_notes_persist_after_a_reload(live_server, page, viewer, media):
    event = make_event(media=media)
    sign_in(page, live_server.url, viewer)
    page.goto(f"{live_server.url}/events/{event.pk}/")
    page.check("#id_reviewed")
    page.fill("#id_review_notes", "The postman, as every Friday.")
    page.select_option("#id_feedback", "false_positive")
    page.click("#save-review")
    page.wait_for_url(re.compile(rf"/events/{event.pk}/#review$"))
    page.reload()
    expect(page.locator("#id_reviewed")).to_be_checked()
    expect(page.locator("#id_review_notes")).to_have_value("The postman, as every Friday.")
    expect(page.locator("#id_feedback")).to_have_value("false_positive")
    expect(page.locator("#review-state")).to_contain_text("Reviewed by viewer")
    event.refresh_from_db()
    assert (event.reviewed, event.review_notes, event.feedback) == (
        True,
        "The postman, as every Friday.",
        "false_positive",
    )


def test_bulk_triage_marks_exactly_the_selected_events_then_all_shown(live_server, page, viewer, media):
    events = [make_event(at=NOON + timedelta(minutes=n), media=media) for n in range(4)]
    sign_in(page, live_server.url, viewer)
    page.goto(f"{live_server.url}/events/")
    expect(page.locator(".event-row")).to_have_count(4)
    chosen = [events[3], events[1]]
    for event in chosen:
        page.check(f'#event-{event.pk} input[name="ids"]')
    expect(page.locator("#mark-selected")).to_have_text("Mark 2 selected reviewed")
    page.click("#mark-selected")
    expect(page.locator(".messages")).to_contain_text("Marked 2 of 2 events reviewed.")
    assert set(Event.objects.filter(reviewed=True).values_list("pk", flat=True)) == {e.pk for e in chosen}
    expect(page.locator(".event-row")).to_have_count(2)  # the unreviewed ones are left

    page.click("#mark-rendered")
    expect(page.locator(".messages")).to_contain_text("Marked 2 of 2 events reviewed.")
    assert Event.objects.filter(reviewed=True).count() == 4
    expect(page.locator("#timeline-empty")).to_be_visible()


def test_neither_page_scrolls_sideways_on_a_phone(live_server, page, viewer, media):
    long_words = "Someone-with-a-very-long-unbroken-description-of-what-happened " * 3
    first = make_event(media=media, summary=long_words, boxes=PERSON_AND_CAR)
    event = make_event(
        at=NOON + timedelta(minutes=1),
        media=media,
        frames=6,
        video=True,
        summary=long_words,
        reasoning=long_words * 4,
        previous=first,
        provenance={"analyzer": "llm", "model": "a-very-long-model-name-" * 4, "risk_factors": [long_words]},
    )
    from alerts.models import AlertCheck

    AlertCheck.objects.create(
        event=event,
        seq=1,
        risk_score=40,
        risk_level="medium",
        outcome="no alert",
        decisions=[{"rule": "Night watch" * 5, "result": "no match", "why": long_words}],
    )
    sign_in(page, live_server.url, viewer)
    page.set_viewport_size({"width": 390, "height": 844})
    for url in ("/events/", f"/events/{event.pk}/"):
        page.goto(live_server.url + url)
        page.wait_for_load_state("load")
        assert page.evaluate("document.documentElement.scrollWidth") <= 390, url


def reassess(event_id: int) -> Event | None:
    """What an admin's "Re-assess" asks for, done at once (the rules: no language model)."""
    assessment_request(event_id=event_id, alert=False)
    return event_assess(event_id=event_id)


def test_new_and_re_assessed_events_appear_without_a_reload_and_stay_out_of_mark_all(
    tmp_path, spawn, page, viewer, settings
):
    """Against daphne, embedded (no Redis: daphne's tailer reads the live messages from the
    database; the overview's live test covers the Redis push too): an event opened by the
    grouping service joins the top of the timeline, its assessment refreshes its row and its
    own page; "mark all above" still marks only what the page was rendered with."""
    settings.LIVE_PUSH_VIA_LAYER = False  # this process's messages reach daphne as rows only
    env, _ = pipeline_env(tmp_path, REDIS_URL="<unset>")
    settings.MEDIA_ROOT = tmp_path / "var" / "media"
    daphne, base = start_daphne(spawn, env)
    earlier = make_event(at=timezone.now() - timedelta(hours=1), media=settings.MEDIA_ROOT)
    wait_answers(base + "/health", daphne)

    page.goto(base + "/events/")
    page.fill("#id_username", "viewer")
    page.fill("#id_password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(base + "/events/")
    expect(page.locator(".event-row")).to_have_count(1)
    expect(page.locator("#live-state")).to_have_class(re.compile(r"\bon\b"))
    page.evaluate("window.sameDocument = true")

    # A detection arrives: the grouping service opens an event for it.
    now = timezone.now()
    door = camera("front_door")
    ingest = Ingest.objects.create(
        camera=door, path="front_door/new.jpg", size=1, mtime_ns=99, status="done", media_type="image",
        media_format="jpeg", arrived_at=now, queued_at=now, captured_at=now,
    )  # fmt: skip
    from detections.thumbnails import write_preview

    write_preview(frame(), settings.MEDIA_ROOT / "previews/front_door/new.jpg")
    Detection.objects.create(
        camera=door, ingest=ingest, captured_at=now, label="person", confidence=0.7, x=100, y=80, width=200,
        height=400, frame_width=1280, frame_height=720, preview="previews/front_door/new.jpg",
    )  # fmt: skip
    [new_id] = event_add_detections(ingest_ids=[ingest.pk], now=now)
    row = page.locator(f"#event-{new_id}")
    expect(row).to_be_visible(timeout=10_000)
    expect(page.locator(".event-row").first).to_have_id(f"event-{new_id}")
    expect(row).to_have_class(re.compile(r"\blive\b"))
    expect(row.locator(".risk")).to_contain_text("Pending")

    # Its assessment refreshes the row in place.
    assert reassess(new_id) is not None
    level = Event.objects.get(pk=new_id).risk_level
    expect(row.locator(".risk .badge")).to_have_text(level, timeout=10_000)
    expect(page.locator("#live-note")).to_contain_text("1 event arrived")
    assert page.evaluate("window.sameDocument") is True  # no reload happened

    # "Mark all above" takes the page as it was rendered: not the event that came live.
    page.click("#mark-rendered")
    expect(page.locator(".messages")).to_contain_text("Marked 1 of 1 event reviewed.")
    assert list(Event.objects.filter(reviewed=True).values_list("pk", flat=True)) == [earlier.pk]
    assert not Event.objects.get(pk=new_id).reviewed

    # The event's own page follows a re-assessment live.
    page.goto(f"{base}/events/{new_id}/")
    expect(page.locator("#assessment")).to_contain_text("assessment 1")
    page.evaluate("window.sameDocument = true")
    assert reassess(new_id) is not None
    expect(page.locator("#assessment")).to_contain_text("assessment 2", timeout=10_000)
    assert page.evaluate("window.sameDocument") is True
