"""/api/events/: the timeline's filters and order, keyset pages that hold still while events
arrive, the event's whole story in one answer, and the household's review."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from rest_framework.test import APIClient

from alerts.models import AlertCheck
from events.models import Event
from homesec.core.services import api_token_create
from tests.alerts.factory import FRIDAY_NOON, assessed_event

pytestmark = pytest.mark.django_db


def client_for(user) -> APIClient:
    _, key = api_token_create(user=user, name="phone")
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {key}")
    return client


@pytest.fixture
def api(viewer) -> APIClient:
    return client_for(viewer)


@pytest.fixture
def admin_api(admin_user) -> APIClient:
    return client_for(admin_user)


def ids(response) -> list[int]:
    assert response.status_code == 200, response.content
    return [row["id"] for row in response.json()["results"]]


@pytest.fixture
def spread():
    """Nine events over nine hours: three cameras, scores 10..90, people and cars."""
    events = []
    for n in range(9):
        events.append(
            assessed_event(
                at=FRIDAY_NOON + timedelta(hours=n),
                cam=("front_door", "garden", "driveway")[n % 3],
                score=10 * (n + 1),
                seen=(("person" if n % 2 else "car", 0.9, ("porch",) if n < 3 else ()),),
                late=n == 8,
            )
        )
        if n < 3:
            Event.objects.filter(pk=events[-1].pk).update(zones=["porch"])
    return events


FILTERS = [
    ("", lambda e: True),
    ("camera=garden", lambda e: e.camera_id == "garden"),
    ("min_score=50", lambda e: e.risk_score >= 50),
    ("max_score=30", lambda e: e.risk_score <= 30),
    ("min_score=30&max_score=60", lambda e: 30 <= e.risk_score <= 60),
    ("label=car", lambda e: "car" in e.classes),
    ("zone=porch", lambda e: "porch" in e.zones),
    ("late=true", lambda e: e.late),
    ("late=false", lambda e: not e.late),
    ("reviewed=false", lambda e: True),
    ("reviewed=true", lambda e: False),
    ("assessment=assessed", lambda e: True),
    ("assessment=pending", lambda e: False),
    ("since=2026-11-27T15:00:00Z", lambda e: e.started_at >= FRIDAY_NOON + timedelta(hours=3)),
    ("until=2026-11-27T15:00:00Z", lambda e: e.started_at < FRIDAY_NOON + timedelta(hours=3)),
]


@pytest.mark.parametrize("query,keep", FILTERS, ids=[q or "none" for q, _ in FILTERS])
def test_filters_let_through_exactly_the_matching_events_newest_first(api, spread, query, keep):
    for event in spread:
        event.refresh_from_db()
    expected = [e.pk for e in sorted(spread, key=lambda e: e.started_at, reverse=True) if keep(e)]
    assert ids(api.get(f"/api/events/?{query}")) == expected


def test_level_filter_and_a_level_that_does_not_exist(api, spread):
    high = [e.pk for e in sorted(spread, key=lambda e: e.started_at, reverse=True) if e.risk_level == "high"]
    assert ids(api.get("/api/events/?level=high")) == high
    bad = api.get("/api/events/?level=apocalyptic")
    assert bad.status_code == 400 and bad["Content-Type"] == "application/problem+json"


@pytest.mark.parametrize("query", ["min_score=abc", "since=yesterday", "label=unicorn", "ordering=name", "cursor=xyz"])
def test_malformed_parameters_are_a_400_problem(api, spread, query):
    response = api.get(f"/api/events/?{query}")
    assert response.status_code == 400
    assert response.json()["status"] == 400


def test_ordering_by_score_both_ways(api, spread):
    by_score = sorted(spread, key=lambda e: (e.risk_score, e.pk))
    assert ids(api.get("/api/events/?ordering=risk_score")) == [e.pk for e in by_score]
    assert ids(api.get("/api/events/?ordering=-risk_score")) == [e.pk for e in reversed(by_score)]


def test_pages_hold_still_while_events_arrive_and_walk_back(api, spread):
    newest_first = [e.pk for e in sorted(spread, key=lambda e: e.started_at, reverse=True)]
    first = api.get("/api/events/?page_size=4").json()
    assert [r["id"] for r in first["results"]] == newest_first[:4] and first["previous"] is None
    # Events arriving now go on top; the next page is still the next four.
    for n in range(3):
        assessed_event(at=FRIDAY_NOON + timedelta(days=1, minutes=n))
    second = api.get(first["next"]).json()
    assert [r["id"] for r in second["results"]] == newest_first[4:8]
    third = api.get(second["next"]).json()
    assert [r["id"] for r in third["results"]] == newest_first[8:] and third["next"] is None
    back = api.get(third["previous"]).json()
    assert [r["id"] for r in back["results"]] == newest_first[4:8]
    top = api.get(back["previous"]).json()
    assert [r["id"] for r in top["results"]] == newest_first[:4]


def test_pages_by_score_cover_every_event_once_with_ties(api):
    events = [assessed_event(at=FRIDAY_NOON + timedelta(minutes=n), score=50 if n % 2 else 70) for n in range(7)]
    seen, url = [], "/api/events/?ordering=-risk_score&page_size=2"
    while url:
        page = api.get(url).json()
        seen += [r["id"] for r in page["results"]]
        url = page["next"]
    assert sorted(seen) == sorted(e.pk for e in events) and len(seen) == len(events)


def test_count_is_given_when_asked(api, spread):
    assert "count" not in api.get("/api/events/").json()
    assert api.get("/api/events/?count=true&camera=garden").json()["count"] == 3


def test_the_detail_tells_the_events_whole_story_without_a_path(api, spread):
    event = spread[4]
    AlertCheck.objects.create(
        event=event, seq=1, risk_score=50, risk_level="medium", outcome="1 alert", decisions=[{"rule": "r"}]
    )
    Event.objects.filter(pk=event.pk).update(
        provenance={"model": "m", "prompt_version": 3, "tokens": 120, "risk_factors": ["night"], "llm_error": "x"}
    )
    body = api.get(f"/api/events/{event.pk}/").json()
    assert body["camera"] == {"id": "garden", "name": "Garden"}
    assert body["risk_factors"] == ["night"]
    assert body["provenance"]["model"] == "m" and "llm_error" not in body["provenance"]
    assert [d["label"] for d in body["detections"]] == ["car"]
    assert body["detections"][0]["box"] == {
        "x": 100, "y": 50, "width": 80, "height": 160, "frame_width": 640, "frame_height": 360,
    }  # fmt: skip
    assert body["alert_checks"][0]["outcome"] == "1 alert"
    assert body["detections"][0]["original"].endswith(f"/api/media/originals/{body['detections'][0]['ingest_id']}")
    assert "/garden/" not in str(body) and ".jpg'" not in str(body.get("detections"))
    assert api.get("/api/events/999999/").status_code == 404


def test_a_viewer_reviews_one_event_and_many(api, viewer, spread):
    event = spread[0]
    response = api.patch(
        f"/api/events/{event.pk}/", {"reviewed": True, "review_notes": "the postman", "feedback": "false_positive"}
    )
    assert response.status_code == 200, response.content
    event.refresh_from_db()
    assert (event.reviewed, event.review_notes, event.feedback, event.reviewed_by) == (
        True, "the postman", "false_positive", viewer,
    )  # fmt: skip
    chosen = [spread[1].pk, spread[2].pk]
    assert api.post("/api/events/review/", {"ids": chosen}, format="json").json() == {"reviewed": 2}
    assert set(Event.objects.filter(reviewed=True).values_list("pk", flat=True)) == {event.pk, *chosen}


def test_review_refuses_what_is_not_a_review(api, spread):
    assert api.patch(f"/api/events/{spread[0].pk}/", {"feedback": "meh"}).status_code == 400
    assert api.patch(f"/api/events/{spread[0].pk}/", {"expected_level": "apocalyptic"}).status_code == 400
    assert api.post("/api/events/review/", {"ids": []}, format="json").status_code == 400


def test_reassess_is_for_admins(api, admin_api, spread):
    assert api.post(f"/api/events/{spread[0].pk}/reassess/").status_code == 403
    assert admin_api.post(f"/api/events/{spread[0].pk}/reassess/").status_code == 202


LISTS = ["/api/events/", "/api/detections/", "/api/alerts/", "/api/cameras/", "/api/rules/", "/api/channels/"]


@pytest.mark.parametrize("url", LISTS)
def test_list_queries_do_not_grow_with_the_page(admin_api, url):
    from alerts.models import Alert, AlertRule
    from tests.alerts.factory import webhook_channel

    api = admin_api
    api.get(url)  # the token's first use is stamped once: not part of what is counted

    def queries(n: int) -> int:
        for i in range(n):
            at = FRIDAY_NOON + timedelta(minutes=i)
            event = assessed_event(at=at, cam=f"cam{i}", seen=(("person", 0.9, ()), ("car", 0.8, ())))
            Alert.objects.create(
                event=event, camera_id=f"cam{i}", severity="high", title="t", dedup_key=f"{n}{i}", created_at=at
            )
            AlertRule.objects.create(name=f"rule {n} {i}").cameras.add(event.camera)
            webhook_channel("http://127.0.0.1:9/", name=f"hook {n} {i}")
        with CaptureQueriesContext(connection) as ctx:
            assert api.get(url + "?page_size=100").status_code == 200
        return len(ctx.captured_queries)

    assert queries(2) == queries(20)


def test_search_finds_ranked_events_within_the_lists_filters(api):
    porch = assessed_event(at=FRIDAY_NOON, cam="porch")
    garden = assessed_event(at=FRIDAY_NOON + timedelta(hours=1), cam="garden")
    Event.objects.filter(pk=porch.pk).update(summary="A courier at the door, a courier with a parcel")
    Event.objects.filter(pk=garden.pk).update(summary="A courier crossed the lawn")
    found = api.get("/api/events/search/?q=courier").json()["results"]
    assert [e["id"] for e in found] == [porch.pk, garden.pk]  # two mentions rank first
    assert [e["id"] for e in api.get("/api/events/search/?q=courier&camera=garden").json()["results"]] == [garden.pk]
    assert [e["id"] for e in api.get('/api/events/search/?q="the lawn"').json()["results"]] == [garden.pk]
    assert [e["id"] for e in api.get("/api/events/search/?q=courier -parcel").json()["results"]] == [garden.pk]
    for bad in ["", "   ", "q=" + "x" * 300]:
        assert api.get(f"/api/events/search/?q={bad}").status_code == 400
    for limit in ["0", "201", "²", "9" * 5000]:
        assert api.get(f"/api/events/search/?q=courier&limit={limit}").status_code == 400


def test_search_ranks_the_newest_matches_only(api, monkeypatch):
    """A word in nearly every event is ranked among its newest matches, not all of them: an
    older event that would rank first is left out once RANK_NEWEST newer events match."""
    import events.search

    monkeypatch.setattr(events.search, "RANK_NEWEST", 3)
    oldest = assessed_event(at=FRIDAY_NOON, cam="porch")
    Event.objects.filter(pk=oldest.pk).update(summary="courier courier courier courier")
    newer = [assessed_event(at=FRIDAY_NOON + timedelta(hours=n), cam="porch") for n in (1, 2, 3)]
    Event.objects.filter(pk__in=[e.pk for e in newer]).update(summary="a courier")
    found = [e["id"] for e in api.get("/api/events/search/?q=courier").json()["results"]]
    assert sorted(found) == sorted(e.pk for e in newer)
    monkeypatch.setattr(events.search, "RANK_NEWEST", 4)  # room for it: it ranks first
    assert api.get("/api/events/search/?q=courier").json()["results"][0]["id"] == oldest.pk
