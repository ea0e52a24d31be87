"""The OpenAPI schema (/api/schema/) and Swagger UI (/api/docs/): every operation declares
the problem responses any call may get, and the UI works with no internet (its files are
our own static files), for anyone signed in."""

from __future__ import annotations

import re

import pytest
from django.contrib.staticfiles import finders
from drf_spectacular.generators import SchemaGenerator
from drf_spectacular.validation import validate_schema

from homesec.core.services import api_token_create
from tests.core.test_api_throttling import fresh_counts  # noqa: F401  (autouse: no rate counts from other tests)

METHODS = ("get", "put", "post", "delete", "patch", "head", "options", "trace")
WRITES = ("post", "put", "patch", "delete")
PROBLEM_REF = {"$ref": "#/components/schemas/Problem"}


@pytest.fixture
def schema():
    return SchemaGenerator().get_schema(request=None, public=True)


def operations(schema):
    for url, item in schema["paths"].items():
        for method, operation in item.items():
            if method in METHODS:
                yield url, method, operation


def test_the_schema_is_valid_openapi(schema):
    validate_schema(schema)


def test_every_operation_declares_401_403_404_and_429_as_problems_and_writes_400(schema):
    found = list(operations(schema))
    assert len(found) >= 4  # the API's own endpoints at least: root, me, tokens, tokens/current
    for url, method, operation in found:
        wanted = {"401", "403", "404", "429"} | ({"400"} if method in WRITES else set())
        missing = wanted - set(operation["responses"])
        assert not missing, f"{method.upper()} {url} does not declare {sorted(missing)}"
        for status in wanted:
            content = operation["responses"][status]["content"]
            if "application/problem+json" in content:  # ours; a view may describe its own body
                assert content["application/problem+json"]["schema"] == PROBLEM_REF


def test_the_problem_component_is_rfc_7807(schema):
    problem = schema["components"]["schemas"]["Problem"]
    assert set(problem["required"]) == {"type", "title", "status", "detail"}
    assert problem["properties"]["status"]["type"] == "integer"


def test_the_token_endpoints_are_described(schema):
    create = schema["paths"]["/api/tokens/"]["post"]
    assert create.get("security", []) in ([], [{}])  # the one call that needs no sign-in
    assert create["responses"]["401"]["content"]["application/problem+json"]["schema"] == PROBLEM_REF
    assert create["responses"]["201"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/TokenCreated"
    }
    assert "415" in create["responses"]
    revoke = schema["paths"]["/api/tokens/current/"]["delete"]
    assert "204" in revoke["responses"] and "400" in revoke["responses"]


def test_the_schema_and_the_docs_need_a_sign_in(client):
    for url in ("/api/schema/", "/api/docs/"):
        response = client.get(url, HTTP_ACCEPT="application/json")
        assert response.status_code == 401 and response["Content-Type"] == "application/problem+json"


def test_a_browser_not_signed_in_goes_from_the_docs_to_the_login_page_and_back(client):
    response = client.get("/api/docs/", HTTP_ACCEPT="text/html,application/xhtml+xml")
    assert response.status_code == 302
    assert response["Location"] == "/accounts/login/?next=/api/docs/"


def test_a_viewer_reads_the_schema_with_a_token(client, viewer):
    _, key = api_token_create(user=viewer, name="phone")
    response = client.get("/api/schema/", HTTP_ACCEPT="application/json", HTTP_AUTHORIZATION=f"Bearer {key}")
    assert response.status_code == 200
    assert "/api/tokens/" in response.json()["paths"]


def test_swagger_ui_is_served_from_our_own_static_files(viewer_client, settings):
    response = viewer_client.get("/api/docs/")

    assert response.status_code == 200
    page = response.content.decode()
    assert "/api/schema/" in page
    assets = re.findall(r'(?:src|href)="([^"]+)"', page)
    assert any(asset.endswith("swagger-ui-bundle.js") for asset in assets)
    for asset in assets:
        assert asset.startswith(settings.STATIC_URL), f"{asset} is not ours"
        assert finders.find(asset.removeprefix(settings.STATIC_URL)), f"{asset} is not among the static files"
    assert not re.search(r"https?://", page), "the page loads something from the internet"
