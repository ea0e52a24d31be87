"""API throttling: counters in the cache every web process shares, one atomic increment each.

The cache is Redis when REDIS_URL is set, else the database (settings.CACHES): a limit is
the household's, not one process's, so running more web processes does not multiply it.

Counting is by fixed windows (a minute of the clock for N/minute): each request adds one
to its window's counter in one atomic statement (an INCR in Redis, an INSERT ... ON
CONFLICT DO UPDATE in the cache's table), so two processes never count two requests as one,
and a request past the limit is refused until the window ends, which is what `Retry-After`
says; refused requests count too. DRF's own throttles keep a list of times
per client, read and written back whole: two processes answering at once each write their
own list and a request is forgotten, which a burst of password guesses could use.

A client is told apart by the same address as the sign-in lock-out (homesec.core.net:
DRF's own guess trusts any X-Forwarded-For unless told how many proxies there are).

Scopes and their rates (settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"], from the
environment):
* `user`: every API call, per user (anonymous callers per address): the default throttle;
* `auth`: token sign-in (POST /api/tokens/), per address and per user name;
* `search`, `export`: the event search and export, per user and per address.

A view that lists its own throttle_classes replaces the default one, so resource views
list both: `throttle_classes = [ClientUserRateThrottle, SearchThrottle]`.
"""

from __future__ import annotations

import hashlib
import logging
import math
import time
from datetime import timedelta
from typing import TYPE_CHECKING

from django.core.cache import caches
from django.core.cache.backends.db import DatabaseCache
from django.core.cache.backends.redis import RedisCache
from django.core.exceptions import ImproperlyConfigured
from django.db import connections, router
from django.db.backends.base.base import BaseDatabaseWrapper
from django.utils import timezone
from redis import Redis
from redis.exceptions import RedisError
from rest_framework.settings import api_settings
from rest_framework.throttling import BaseThrottle

from homesec.core.net import client_ip

if TYPE_CHECKING:
    from collections.abc import Iterator

    from rest_framework.request import Request
    from rest_framework.views import APIView

logger = logging.getLogger(__name__)

KEY_PREFIX = "throttle:"
PERIODS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def rate_parse(rate: str) -> tuple[int, int]:
    """ "10/minute" -> (10, 60). The settings check the text (homesec.env.env_rate)."""
    count, _, period = rate.partition("/")
    return int(count), PERIODS[period[:1]]


def counter_increment(key: str, *, timeout: int) -> int:
    """Add one to a counter in the shared cache and return it; it goes after `timeout` s."""
    backend = caches["default"]
    if isinstance(backend, RedisCache):
        full_key = backend.make_and_validate_key(key)
        # INCR and EXPIRE in one MULTI/EXEC: atomic, and one round trip (Django's incr is
        # three: EXISTS, INCRBY, and an add before it for a new key).
        pipe = _redis_client(backend, full_key).pipeline()
        pipe.incr(full_key)
        pipe.expire(full_key, timeout)
        count, _ = pipe.execute()
        return int(count)
    if isinstance(backend, DatabaseCache):
        connection = connections[router.db_for_write(backend.cache_model_class)]
        if connection.features.can_return_columns_from_insert:  # PostgreSQL; SQLite from 3.35
            return _table_increment(backend, connection, key, timeout)
    # Read and write back: two requests in the same instant may count once between them.
    count = int(backend.get(key, 0)) + 1
    backend.set(key, count, timeout=timeout)
    return count


def _table_increment(backend: DatabaseCache, connection: BaseDatabaseWrapper, key: str, timeout: int) -> int:
    """One INSERT ... ON CONFLICT DO UPDATE ... RETURNING on the cache's table: atomic, where
    Django's get and set are five statements, and its incr would reset the expiry to 300 s.

    The row's value is the count as text, not a pickle like the cache's other rows: only this
    module reads it. Rows of past windows go when a window starts (the expiry is indexed)."""
    table = connection.ops.quote_name(backend._table)  # type: ignore[attr-defined]
    now = timezone.now().replace(microsecond=0)
    expires = connection.ops.adapt_datetimefield_value(now + timedelta(seconds=timeout))
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {table} (cache_key, value, expires) VALUES (%s, '1', %s) "
            f"ON CONFLICT (cache_key) DO UPDATE SET value = CAST(CAST({table}.value AS INTEGER) + 1 AS TEXT) "
            "RETURNING value",
            [backend.make_and_validate_key(key), expires],
        )
        count = int(cursor.fetchone()[0])
        if count == 1:
            cursor.execute(
                f"DELETE FROM {table} WHERE cache_key LIKE %s AND expires < %s",
                [backend.make_key(f"{KEY_PREFIX}%"), connection.ops.adapt_datetimefield_value(now)],
            )
    return count


def _redis_client(backend: RedisCache, key: str | None = None) -> Redis:
    """The redis-py client Django's RedisCache holds (for MULTI/EXEC and SCAN)."""
    return backend._cache.get_client(key, write=True)  # type: ignore[attr-defined]


_warned_at = float("-inf")


