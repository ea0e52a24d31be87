"""Tokens through the API: POST /api/tokens/ trades a user name and password for a key
shown once (stored hashed), counted by the login page's lock-out and throttled per address
and per user name; DELETE /api/tokens/current/ revokes the token a request came with."""

from __future__ import annotations

import hashlib

import pytest
from django.test import Client

from homesec.core.models import ApiToken, LoginFailure
from homesec.core.services import api_token_create
from tests.core.test_api_throttling import fresh_counts  # noqa: F401  (autouse: no rate counts from other tests)
from tests.support.users import PASSWORD

PROBLEM = "application/problem+json"


@pytest.fixture
def auth_rate(settings):
    def set_rate(rate: str) -> None:
        rates = {**settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"], "auth": rate}
        settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "DEFAULT_THROTTLE_RATES": rates}

    return set_rate


def ask_for_token(client: Client, username: str, password: str, name: str = "Anna's phone", **extra):
    return client.post(
        "/api/tokens/",
        {"username": username, "password": password, "name": name},
        content_type="application/json",
        **extra,
    )


def test_a_user_name_and_password_get_a_key_shown_once_and_stored_only_hashed(client, viewer):
    response = ask_for_token(client, "viewer", PASSWORD)

    assert response.status_code == 201
    body = response.json()
    assert set(body) == {"token", "name", "created"}
    assert body["name"] == "Anna's phone"
    key = body["token"]
    token = ApiToken.objects.get(user=viewer)
    assert token.name == "Anna's phone" and token.revoked_at is None
    assert token.key_hash == hashlib.sha256(key.encode()).hexdigest()
    assert key not in {token.prefix, token.key_hash, token.name}  # the key itself is kept nowhere
    me = client.get("/api/me/", HTTP_AUTHORIZATION=f"Bearer {key}")
    assert me.status_code == 200 and me.json() == {"username": "viewer", "role": "viewer"}


def test_each_sign_in_makes_a_token_of_its_own(client, viewer):
    first = ask_for_token(client, "viewer", PASSWORD, name="phone").json()["token"]
    second = ask_for_token(client, "viewer", PASSWORD, name="tablet").json()["token"]

    assert first != second
    assert sorted(ApiToken.objects.filter(user=viewer).values_list("name", flat=True)) == ["phone", "tablet"]


def test_a_wrong_password_is_a_401_problem_that_the_lockout_counts(client, viewer):
    response = ask_for_token(client, "viewer", "wrong-password")

    assert response.status_code == 401
    assert response["Content-Type"] == PROBLEM
    assert response.json() == {
        "type": "about:blank",
        "title": "Unauthorized",
        "status": 401,
        "detail": "Wrong user name or password.",
    }
    assert response["WWW-Authenticate"].startswith("Bearer")
    assert list(LoginFailure.objects.values_list("username", "ip")) == [("viewer", "127.0.0.1")]
    assert not ApiToken.objects.exists()


def test_an_unknown_user_and_an_inactive_one_get_the_same_401(client, viewer):
    viewer.is_active = False
    viewer.save(update_fields=["is_active"])

    for username in ("viewer", "nobody"):
        response = ask_for_token(client, username, PASSWORD)
        assert response.status_code == 401
        assert response.json()["detail"] == "Wrong user name or password."
    assert not ApiToken.objects.exists()


def test_after_repeated_failures_even_the_right_password_is_refused_with_429(client, viewer, settings):
    settings.LOGIN_MAX_FAILURES = 3
    for _ in range(3):
        assert ask_for_token(client, "viewer", "wrong-password").status_code == 401

    locked = ask_for_token(client, "viewer", PASSWORD)

    assert locked.status_code == 429
    assert locked["Content-Type"] == PROBLEM
    assert "Too many failed sign-ins" in locked.json()["detail"]
    assert int(locked["Retry-After"]) == settings.LOGIN_LOCKOUT_S
    assert not ApiToken.objects.exists()


def test_failures_on_the_login_page_lock_the_api_out_too_and_the_other_way_round(client, viewer, settings):
    settings.LOGIN_MAX_FAILURES = 3
    for _ in range(2):
        client.post("/accounts/login/", {"username": "viewer", "password": "wrong"})
    ask_for_token(client, "viewer", "wrong-password")  # the third failure, through the API

    assert ask_for_token(client, "viewer", PASSWORD).status_code == 429
    page = client.post("/accounts/login/", {"username": "viewer", "password": PASSWORD})
    assert page.status_code == 429


