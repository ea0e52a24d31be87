"""API rate limits: counted in a cache every web process shares (Redis, else the database),
per user and per address for search and export, refused with a 429 problem and
Retry-After; rates from the environment, checked at start."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from concurrent.futures import ThreadPoolExecutor

import pytest
from django.core.cache import caches
from django.db import connection
from django.db import connections as db_connections
from django.test import RequestFactory, override_settings
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.test import APIRequestFactory, force_authenticate
from rest_framework.views import APIView

from homesec.core.services import api_token_create
from homesec.core.throttling import (
    KEY_PREFIX,
    ClientUserRateThrottle,
    ExportThrottle,
    SearchThrottle,
    counter_increment,
    throttle_counters_clear,
)
from tests.support.processes import REPO, database_url_for_tests, free_port, process_env

PROBLEM = "application/problem+json"
DATABASE_CACHE = {"default": {"BACKEND": "django.core.cache.backends.db.DatabaseCache", "LOCATION": "homesec_cache"}}


@pytest.fixture(autouse=True)
def fresh_counts(db):
    """The counts live in the shared cache (Redis under make test) and would outlive a test.
    The other API test modules import this fixture."""
    throttle_counters_clear()
    yield
    throttle_counters_clear()


@pytest.fixture
def rates(settings):
    """Rates per day in tests: a request never straddles the end of a window."""

    def set_rates(**scopes: str) -> None:
        merged = {**settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"], **scopes}
        settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "DEFAULT_THROTTLE_RATES": merged}

    return set_rates


@pytest.fixture(params=["redis", "database"])
def shared_cache(request, settings):
    """Each kind of shared cache homesec runs with: Redis (REDIS_URL), else the table."""
    if request.param == "redis":
        if not settings.REDIS_URL:
            pytest.skip("REDIS_URL is not set (make test sets it)")
        assert caches["default"].__class__.__name__ == "RedisCache"
    else:
        settings.CACHES = DATABASE_CACHE
    throttle_counters_clear()
    yield request.param
    throttle_counters_clear()


def throttled_view(*throttles):
    class View(APIView):
        throttle_classes = list(throttles)

        def get(self, request: Request) -> Response:
            return Response({"ok": True})

    return View.as_view()


def call(view, user=None, ip="127.0.0.1"):
    request = APIRequestFactory().get("/api/events/search/", REMOTE_ADDR=ip)
    if user is not None:
        force_authenticate(request, user=user)
    return view(request)


@pytest.mark.parametrize(("throttle", "scope"), [(SearchThrottle, "search"), (ExportThrottle, "export")])
def test_search_and_export_are_limited_per_user_and_per_address(throttle, scope, rates, viewer, operator):
    rates(**{scope: "2/day"})
    view = throttled_view(throttle)
    assert [call(view, viewer, "198.51.100.1").status_code for _ in range(2)] == [200, 200]

    assert call(view, viewer, "198.51.100.1").status_code == 429
    assert call(view, viewer, "203.0.113.9").status_code == 429  # the user used its requests
    assert call(view, operator, "198.51.100.1").status_code == 429  # and so did the address
    assert call(view, operator, "203.0.113.9").status_code == 200


def test_scopes_count_apart(rates, viewer):
    rates(search="1/day", export="1/day")
    assert call(throttled_view(SearchThrottle), viewer).status_code == 200
    assert call(throttled_view(ExportThrottle), viewer).status_code == 200
    assert call(throttled_view(SearchThrottle), viewer).status_code == 429


def test_a_refusal_is_a_429_problem_with_retry_after(client, viewer, rates):
    rates(user="2/day")
    _, key = api_token_create(user=viewer, name="phone")
    for _ in range(2):
        assert client.get("/api/me/", HTTP_AUTHORIZATION=f"Bearer {key}").status_code == 200

    refused = client.get("/api/me/", HTTP_AUTHORIZATION=f"Bearer {key}")

    assert refused.status_code == 429
    assert refused["Content-Type"] == PROBLEM
    body = refused.json()
    assert body["type"] == "about:blank" and body["title"] == "Too Many Requests" and body["status"] == 429
    retry_after = int(refused["Retry-After"])
    assert 0 < retry_after <= 86400
    assert f"{retry_after} second" in body["detail"]


ANOTHER_PROCESS = """
import os, sys
import django

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "homesec.settings")
django.setup()
from django.test import RequestFactory
from rest_framework.request import Request

from homesec.core.throttling import SearchThrottle

request = Request(RequestFactory().get("/api/events/search/", REMOTE_ADDR="198.51.100.77"))
for line in sys.stdin:  # a number of requests to make; answers whether each was allowed
    print(" ".join(str(SearchThrottle().allow_request(request, None)) for _ in range(int(line))), flush=True)
