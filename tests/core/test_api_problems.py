"""Every error under /api/ is an RFC 7807 problem (application/problem+json): 401, 403, 404
(unknown URLs too), 405, 415, 429 and 500, from DRF's views and from Django's own
handlers alike; a 500 says nothing of what went wrong."""

from __future__ import annotations

import logging

import pytest
from django.http import Http404, HttpRequest, HttpResponse
from django.test import Client
from django.urls import path
from rest_framework.decorators import api_view
from rest_framework.request import Request
from rest_framework.response import Response

from homesec import urls as project_urls
from homesec.core.services import api_token_create
from tests.core.test_api_throttling import fresh_counts  # noqa: F401  (autouse: no rate counts from other tests)

PROBLEM = "application/problem+json"
SECRET = "hunter2-database-password"


# A URLconf for the tests that need a view that fails: the project's, and these first.
@api_view(["GET"])
def broken_api_view(request: Request) -> Response:
    raise RuntimeError(f"connection to postgres://homesec:{SECRET}@db failed")


def broken_plain_view(request: HttpRequest) -> HttpResponse:
    raise RuntimeError(f"password={SECRET}")


def missing_plain_view(request: HttpRequest) -> HttpResponse:
    raise Http404("no such picture")


urlpatterns = [
    path("api/test-broken/", broken_api_view),
    path("api/test-broken-plain/", broken_plain_view),
    path("api/test-missing-plain/", missing_plain_view),
    path("test-broken-page/", broken_plain_view),
    *project_urls.urlpatterns,
]
handler404 = project_urls.handler404
handler500 = project_urls.handler500
with_failing_views = pytest.mark.urls(__name__)


@pytest.fixture
def viewer_key(viewer):
    return api_token_create(user=viewer, name="phone")[1]


@pytest.fixture
def admin_key(operator):
    return api_token_create(user=operator, name="script")[1]


def assert_problem(response, status: int, title: str) -> dict:
    assert response.status_code == status, response.content
    assert response["Content-Type"] == PROBLEM
    body = response.json()
    assert body["type"] == "about:blank"
    assert body["title"] == title
    assert body["status"] == status
    assert isinstance(body["detail"], str) and body["detail"]
    return body


def test_401_not_signed_in(client):
    response = client.get("/api/me/")
    assert_problem(response, 401, "Unauthorized")
    assert response["WWW-Authenticate"] == 'Bearer realm="homesec"'


def test_401_a_revoked_or_made_up_token(client):
    body = assert_problem(client.get("/api/me/", HTTP_AUTHORIZATION="Bearer hs_made-up"), 401, "Unauthorized")
    assert body["detail"] == "Invalid or revoked API token."


def test_403_a_viewer_changing_something(client, viewer_key):
    response = client.post("/api/me/", {}, content_type="application/json", HTTP_AUTHORIZATION=f"Bearer {viewer_key}")
    body = assert_problem(response, 403, "Forbidden")
    assert body["detail"] == "Only admins may change things."


def test_403_a_session_post_without_csrf(viewer):
    client = Client(enforce_csrf_checks=True)
    client.force_login(viewer)
    body = assert_problem(client.delete("/api/tokens/current/"), 403, "Forbidden")
    assert "CSRF" in body["detail"]


@pytest.mark.parametrize("url", ["/api/nothing-here/", "/api/events/0/nothing/", "/api/me/extra/"])
def test_404_an_unknown_api_url(client, viewer_key, url):
    body = assert_problem(client.get(url, HTTP_AUTHORIZATION=f"Bearer {viewer_key}"), 404, "Not Found")
    assert body["detail"] == "No such API endpoint."


@pytest.mark.parametrize("method", ["get", "post", "put", "patch", "delete", "options"])
def test_404_an_unknown_api_url_whatever_the_method(client, admin_key, method):
    response = getattr(client, method)("/api/nothing-here/", HTTP_AUTHORIZATION=f"Bearer {admin_key}")
    assert_problem(response, 404, "Not Found")


