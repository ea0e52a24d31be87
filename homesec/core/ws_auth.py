"""WebSocket authentication: the browser's session, or an API token for other clients.

A session cookie is ambient, so a session-authenticated socket must come from one of our
own origins (the WebSocket equivalent of CSRF). A token is never ambient: no origin check.

Our origins, each compared exactly (scheme, host and port, with 80/443 filled in):
* the origin the socket itself came to: its Host header (a host in ALLOWED_HOSTS) with the
  scheme it came over, as our trusted proxy reports it when there is one;
* HOMESEC_PUBLIC_URL's origin;
* each of HOMESEC_CSRF_TRUSTED_ORIGINS.
ALLOWED_HOSTS=* allows every Host, but never every origin: an origin must still be one of these.

The middleware records which credentials let the socket in, so the consumer can check them
again while the socket is open (credentials_valid).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, MutableMapping
from importlib import import_module
from typing import Any
from urllib.parse import parse_qs, urlsplit

from channels.auth import AuthMiddlewareStack
from channels.db import database_sync_to_async
from django.conf import settings
from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY, load_backend
from django.contrib.auth.base_user import AbstractBaseUser
from django.contrib.auth.models import AnonymousUser
from django.http.request import split_domain_port, validate_host
from django.utils.crypto import constant_time_compare

from homesec.core.auth import token_from_header, user_for_token
from homesec.core.net import forwarded_scheme
from homesec.core.selectors import api_token_get_active

DEFAULT_PORTS = {"http": 80, "https": 443}
CREDENTIALS = "homesec.credentials"  # scope key: ("token", key) or ("session", session key)

# ASGI: the connection's scope, and the app called with it.
Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]
AsgiApp = Callable[[Scope, Receive, Send], Awaitable[None]]


def _headers(scope: Scope) -> dict[str, str]:
    return {k.decode("latin1").lower(): v.decode("latin1") for k, v in scope.get("headers", [])}


def origin_of(url: str) -> tuple[str, str, int] | None:
    """(scheme, host, port) of an http(s) URL, default ports filled in; None if it is none."""
    try:
        parts = urlsplit(url.strip())
        scheme = parts.scheme.lower()
        if scheme not in DEFAULT_PORTS or not parts.hostname:
            return None
        return scheme, parts.hostname.lower(), parts.port or DEFAULT_PORTS[scheme]
    except ValueError:  # a port that is not a number, or out of range
        return None


def _own_origin(scope: Scope, headers: dict[str, str]) -> tuple[str, str, int] | None:
    host = headers.get("host", "")
    domain, _ = split_domain_port(host)
    if not domain or not validate_host(domain, settings.ALLOWED_HOSTS):
        return None
    # daphne leaves "scheme" out of a WebSocket scope; with our certificate it serves TLS only.
    secure = scope.get("scheme") == "wss" or bool(settings.TLS_CERT)
    scheme = forwarded_scheme(scope) or ("https" if secure else "http")
    return origin_of(f"{scheme}://{host}")


def origin_allowed(scope: Scope, origin: str | None) -> bool:
    if not origin:
        return False
    theirs = origin_of(origin)
    if theirs is None:
        return False
    ours = [_own_origin(scope, _headers(scope)), origin_of(settings.PUBLIC_URL)]
    ours += [origin_of(trusted) for trusted in settings.CSRF_TRUSTED_ORIGINS]
    return theirs in ours


class TokenOrSessionAuthMiddleware:
    def __init__(self, inner: AsgiApp) -> None:
        self.inner = inner

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        headers = _headers(scope)
        key = token_from_header(headers.get("authorization", ""))
        if key is None:
            key = (parse_qs(scope.get("query_string", b"").decode()).get("token") or [None])[0]
        if key:
            user = await database_sync_to_async(user_for_token)(key)
            scope = {**scope, "user": user or AnonymousUser(), CREDENTIALS: ("token", key)}
        elif scope.get("user") is not None and scope["user"].is_authenticated:
            if origin_allowed(scope, headers.get("origin")):
                scope = {**scope, CREDENTIALS: ("session", scope["session"].session_key)}
            else:
                scope = {**scope, "user": AnonymousUser()}
        return await self.inner(scope, receive, send)


def credentials_valid(scope: Scope) -> bool:
    """Do the credentials this socket opened with still sign in its user? False once the
    token is revoked or its user deactivated, or the session is gone (signed out, expired)
    or no longer verifies for that user (e.g. the password changed)."""
    user = scope.get("user")
    kind, value = scope.get(CREDENTIALS) or (None, None)
    if user is None or not user.is_authenticated or not value:
        return False
    if kind == "token":
        token = api_token_get_active(key=value)
        return token is not None and token.user_id == user.pk
    if kind == "session":
        return _session_signs_in(value, user)
    return False


def _session_signs_in(session_key: str, user: AbstractBaseUser) -> bool:
    """A fresh read of the session row, verified as django.contrib.auth.get_user verifies
    each HTTP request, but read-only: get_user may flush or re-key the session, and this
    runs beside the browser that owns it."""
    store = import_module(settings.SESSION_ENGINE).SessionStore(session_key=session_key)
    backend_path = store.get(BACKEND_SESSION_KEY)
    if str(store.get(SESSION_KEY)) != str(user.pk) or backend_path not in settings.AUTHENTICATION_BACKENDS:
        return False
    current = load_backend(backend_path).get_user(user.pk)  # None once deactivated
    session_hash = store.get(HASH_SESSION_KEY)
    if current is None or not session_hash:
        return False
    hashes = [current.get_session_auth_hash(), *current.get_session_auth_fallback_hash()]
    return any(constant_time_compare(session_hash, known) for known in hashes)


def websocket_auth(inner: AsgiApp) -> AsgiApp:
    return AuthMiddlewareStack(TokenOrSessionAuthMiddleware(inner))
