"""The household's roles across every page: a viewer sees everything, may review, note,
acknowledge, dismiss and snooze, and gets no configuration control; a forged configuration
POST (with a valid CSRF token) is refused with 403 and changes nothing. An admin gets the
controls. A GET never writes."""

from __future__ import annotations

import re

import pytest
from django.test import Client

from alerts.models import Household
from cameras.models import Camera, Zone
from events.models import Event
from tests.alerts.factory import assessed_event, zone

pytestmark = pytest.mark.django_db

# POST endpoints that change configuration: (url, form data).
CONFIGURATION = [
    ("/overview/mode", {"mode": "away"}),
    ("/cameras/add", {"name": "shed"}),
    ("/cameras/front_door/settings", {"name": "Renamed", "time_zone": "Europe/Berlin"}),
    ("/cameras/front_door/ftp", {}),
    ("/cameras/front_door/zones", {"name": "new", "kind": "other", "polygon": "[[0,0],[1,0],[1,1]]"}),
    ("/cameras/front_door/zones/{zone}/delete", {}),
    ("/events/{event}/reassess", {}),
]


@pytest.fixture
def world():
    event = assessed_event(cam="front_door", score=72)
    area = zone("front_door", "driveway")
    return {"event": event.pk, "zone": area.pk}


def pages(world: dict[str, int]) -> list[str]:
    return [
        "/",
        "/events/?reviewed=all",
        f"/events/{world['event']}/",
        "/cameras/",
        "/cameras/front_door/",
        "/alerts/",
        "/system/",
    ]


def posting_forms(html: str) -> set[str]:
    """Where the page's POST forms send to (their action, or the page itself)."""
    forms = re.findall(r"<form\b[^>]*>", html, flags=re.I)
    return {
        (re.search(r'action="([^"]*)"', form) or [None, ""])[1]
        for form in forms
        if re.search(r'method="post"', form, re.I)
    }


def csrf_client(user) -> Client:
    client = Client(enforce_csrf_checks=True)
    client.force_login(user)
    client.get("/")  # the CSRF cookie
    return client


def post(client: Client, url: str, data: dict[str, str]):
    return client.post(url, {**data, "csrfmiddlewaretoken": client.cookies["csrftoken"].value})


def test_a_viewer_sees_every_page_without_any_configuration_control(viewer, world):
    client = csrf_client(viewer)
    configuration = {url.format(**world).split("?")[0] for url, _ in CONFIGURATION}
    for page in pages(world):
        response = client.get(page)
        assert response.status_code == 200, page
        html = response.content.decode()
        offered = posting_forms(html) & configuration
        assert not offered, f"{page} offers a viewer {offered}"
        assert 'href="/admin/' not in html, f"{page} links a viewer to the console"


def test_an_admin_gets_the_configuration_controls(admin_user, world):
    client = csrf_client(admin_user)
    forms = set()
    for page in pages(world):
        response = client.get(page)
        assert response.status_code == 200, page
        forms |= posting_forms(response.content.decode())
    assert {"/overview/mode", f"/events/{world['event']}/reassess", "/cameras/front_door/settings"} <= forms


@pytest.mark.parametrize(("url", "data"), CONFIGURATION)
def test_a_forged_configuration_post_from_a_viewer_is_refused_and_changes_nothing(viewer, world, url, data):
    before = (
        list(Household.objects.values_list("mode", flat=True)),
        list(Camera.objects.values_list("pk", "name")),
        list(Zone.objects.values_list("pk", "name", "polygon")),
        list(Event.objects.values_list("pk", "assess_step", "assess_wanted_at")),
    )
    response = post(csrf_client(viewer), url.format(**world), data)
    assert response.status_code == 403
    after = (
        list(Household.objects.values_list("mode", flat=True)),
        list(Camera.objects.values_list("pk", "name")),
        list(Zone.objects.values_list("pk", "name", "polygon")),
        list(Event.objects.values_list("pk", "assess_step", "assess_wanted_at")),
    )
    assert after == before


def test_what_a_viewer_may_do_is_accepted(viewer, world):
    client = csrf_client(viewer)
    event = world["event"]
    assert post(client, f"/events/{event}/review", {"reviewed": "on", "review_notes": "the postman"}).status_code in (
        200,
        302,
    )
    assert Event.objects.get(pk=event).review_notes == "the postman"
    assert post(client, "/cameras/front_door/snooze", {"minutes": "30"}).status_code in (200, 302)


def test_no_page_writes_on_get(viewer, world):
    client = csrf_client(viewer)
    before = list(Event.objects.values_list("pk", "reviewed", "review_notes", "assess_step"))
    for page in pages(world):
        client.get(page)
    assert list(Event.objects.values_list("pk", "reviewed", "review_notes", "assess_step")) == before


def test_every_page_reads_the_role_and_the_last_live_message_once(viewer, world):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    client = csrf_client(viewer)
    for page in pages(world):
        with CaptureQueriesContext(connection) as queries:
            assert client.get(page).status_code == 200, page
        reads = [query["sql"] for query in queries]
        assert sum('"auth_group"' in sql for sql in reads) == 1, page
        assert sum('"core_livemessage"' in sql for sql in reads) == 1, page
