import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.test import override_settings

from homesec.core.models import ApiToken
from homesec.core.services import api_token_create, api_token_revoke
from tests.support.users import PASSWORD

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("path", ["/", "/admin/", "/admin/core/heartbeat/", "/anything-else"])
def test_anonymous_pages_redirect_to_the_login_page(client, path):
    response = client.get(path)
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/?next=")


@pytest.mark.parametrize("path", ["/api/", "/api/me/", "/api/schema/"])
def test_anonymous_api_calls_get_401_problem_details(client, path):
    response = client.get(path, HTTP_ACCEPT="application/json")
    assert response.status_code == 401
    assert response["Content-Type"] == "application/problem+json"
    assert response.json()["status"] == 401


def test_health_ready_and_the_login_page_are_open(client):
    assert client.get("/health").status_code == 200
    assert client.get("/ready").status_code in (200, 503)
    assert client.get("/accounts/login/").status_code == 200


def test_the_icon_is_open_so_the_login_page_has_one(client):
    response = client.get("/favicon.ico")
    assert response.status_code == 302
    assert response["Location"].endswith("homesec/favicon.svg")


def test_a_token_authenticates_api_calls_and_is_stored_only_hashed(client, viewer):
    token, key = api_token_create(user=viewer, name="phone")
    response = client.get("/api/me/", HTTP_AUTHORIZATION=f"Bearer {key}")
    assert response.status_code == 200
    assert response.json() == {"username": "viewer", "role": "viewer"}
    stored = ApiToken.objects.values_list("key_hash", "prefix").get(pk=token.pk)
    assert key not in stored[0] and len(stored[0]) == 64
    assert key.startswith(stored[1])


def test_a_revoked_or_unknown_token_is_refused(client, viewer):
    token, key = api_token_create(user=viewer)
    api_token_revoke(token=token)
    assert client.get("/api/me/", HTTP_AUTHORIZATION=f"Bearer {key}").status_code == 401
    assert client.get("/api/me/", HTTP_AUTHORIZATION="Bearer hs_nonsense").status_code == 401


def test_create_api_token_command_prints_a_working_key(client, viewer, capsys):
    call_command("create_api_token", "viewer", "--name", "script")
    key = capsys.readouterr().out.strip()
    assert client.get("/api/me/", HTTP_AUTHORIZATION=f"Token {key}").status_code == 200


def test_a_viewer_reads_but_may_not_write(viewer, operator):
    from rest_framework.decorators import api_view
    from rest_framework.response import Response
    from rest_framework.test import APIRequestFactory, force_authenticate

    @api_view(["GET", "POST"])
    def view(request):
        return Response({"ok": True})

    factory = APIRequestFactory()
    for method, expected in (("get", 200), ("post", 403)):
        request = getattr(factory, method)("/api/x/")
        force_authenticate(request, user=viewer)
        assert view(request).status_code == expected
    request = factory.post("/api/x/")
    force_authenticate(request, user=operator)
    assert view(request).status_code == 200


def test_signing_in_with_the_login_page_opens_the_pages(client, viewer):
    response = client.post("/accounts/login/", {"username": "viewer", "password": PASSWORD, "next": "/"})
    assert response.status_code == 302 and response["Location"] == "/"
    page = client.get("/")
    assert page.status_code == 200 and b'<span class="who">viewer (viewer)</span>' in page.content


def test_a_viewer_opening_the_admin_gets_a_403_page_not_a_redirect_loop(viewer_client):
    response = viewer_client.get("/admin/", follow=True)
    assert response.status_code == 403
    assert len(response.redirect_chain) <= 1
    assert b"operator console" in response.content
    # Never Django's own admin sign-in form: it would sign in around the lock-out.
    assert b'name="password"' not in response.content


@pytest.mark.parametrize("path", ["/admin/", "/admin/login/", "/admin/login/?next=/admin/core/heartbeat/"])
def test_anonymous_admin_pages_go_to_the_rate_limited_login_page(client, path):
    response = client.get(path, follow=True)
    assert response.redirect_chain[-1][0].startswith("/accounts/login/?next=")
    assert response.status_code == 200 and b'action="/accounts/login/"' in response.content


def test_an_admin_signing_in_from_the_admin_link_lands_in_the_admin(client, admin_user):
    login_page = client.get("/admin/login/?next=/admin/core/heartbeat/", follow=True)
    next_url = login_page.context["next"]
    response = client.post("/accounts/login/", {"username": "admin", "password": PASSWORD, "next": next_url})
    response = client.get(response["Location"], follow=True)
    assert response.status_code == 200
    assert response.redirect_chain[-1][0] == "/admin/core/heartbeat/"


@override_settings(LOGIN_MAX_FAILURES=3)
def test_the_admin_login_route_does_not_sign_in_around_the_lockout(client, viewer):
    viewer.is_staff = True
    viewer.save(update_fields=["is_staff"])
    for _ in range(3):
        client.post("/accounts/login/", {"username": "viewer", "password": "wrong"})
    client.post("/admin/login/", {"username": "viewer", "password": PASSWORD, "next": "/admin/"})
    assert "_auth_user_id" not in client.session


@override_settings(LOGIN_MAX_FAILURES=3)
def test_repeated_failed_sign_ins_lock_the_user_out(client, viewer):
    for _ in range(3):
        assert client.post("/accounts/login/", {"username": "viewer", "password": "wrong"}).status_code == 200
    locked = client.post("/accounts/login/", {"username": "viewer", "password": PASSWORD})
    assert locked.status_code == 429
    assert b"Too many failed sign-ins" in locked.content
    assert "_auth_user_id" not in client.session


@override_settings(LOGIN_MAX_FAILURES=3)
@pytest.mark.parametrize("variant", ["viewer ", " viewer", "\uff56iewer"])
def test_a_locked_out_name_stays_locked_out_with_spaces_or_full_width_letters(client, viewer, variant):
    for _ in range(3):
        client.post("/accounts/login/", {"username": "viewer", "password": "wrong"})
    locked = client.post("/accounts/login/", {"username": variant, "password": PASSWORD})
    assert locked.status_code == 429
    assert "_auth_user_id" not in client.session


@override_settings(LOGIN_MAX_FAILURES=3)
def test_failures_under_variants_of_a_name_count_against_that_name(client, viewer):
    for variant in ("viewer ", "\uff56iewer", "\tviewer"):
        client.post("/accounts/login/", {"username": variant, "password": "wrong"})
    assert client.post("/accounts/login/", {"username": "viewer", "password": PASSWORD}).status_code == 429


def test_ensure_admin_prints_a_generated_password_once(capsys, client):
    call_command("ensure_admin")
    out = capsys.readouterr().out
    password = out.split("password:")[1].split()[0]
    assert client.login(username="admin", password=password)
    call_command("ensure_admin")
    assert "password" not in capsys.readouterr().out


@override_settings(ADMIN_USER="root", ADMIN_PASSWORD="given-password-1")
def test_ensure_admin_uses_the_configured_credentials(capsys, client):
    call_command("ensure_admin")
    assert "password" not in capsys.readouterr().out
    assert client.login(username="root", password="given-password-1")


@override_settings(ADMIN_USER="alex", ADMIN_PASSWORD="given-password-2")
def test_ensure_admin_promotes_an_existing_account_of_that_name_when_there_is_no_admin(client, viewer):
    get_user_model().objects.create_user("alex", password="old-password-1")
    call_command("ensure_admin")
    user = get_user_model().objects.get(username="alex")
    assert user.is_superuser and user.is_staff
    assert client.login(username="alex", password="given-password-2")