def _warn_cache_away(scope: str) -> None:
    """Once a minute, not once a request."""
    global _warned_at
    if time.monotonic() - _warned_at > 60:
        _warned_at = time.monotonic()
        logger.warning("API throttle %s: Redis did not answer; requests are let through uncounted", scope)


def _hashed(text: str) -> str:
    """User names are typed by anyone: a fixed-length key of safe characters."""
    return hashlib.sha256(text.encode()).hexdigest()[:32]


class SharedRateThrottle(BaseThrottle):
    """Counts requests per scope and per ident (user, address, user name) in the shared
    cache; a request is allowed while every one of its idents is within the rate."""

    scope = ""

    def __init__(self) -> None:
        # Read at each request (throttles are made per request), so a changed setting counts.
        rates = api_settings.DEFAULT_THROTTLE_RATES
        if self.scope not in rates:
            raise ImproperlyConfigured(f"no API rate for the throttle scope {self.scope!r} (REST_FRAMEWORK)")
        self.num_requests, self.duration = rate_parse(str(rates[self.scope]))
        self.retry_after = 0.0

    def get_ident(self, request: Request) -> str:
        return client_ip(request) or "unknown"

    def idents(self, request: Request) -> Iterator[str]:
        """Each is counted as it comes: a later one may fail to be read (a bad body)."""
        raise NotImplementedError

    def allow_request(self, request: Request, view: APIView) -> bool:
        allowed = True
        for ident in self.idents(request):
            count, window_left = self._count(ident)
            if count > self.num_requests:
                allowed = False
                self.retry_after = max(self.retry_after, window_left)
        return allowed

    def wait(self) -> float | None:
        return math.ceil(self.retry_after) if self.retry_after else None

    def _count(self, ident: str) -> tuple[int, float]:
        """This request's number in its window, and the seconds left in the window."""
        now = time.time()
        window = int(now // self.duration)
        left = (window + 1) * self.duration - now
        key = f"{KEY_PREFIX}{self.scope}:{ident}:{window}"
        try:
            return counter_increment(key, timeout=math.ceil(left) + 1), left  # it goes with its window
        except RedisError:
            # Redis is away: serve rather than refuse everyone. The sign-in lock-out, in the
            # database, still counts failed passwords.
            _warn_cache_away(self.scope)
            return 0, left


class ClientUserRateThrottle(SharedRateThrottle):
    """Every API call (the default throttle): per user when signed in, otherwise per client
    address."""

    scope = "user"

    def idents(self, request: Request) -> Iterator[str]:
        user = request.user
        if user is not None and user.is_authenticated:
            yield f"user:{user.pk}"
        else:
            yield f"ip:{self.get_ident(request)}"


class UserAndAddressThrottle(SharedRateThrottle):
    """Per user AND per address: one account cannot go faster from many addresses, and one
    address cannot go faster through many accounts (or tokens)."""

    def idents(self, request: Request) -> Iterator[str]:
        yield f"ip:{self.get_ident(request)}"
        user = request.user
        if user is not None and user.is_authenticated:
            yield f"user:{user.pk}"


class SearchThrottle(UserAndAddressThrottle):
    """GET /api/events/search/: full-text search is the API's heaviest read."""

    scope = "search"


class ExportThrottle(UserAndAddressThrottle):
    """GET /api/events/export/: a whole filtered list at once, as CSV or JSON."""

    scope = "export"


class AuthThrottle(SharedRateThrottle):
    """POST /api/tokens/ (user name and password for a token): per address and per user
    name, whatever the answer. The sign-in lock-out counts the failures besides."""

    scope = "auth"

    def idents(self, request: Request) -> Iterator[str]:
        # The address first: it is counted even when the body cannot be read (400/415).
        yield f"ip:{self.get_ident(request)}"
        data = request.data
        username = data.get("username") if hasattr(data, "get") else None
        if isinstance(username, str) and username:
            # Imported here: DRF loads the throttles with its views, perhaps before the models.
            from homesec.core.services import login_failure_username

            # As the lock-out counts it: "viewer " and full-width letters are "viewer".
            yield f"name:{_hashed(login_failure_username(username))}"

    def allow_request(self, request: Request, view: APIView) -> bool:
        if request.method != "POST":  # only signing in is throttled so tightly
            return True
        return super().allow_request(request, view)


def throttle_counters_clear() -> int:
    """Forget every API rate count (the shared cache keeps its other keys): for tests, and
    for a household that locked itself out. Returns how many counters went."""
    backend = caches["default"]
    if isinstance(backend, RedisCache):
        client = _redis_client(backend)
        keys = list(client.scan_iter(match=backend.make_key(f"{KEY_PREFIX}*"), count=1000))
        return int(client.delete(*keys)) if keys else 0
    if isinstance(backend, DatabaseCache):
        connection = connections[router.db_for_write(backend.cache_model_class)]
        table = connection.ops.quote_name(backend._table)  # type: ignore[attr-defined]
        with connection.cursor() as cursor:
            cursor.execute(f"DELETE FROM {table} WHERE cache_key LIKE %s", [backend.make_key(f"{KEY_PREFIX}%")])
            return cursor.rowcount
    backend.clear()  # a cache of this process alone (a test's locmem)
    return 0