"""


@pytest.fixture
def another_process(tmp_path, shared_cache):
    """A second homesec process on the same shared cache; `ask(n)` makes n requests there."""
    extra = {"HOMESEC_API_RATE_SEARCH": "3/day"}
    if shared_cache == "database":  # the test database, with its cache table
        extra |= {"REDIS_URL": "<unset>", "DATABASE_URL": database_url_for_tests()}
    proc = subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(ANOTHER_PROCESS)],
        env=process_env(tmp_path / "var", **extra),
        cwd=REPO,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )

    def ask(count: int) -> list[bool]:
        assert proc.stdin is not None and proc.stdout is not None
        proc.stdin.write(f"{count}\n")
        proc.stdin.flush()
        answer = proc.stdout.readline()
        assert answer, "the other process ended"
        return [word == "True" for word in answer.split()]

    yield ask
    proc.kill()
    proc.wait()


@pytest.mark.django_db(transaction=True)  # the other process must see this one's counts
def test_the_limit_is_one_for_all_processes_not_one_per_process(rates, another_process):
    rates(search="3/day")
    request = Request(RequestFactory().get("/api/events/search/", REMOTE_ADDR="198.51.100.77"))

    assert another_process(2) == [True, True]
    assert SearchThrottle().allow_request(request, None)  # the third, here
    assert another_process(1) == [False]  # the fourth, there
    assert not SearchThrottle().allow_request(request, None)


def test_two_cache_connections_see_one_count(rates, shared_cache):
    """Two clients of the same Redis (or database), each with its own connection."""
    rates(search="3/day")
    request = Request(RequestFactory().get("/api/events/search/", REMOTE_ADDR="198.51.100.78"))
    first, second = caches.create_connection("default"), caches.create_connection("default")
    assert first is not second

    allowed = []
    for backend in (first, second, first, second):
        caches["default"] = backend
        allowed.append(SearchThrottle().allow_request(request, None))

    assert allowed == [True, True, True, False]


@pytest.mark.django_db(transaction=True)  # each thread has a connection of its own
def test_requests_at_the_same_instant_are_each_counted(shared_cache):
    """No lost update: 8 threads counting at once get every number from 1 to 200 once."""

    def count_25() -> list[int]:
        try:
            return [counter_increment(f"{KEY_PREFIX}test:same-instant", timeout=60) for _ in range(25)]
        finally:
            db_connections.close_all()

    with ThreadPoolExecutor(8) as pool:
        counts = [n for batch in pool.map(lambda _: count_25(), range(8)) for n in batch]

    assert sorted(counts) == list(range(1, 201))


def test_counters_go_when_their_window_ends(settings, rates):
    if not settings.REDIS_URL:
        pytest.skip("REDIS_URL is not set (make test sets it)")
    rates(search="5/minute")
    request = Request(RequestFactory().get("/api/events/search/", REMOTE_ADDR="198.51.100.79"))
    SearchThrottle().allow_request(request, None)

    backend = caches["default"]
    client = backend._cache.get_client(write=True)
    keys = list(client.scan_iter(match=backend.make_key(f"{KEY_PREFIX}search:*")))
    assert len(keys) == 1
    assert 0 < client.ttl(keys[0]) <= 61


def test_clearing_the_counts_leaves_the_caches_other_keys(shared_cache, rates):
    rates(search="1/day")
    request = Request(RequestFactory().get("/api/events/search/", REMOTE_ADDR="198.51.100.80"))
    caches["default"].set("something-else", 42)
    SearchThrottle().allow_request(request, None)
    assert not SearchThrottle().allow_request(request, None)

    assert throttle_counters_clear() >= 1

    assert SearchThrottle().allow_request(request, None)
    assert caches["default"].get("something-else") == 42
    caches["default"].delete("something-else")


def test_a_redis_that_does_not_answer_lets_requests_through_and_says_so(rates, caplog):
    away = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": f"redis://127.0.0.1:{free_port()}/0",  # nothing listens there
            "OPTIONS": {"socket_connect_timeout": 1, "socket_timeout": 1},
        }
    }
    rates(user="1/day")
    request = Request(RequestFactory().get("/api/", REMOTE_ADDR="198.51.100.81"))

    with override_settings(CACHES=away):  # back before the fixtures clear the counts
        assert all(ClientUserRateThrottle().allow_request(request, None) for _ in range(3))
    assert "Redis did not answer" in caplog.text


def test_the_cache_table_is_made_by_migrate():
    assert "homesec_cache" in connection.introspection.table_names()


FRESH_INSTALL = (
    "import django; django.setup(); "
    "from django.conf import settings; from django.core.management import call_command; "
    "from django.db import connection; call_command('migrate', verbosity=0); "
    "print(settings.CACHES['default']['BACKEND'], 'homesec_cache' in connection.introspection.table_names())"
)


def test_without_redis_a_fresh_install_counts_in_its_database_and_has_the_table(tmp_path):
    """What `make run` does first on a new machine: migrate, on SQLite, with no Redis."""
    done = subprocess.run(
        [sys.executable, "-c", FRESH_INSTALL],
        env=process_env(
            tmp_path / "var", DATABASE_URL="<unset>", REDIS_URL="<unset>", DJANGO_SETTINGS_MODULE="homesec.settings"
        ),
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().splitlines()[-1] == "django.core.cache.backends.db.DatabaseCache True"


def test_with_redis_the_counts_are_in_redis(settings):
    if not settings.REDIS_URL:
        pytest.skip("REDIS_URL is not set (make test sets it)")
    assert settings.CACHES["default"]["BACKEND"] == "django.core.cache.backends.redis.RedisCache"
    assert settings.CACHES["default"]["LOCATION"] == settings.REDIS_URL


@pytest.mark.parametrize("name", ["HOMESEC_API_RATE_AUTH", "HOMESEC_API_RATE_SEARCH", "HOMESEC_API_RATE_EXPORT"])
def test_a_rate_that_is_not_n_per_period_stops_homesec_at_start(tmp_path, name):
    done = subprocess.run(
        [sys.executable, str(REPO / "manage.py"), "check"],
        env={**process_env(tmp_path / "var"), name: "10 per minute"},
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode != 0
    last = done.stderr.strip().splitlines()[-1]
    assert last.startswith("django.core.exceptions.ImproperlyConfigured: ") and name in last


def test_the_rates_default_to_the_documented_ones(settings):
    assert settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"] == {
        "user": "600/minute",
        "auth": "10/minute",
        "search": "60/minute",
        "export": "10/minute",
    }