def test_404_a_missing_slash_says_where_the_endpoint_is(client, viewer_key):
    body = assert_problem(client.get("/api/me", HTTP_AUTHORIZATION=f"Bearer {viewer_key}"), 404, "Not Found")
    assert body["detail"] == "No such API endpoint. Did you mean /api/me/?"


def test_an_unknown_api_url_asks_for_a_sign_in_first(client):
    """Whoever is not signed in learns nothing of which API URLs exist."""
    assert_problem(client.get("/api/nothing-here/"), 401, "Unauthorized")


def test_an_unknown_page_outside_the_api_is_still_a_page(viewer_client):
    response = viewer_client.get("/nothing-here/")
    assert response.status_code == 404
    assert response["Content-Type"].startswith("text/html")


@with_failing_views
def test_404_from_a_view_outside_drf(viewer_client):
    body = assert_problem(viewer_client.get("/api/test-missing-plain/"), 404, "Not Found")
    assert "no such picture" not in body["detail"]


def test_405_a_method_the_endpoint_does_not_have(client, admin_key):
    response = client.delete("/api/me/", HTTP_AUTHORIZATION=f"Bearer {admin_key}")
    body = assert_problem(response, 405, "Method Not Allowed")
    assert body["detail"] == 'Method "DELETE" not allowed.'
    assert "GET" in response["Allow"]


def test_415_a_body_the_endpoint_cannot_read(client, viewer):
    response = client.post("/api/tokens/", "username=viewer", content_type="text/plain")
    body = assert_problem(response, 415, "Unsupported Media Type")
    assert "text/plain" in body["detail"]


def test_400_a_body_that_is_not_json(client, viewer):
    response = client.post("/api/tokens/", "{not json", content_type="application/json")
    assert_problem(response, 400, "Bad Request")


def test_429_too_many_requests(client, viewer_key, settings):
    rates = {**settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"], "user": "1/day"}
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "DEFAULT_THROTTLE_RATES": rates}
    client.get("/api/me/", HTTP_AUTHORIZATION=f"Bearer {viewer_key}")

    response = client.get("/api/me/", HTTP_AUTHORIZATION=f"Bearer {viewer_key}")

    assert_problem(response, 429, "Too Many Requests")
    assert int(response["Retry-After"]) > 0


@with_failing_views
def test_500_from_an_api_view_says_nothing_of_the_error_and_logs_it(viewer_client, caplog):
    with caplog.at_level(logging.ERROR, logger="django.request"):
        response = viewer_client.get("/api/test-broken/")

    body = assert_problem(response, 500, "Internal Server Error")
    assert SECRET not in response.content.decode()
    assert "Traceback" not in response.content.decode() and "RuntimeError" not in response.content.decode()
    assert body["detail"] == "Something went wrong on the server; the server's log says what."
    logged = [record for record in caplog.records if record.name == "django.request"]
    assert logged and logged[0].exc_info is not None and logged[0].status_code == 500


@with_failing_views
def test_500_from_a_view_outside_drf_is_a_problem_too(viewer):
    client = Client(raise_request_exception=False)
    client.force_login(viewer)

    response = client.get("/api/test-broken-plain/")

    assert_problem(response, 500, "Internal Server Error")
    assert SECRET not in response.content.decode()


@with_failing_views
def test_500_outside_the_api_is_still_a_page(viewer):
    client = Client(raise_request_exception=False)
    client.force_login(viewer)

    response = client.get("/test-broken-page/")

    assert response.status_code == 500
    assert response["Content-Type"].startswith("text/html")
    assert SECRET not in response.content.decode()


def test_a_validation_error_lists_the_fields(client):
    body = assert_problem(
        client.post("/api/tokens/", {"name": "x" * 101}, content_type="application/json"), 400, "Bad Request"
    )
    assert body["detail"] == "The request was not valid."
    assert set(body["errors"]) == {"username", "password", "name"}