def test_the_name_is_cleaned_as_the_login_form_cleans_it(client, viewer):
    """ "viewer " signs in on the login page as viewer; the API agrees, both ways."""
    assert ask_for_token(client, " viewer ", PASSWORD).status_code == 201


def test_a_right_password_clears_the_failures_of_that_name_from_that_address(client, viewer):
    ask_for_token(client, "viewer", "wrong-password")
    assert ask_for_token(client, "viewer", PASSWORD).status_code == 201
    assert not LoginFailure.objects.filter(username="viewer").exists()


def test_signing_in_for_tokens_is_throttled_per_address(client, viewer, auth_rate):
    auth_rate("3/day")  # a day: no test run straddles the window's end
    for name in ("a", "b", "c"):
        ask_for_token(client, name, "wrong-password")

    refused = ask_for_token(client, "viewer", PASSWORD)  # right, but the address used its tries

    assert refused.status_code == 429
    assert refused["Content-Type"] == PROBLEM
    assert 0 < int(refused["Retry-After"]) <= 86400
    assert not ApiToken.objects.exists()
    assert ask_for_token(client, "viewer", PASSWORD, REMOTE_ADDR="198.51.100.7").status_code == 201


def test_signing_in_for_tokens_is_throttled_per_user_name_across_addresses(client, viewer, auth_rate):
    auth_rate("3/day")
    for n in range(3):
        ask_for_token(client, "viewer", "wrong-password", REMOTE_ADDR=f"198.51.100.{n + 1}")

    refused = ask_for_token(client, "\uff56iewer ", PASSWORD, REMOTE_ADDR="203.0.113.50")  # the same name

    assert refused.status_code == 429
    assert ask_for_token(client, "operator", "x", REMOTE_ADDR="203.0.113.51").status_code == 401


def test_a_request_without_the_fields_is_a_400_problem_naming_them(client, viewer):
    response = client.post("/api/tokens/", {"username": "viewer"}, content_type="application/json")

    assert response.status_code == 400
    assert response["Content-Type"] == PROBLEM
    body = response.json()
    assert body["title"] == "Bad Request" and body["status"] == 400
    assert set(body["errors"]) == {"password", "name"}


def test_a_form_post_works_as_json_does(client, viewer):
    response = client.post("/api/tokens/", {"username": "viewer", "password": PASSWORD, "name": "script"})
    assert response.status_code == 201


def test_the_token_endpoint_takes_only_post_even_from_a_signed_in_user(client, viewer_client):
    assert client.get("/api/tokens/").status_code == 405
    response = viewer_client.get("/api/tokens/")
    assert response.status_code == 405 and response["Content-Type"] == PROBLEM


def test_deleting_current_revokes_the_token_the_request_came_with_and_no_other(client, viewer):
    used, used_key = api_token_create(user=viewer, name="phone")
    other, other_key = api_token_create(user=viewer, name="tablet")

    response = client.delete("/api/tokens/current/", HTTP_AUTHORIZATION=f"Bearer {used_key}")

    assert response.status_code == 204
    used.refresh_from_db()
    other.refresh_from_db()
    assert used.revoked_at is not None and other.revoked_at is None
    assert client.get("/api/me/", HTTP_AUTHORIZATION=f"Bearer {used_key}").status_code == 401
    assert client.get("/api/me/", HTTP_AUTHORIZATION=f"Bearer {other_key}").status_code == 200


def test_deleting_current_with_a_session_is_a_400_problem_saying_there_is_no_token(viewer_client, viewer):
    api_token_create(user=viewer, name="phone")

    response = viewer_client.delete("/api/tokens/current/")

    assert response.status_code == 400
    assert response["Content-Type"] == PROBLEM
    assert "not made with an API token" in response.json()["detail"]
    assert ApiToken.objects.get(user=viewer).revoked_at is None


def test_deleting_current_without_signing_in_is_a_401_problem(client):
    response = client.delete("/api/tokens/current/")
    assert response.status_code == 401 and response["Content-Type"] == PROBLEM


def test_anonymous_callers_may_post_for_a_token_and_call_nothing_else(client):
    assert client.post("/api/me/", {}, content_type="application/json").status_code == 401
    assert client.get("/api/").status_code == 401
    assert client.get("/api/docs/", HTTP_ACCEPT="application/json").status_code == 401
