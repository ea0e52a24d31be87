"""The timeline and an event's page, through Django's test client against the real database."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from alerts.models import AlertCheck
from events.models import Event
from events.selectors import Cursor
from tests.events.pages import NOON, camera, make_event

pytestmark = pytest.mark.django_db


def shown(response) -> list[int]:
    """The events a timeline page lists, in order."""
    assert response.status_code == 200, response.content[:500]
    return [int(pk) for pk in re.findall(r'<li class="event-row[^"]*" id="event-(\d+)"', response.content.decode())]


def link(response, rel: str) -> str | None:
    match = re.search(rf'<a href="([^"]*)" rel="{rel}"', response.content.decode())
    return match.group(1).replace("&amp;", "&") if match else None


def ids(*events: Event) -> list[int]:
    return [e.pk for e in events]


# --- The timeline ---------------------------------------------------------------------------------


def test_the_timeline_lists_unreviewed_events_newest_first_by_default(viewer_client):
    old = make_event(at=NOON)
    new = make_event(at=NOON + timedelta(minutes=5))
    make_event(at=NOON + timedelta(minutes=9), reviewed=True)
    response = viewer_client.get("/events/")
    assert shown(response) == ids(new, old)
    page = response.content.decode()
    # Time in the camera's zone (Berlin is UTC+1 in November), camera, classes, level, score, summary.
    assert "Fri 27 Nov, 13:05:00" in page and "Front Door" in page and "person" in page
    assert '<span class="badge medium">medium</span>' in page and ">40<" in page
    assert "A person at the door." in page


def test_reviewed_and_all_show_what_they_say(viewer_client):
    open_one = make_event(at=NOON)
    done = make_event(at=NOON + timedelta(minutes=1), reviewed=True)
    assert shown(viewer_client.get("/events/?reviewed=reviewed")) == ids(done)
    assert shown(viewer_client.get("/events/?reviewed=all")) == ids(done, open_one)


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("camera=garage", ["garage"]),
        ("level=critical", ["critical"]),
        ("min_score=60", ["dog", "critical"]),
        ("label=dog", ["dog"]),
        ("zone=driveway", ["garage"]),
        ("since=2026-11-28&until=2026-11-28", ["dog"]),
        ("until=2026-11-26", ["old"]),
        ("q=ladder", ["critical"]),  # the summary
        ("q=LOITERING", ["garage"]),  # the reasoning, any case
        ("q=neighbour", ["old"]),  # the review notes
        ("camera=garage&min_score=10&q=car", ["garage"]),
        ("camera=garage&level=critical", []),
    ],
)
def test_each_filter_narrows_the_timeline(viewer_client, settings, query, expected):
    settings.TIME_ZONE = "Europe/Berlin"
    camera("garage").zones.create(name="driveway", kind="driveway", polygon=[[0, 0], [1, 0], [1, 1]])
    made = {
        "old": make_event(at=NOON - timedelta(days=2), score=10, notes="The neighbour's cat"),
        "garage": make_event(
            cam="garage",
            at=NOON,
            score=35,
            summary="A car in the driveway.",
            reasoning="Vehicle loitering: +10",
            boxes=[("car", 0.8, (10, 10, 300, 200), ("driveway",))],
        ),
        "critical": make_event(at=NOON + timedelta(hours=1), score=90, summary="Someone with a ladder."),
        # 28 Nov 00:30 in Berlin (23:30 UTC the day before): "since 28 Nov" is the household's day.
        "dog": make_event(at=NOON + timedelta(hours=11, minutes=30), score=62, boxes=[("dog", 0.7, (1, 2, 3, 4), ())]),
    }
    names = {event.pk: name for name, event in made.items()}
    assert [names[pk] for pk in shown(viewer_client.get(f"/events/?reviewed=all&{query}"))] == expected


def test_a_bad_filter_value_is_shown_and_ignored(viewer_client):
    event = make_event()
    response = viewer_client.get("/events/?min_score=abc&level=nonsense")
    assert shown(response) == ids(event)
    assert "Enter a whole number." in response.content.decode()


def test_keyset_pages_walk_every_event_once_each_way(viewer_client, monkeypatch):
    monkeypatch.setattr("events.views.PAGE_SIZE", 4)
    # Eleven events, some sharing a start time: the id breaks the tie.
    events = [make_event(at=NOON + timedelta(minutes=n // 2)) for n in range(11)]
    newest_first = sorted(ids(*events), key=lambda pk: (Event.objects.get(pk=pk).started_at, pk), reverse=True)

    pages, url = [], "/events/"
    while url:
        response = viewer_client.get(url if url.startswith("/") else "/events/" + url)
        pages.append(shown(response))
        url = link(response, "next")
    assert pages == [newest_first[0:4], newest_first[4:8], newest_first[8:11]]

    # And back up from the last page: the same pages, until the newest one.
    back, url = [], link(response, "prev")
    while url:
        response = viewer_client.get("/events/" + url)
        back.append(shown(response))
        url = link(response, "prev")
    assert back == [newest_first[4:8], newest_first[0:4]]


def test_pages_keep_the_filters(viewer_client, monkeypatch):
    monkeypatch.setattr("events.views.PAGE_SIZE", 2)
    garage = [make_event(cam="garage", at=NOON + timedelta(minutes=n)) for n in range(3)]
    for n in range(3):
        make_event(cam="door", at=NOON + timedelta(minutes=n, seconds=30))
    first = viewer_client.get("/events/?camera=garage")
    older = link(first, "next")
    assert "camera=garage" in older
    assert shown(first) + shown(viewer_client.get("/events/" + older)) == ids(*reversed(garage))


def test_jump_to_a_date_and_time_starts_the_page_there(viewer_client, settings):
    settings.TIME_ZONE = "Europe/Berlin"
    events = [make_event(at=NOON + timedelta(hours=h)) for h in range(5)]  # 13:00 ... 17:00 in Berlin
    response = viewer_client.get("/events/?at=2026-11-27T15:00")
    assert shown(response) == ids(events[2], events[1], events[0])  # up to and at 15:00
    assert link(response, "prev")  # the newer ones are a page up
    assert shown(viewer_client.get("/events/?at=2026-11-27T12:59")) == []


@pytest.mark.parametrize(
    "position", ["before=nonsense", "after=1_x", "before=99999999999999999999999_1", "before=5_" + "9" * 30]
)
def test_a_bad_page_position_in_the_url_is_not_an_error(viewer_client, position):
    make_event()
    assert viewer_client.get(f"/events/?{position}").status_code == 200


def test_a_cursor_round_trips_through_its_token():
    cursor = Cursor(NOON + timedelta(microseconds=123), 42)
    assert Cursor.parse(cursor.token) == cursor
    assert Cursor.parse("nonsense") is None and Cursor.parse("12_x") is None


def test_the_row_endpoint_says_whether_the_event_matches_the_page_filters(viewer_client):
    event = make_event(score=80)
    response = viewer_client.get(f"/events/{event.pk}/row?min_score=50")
    assert response.status_code == 200 and response["X-Timeline-Match"] == "1"
    assert f'id="event-{event.pk}"' in response.content.decode() and "live" in response.content.decode()
    assert viewer_client.get(f"/events/{event.pk}/row?min_score=90")["X-Timeline-Match"] == "0"
    assert viewer_client.get("/events/999999/row").status_code == 404


def test_the_timeline_thumbnail_is_the_clean_preview_of_the_most_confident_detection(viewer_client):
    event = make_event(
        boxes=[("person", 0.6, (10, 10, 50, 100), ()), ("person", 0.95, (700, 100, 120, 300), ())],
    )
    best = event.detections.get(confidence=0.95)
    page = viewer_client.get("/events/").content.decode()
    assert f'src="/media/previews/{best.pk}.jpg"' in page
    assert 'viewBox="0 0 1280 720"' in page and 'x="700" y="100" width="120" height="300"' in page


# --- Bulk review ----------------------------------------------------------------------------------


def test_marking_selected_events_reviewed_marks_exactly_those(viewer_client, viewer):
    a, b, c = (make_event(at=NOON + timedelta(minutes=n)) for n in range(3))
    response = viewer_client.post(
        "/events/review", {"action": "selected", "ids": [a.pk, c.pk], "rendered": f"{a.pk},{b.pk},{c.pk}"}
    )
    assert response.status_code == 302
    assert set(Event.objects.filter(reviewed=True).values_list("pk", flat=True)) == {a.pk, c.pk}
    a.refresh_from_db()
    assert a.reviewed_by == viewer and a.reviewed_at is not None


def test_mark_all_above_marks_the_events_the_page_was_rendered_with_and_not_later_ones(viewer_client):
    a, b = (make_event(at=NOON + timedelta(minutes=n)) for n in range(2))
    page = viewer_client.get("/events/").content.decode()
    rendered = re.search(r'name="rendered" value="([^"]*)"', page).group(1)
    assert sorted(map(int, rendered.split(","))) == sorted(ids(a, b))
    late = make_event(at=NOON + timedelta(minutes=5))  # arrives live after the page was rendered
    response = viewer_client.post(
        "/events/review", {"action": "rendered", "rendered": rendered, "next": "/events/?camera=front_door"}
    )
    assert response["Location"] == "/events/?camera=front_door"
    assert set(Event.objects.filter(reviewed=True).values_list("pk", flat=True)) == {a.pk, b.pk}
    assert not Event.objects.get(pk=late.pk).reviewed


def test_a_bulk_review_names_at_least_one_event_and_goes_back_only_to_this_site(viewer_client):
    make_event()
    response = viewer_client.post("/events/review", {"action": "selected", "next": "https://evil.example/"})
    assert response.status_code == 302 and response["Location"] == "/events/"
    assert not Event.objects.filter(reviewed=True).exists()
    response = viewer_client.post("/events/review", {"action": "rendered", "rendered": "1,x"})
    assert not Event.objects.filter(reviewed=True).exists()


def test_getting_the_bulk_review_url_changes_nothing(viewer_client):
    event = make_event()
    assert viewer_client.get(f"/events/review?action=rendered&rendered={event.pk}").status_code == 405
    assert not Event.objects.get(pk=event.pk).reviewed


# --- The event page -------------------------------------------------------------------------------


def test_the_event_page_shows_every_picture_with_its_boxes_over_the_clean_preview(viewer_client):
    event = make_event(
        frames=3,
        boxes=[("person", 0.91, (400, 200, 160, 380), ("porch",)), ("dog", 0.7, (900, 500, 120, 90), ())],
    )
    page = viewer_client.get(f"/events/{event.pk}/").content.decode()
    assert page.count('<figure class="shot') == 3
    assert page.count('viewBox="0 0 1280 720"') == 3
    for detection in event.detections.all():
        rect = (
            f'<g class="det {detection.label}" data-detection="{detection.pk}"><rect x="{detection.x}" '
            f'y="{detection.y}" width="{detection.width}" height="{detection.height}"/>'
        )
        assert rect in page
    # One clean still per picture (its detections share it), served by id.
    served = {int(pk) for pk in re.findall(r'<img src="/media/previews/(\d+).jpg" alt="\d detections', page)}
    previews = {d.pk: d.preview for d in event.detections.all()}
    assert len(served) == 3 and len({previews[pk] for pk in served}) == 3
    assert "person 91% · porch" in page and "dog 70%" in page
    assert page.count('<ol class="filmstrip"') == 1


def test_the_event_page_shows_the_assessment_and_its_provenance(viewer_client):
    event = make_event(
        score=88,
        summary="Someone tries the door.",
        reasoning="A person at night at the entry.",
        provenance={
            "analyzer": "llm",
            "model": "qwen3-8b",
            "prompt_version": 3,
            "tokens_in": 812,
            "tokens_out": 95,
            "latency_ms": 1840.5,
            "risk_factors": ["night", "entry zone"],
        },
    )
    Event.objects.filter(pk=event.pk).update(analyzer="llm", assessment_state="fallback")
    page = viewer_client.get(f"/events/{event.pk}/").content.decode()
    for text in (
        "Someone tries the door.",
        "A person at night at the entry.",
        "Look at the snapshots.",
        "<li>night</li>",
        "qwen3-8b",
        "version 3",
        "812 in, 95 out",
        "1840.5 ms",
        "fallback: assessed by the rules",
        '<span class="badge critical">critical</span>',
    ):
        assert text in page, text


def test_the_event_page_links_the_continuation_chain(viewer_client):
    first = make_event(at=NOON)
    second = make_event(at=NOON + timedelta(seconds=90), previous=first)
    page = viewer_client.get(f"/events/{first.pk}/").content.decode()
    assert f'href="/events/{second.pk}/" rel="next"' in page and 'rel="prev"' not in page
    page = viewer_client.get(f"/events/{second.pk}/").content.decode()
    assert f'href="/events/{first.pk}/" rel="prev"' in page


def test_the_event_page_shows_which_rules_fired_and_why_others_did_not(viewer_client):
    event = make_event(score=75)
    AlertCheck.objects.create(
        event=event,
        seq=1,
        risk_score=75,
        risk_level="high",
        assessment_state="assessed",
        outcome="1 alert(s)",
        decisions=[
            {"rule": "Night intruder", "result": "fired", "why": "score 75 ≥ 60; person", "alert": 1},
            {"rule": "Garage only", "result": "no match", "why": "camera front_door is not one of garage"},
            {"rule": "Any motion", "result": "suppressed", "why": "cooldown: alert 3 was 20 s ago"},
        ],
    )
    page = viewer_client.get(f"/events/{event.pk}/").content.decode()
    for text in ("Night intruder", "fired", "camera front_door is not one of garage", "cooldown: alert 3 was 20 s ago"):
        assert text in page


def test_clips_are_on_the_page_playable_and_downloadable(viewer_client):
    event = make_event(video=True, frames=3)
    ingest = event.detections.first().ingest
    page = viewer_client.get(f"/events/{event.pk}/").content.decode()
    assert f'<video controls preload="metadata" playsinline src="/media/clips/{ingest.pk}"' in page
    assert f'href="/media/clips/{ingest.pk}?download=1"' in page
    assert page.count('class="quiet play-from"') == 3 and 'data-offset="4.00"' in page


def test_an_unknown_event_is_404(viewer_client):
    assert viewer_client.get("/events/999999/").status_code == 404


# --- Review, re-assessment, roles and CSRF ---------------------------------------------------------


def test_a_viewer_reviews_notes_and_gives_feedback(viewer_client, viewer):
    event = make_event()
    response = viewer_client.post(
        f"/events/{event.pk}/review",
        {"reviewed": "on", "review_notes": "The postman.", "feedback": "false_positive", "expected_level": "high"},
    )
    assert response.status_code == 302 and response["Location"] == f"/events/{event.pk}/#review"
    event.refresh_from_db()
    assert (event.reviewed, event.review_notes, event.feedback, event.expected_level) == (
        True,
        "The postman.",
        "false_positive",
        "",  # an expected level only goes with "severity wrong"
    )
    assert event.reviewed_by == viewer
    page = viewer_client.get(f"/events/{event.pk}/").content.decode()
    assert "The postman.</textarea>" in page and "Reviewed by viewer" in page


def test_severity_wrong_needs_the_expected_level(viewer_client):
    event = make_event()
    response = viewer_client.post(f"/events/{event.pk}/review", {"feedback": "severity_wrong"})
    assert response.status_code == 400 and "Say which level it should have been." in response.content.decode()
    assert Event.objects.get(pk=event.pk).feedback == ""
    viewer_client.post(f"/events/{event.pk}/review", {"feedback": "severity_wrong", "expected_level": "critical"})
    assert Event.objects.get(pk=event.pk).expected_level == "critical"


def test_only_an_admin_sees_and_may_use_re_assess(viewer_client, admin_client):
    event = make_event()
    assert 'id="reassess"' not in viewer_client.get(f"/events/{event.pk}/").content.decode()
    assert viewer_client.post(f"/events/{event.pk}/reassess").status_code == 403
    assert Event.objects.get(pk=event.pk).assess_step == ""
    assert 'id="reassess"' in admin_client.get(f"/events/{event.pk}/").content.decode()
    assert admin_client.post(f"/events/{event.pk}/reassess").status_code == 302
    event.refresh_from_db()
    assert event.assess_step == "queued" and event.assess_wanted_at is not None


def test_forged_posts_without_the_csrf_token_are_refused(viewer, admin_user):
    event = make_event()
    forged = Client(enforce_csrf_checks=True)
    forged.force_login(viewer)
    assert forged.post("/events/review", {"action": "rendered", "rendered": str(event.pk)}).status_code == 403
    assert forged.post(f"/events/{event.pk}/review", {"reviewed": "on"}).status_code == 403
    admin = Client(enforce_csrf_checks=True)
    admin.force_login(admin_user)
    assert admin.post(f"/events/{event.pk}/reassess").status_code == 403
    event.refresh_from_db()
    assert not event.reviewed and event.assess_step == ""
    # With the page's token the same review goes through.
    page = forged.get("/events/").content.decode()
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page).group(1)
    forged.post("/events/review", {"action": "rendered", "rendered": str(event.pk), "csrfmiddlewaretoken": token})
    assert Event.objects.get(pk=event.pk).reviewed


def test_signed_out_visitors_are_sent_to_sign_in(client):
    event = make_event()
    for url in ("/events/", f"/events/{event.pk}/", f"/events/{event.pk}/row"):
        assert client.get(url)["Location"].startswith("/accounts/login/")


# --- A bounded number of queries --------------------------------------------------------------------


def count_queries(client: Client, url: str) -> int:
    with CaptureQueriesContext(connection) as queries:
        assert client.get(url).status_code == 200
    return len(queries)


def test_the_timeline_costs_the_same_queries_for_5_or_35_events_with_many_detections(viewer_client):
    boxes = [("person", 0.9, (1, 2, 3, 4), ("porch",)), ("car", 0.8, (5, 6, 7, 8), ()), ("dog", 0.7, (9, 9, 9, 9), ())]
    for n in range(5):
        make_event(cam=f"cam{n % 3}", at=NOON + timedelta(minutes=n), frames=2, boxes=boxes)
    small = count_queries(viewer_client, "/events/")
    for n in range(30):
        make_event(cam=f"cam{n % 7}", at=NOON + timedelta(hours=1, minutes=n), frames=2, boxes=boxes)
    assert len(shown(viewer_client.get("/events/"))) == 35
    large = count_queries(viewer_client, "/events/")
    assert large == small <= 12
    # Filtered, and a page down: bounded too.
    assert count_queries(viewer_client, "/events/?camera=cam1&min_score=10&label=car&q=person") <= 12


def test_the_event_page_costs_the_same_queries_for_few_or_many_detections(viewer_client):
    boxes = [("person", 0.9, (1, 2, 3, 4), ("porch",)), ("car", 0.8, (5, 6, 7, 8), ())]
    small = make_event(frames=1, boxes=boxes[:1], video=True)
    large = make_event(frames=20, boxes=boxes, video=True, previous=small)
    for seq in (1, 2):
        AlertCheck.objects.create(event=large, seq=seq, outcome="no rule to check")
    camera("front_door").zones.create(name="porch", kind="entry", polygon=[[0, 0], [1, 0], [1, 1]])
    assert count_queries(viewer_client, f"/events/{small.pk}/") == count_queries(viewer_client, f"/events/{large.pk}/")
    assert count_queries(viewer_client, f"/events/{large.pk}/") <= 12
