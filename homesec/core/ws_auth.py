"""WebSocket authentication: the browser's session, or an API token for other clients.

A session cookie is ambient, so a session-authenticated socket must come from one of our
own origins (the WebSocket equivalent of CSRF). A token is never ambient: no origin check.
"""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

from channels.auth import AuthMiddlewareStack
from channels.db import database_sync_to_async
from django.conf import settings
from django.contrib.auth.models import AnonymousUser
from django.http.request import validate_host

from homesec.core.auth import token_from_header, user_for_token


def _headers(scope) -> dict[str, str]:
    return {k.decode("latin1").lower(): v.decode("latin1") for k, v in scope.get("headers", [])}


def _origin_allowed(origin: str | None) -> bool:
    if not origin:
        return False
    host = urlsplit(origin).hostname or ""
    return validate_host(host, [h.strip("[]") for h in settings.ALLOWED_HOSTS])


class TokenOrSessionAuthMiddleware:
    def __init__(self, inner):
        self.inner = inner

    async def __call__(self, scope, receive, send):
        headers = _headers(scope)
        key = token_from_header(headers.get("authorization", ""))
        if key is None:
            key = (parse_qs(scope.get("query_string", b"").decode()).get("token") or [None])[0]
        if key:
            user = await database_sync_to_async(user_for_token)(key)
            scope = {**scope, "user": user or AnonymousUser()}
        elif scope.get("user") is not None and scope["user"].is_authenticated:
            if not _origin_allowed(headers.get("origin")):
                scope = {**scope, "user": AnonymousUser()}
        return await self.inner(scope, receive, send)


def websocket_auth(inner):
    return AuthMiddlewareStack(TokenOrSessionAuthMiddleware(inner))
