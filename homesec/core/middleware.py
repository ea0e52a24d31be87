"""Sign-in is required for every URL except a short, explicit list; every request has an id."""

from __future__ import annotations

import contextvars
import logging
import re
import uuid
from collections.abc import Callable

from django.conf import settings
from django.contrib.auth.views import redirect_to_login
from django.http import HttpRequest, HttpResponseBase, JsonResponse

from homesec.core.logging import log_context

# Anonymous callers may reach only these. The API is authenticated by DRF itself (token
# or session) with IsAuthenticated-style permissions on every view, and answers 401.
ANONYMOUS_PATHS = frozenset({"/health", "/ready", "/metrics", "/favicon.ico"})
# Snapshot links in notifications carry their own signed, expiring token (alerts/views.py).
ANONYMOUS_PREFIXES = ("/accounts/login/", "/api/", "/snapshots/")


class LoginRequiredEverywhereMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponseBase]) -> None:
        self.get_response = get_response
        self.static_prefix = settings.STATIC_URL

    def __call__(self, request: HttpRequest) -> HttpResponseBase:
        path = request.path_info
        if request.user.is_authenticated or path.startswith(self.static_prefix):
            return self.get_response(request)
        if path in ANONYMOUS_PATHS or path.startswith(ANONYMOUS_PREFIXES):
            return self.get_response(request)
        if request.headers.get("accept", "").startswith("application/json"):
            return JsonResponse(
                {"type": "about:blank", "title": "Not signed in", "status": 401, "detail": "Sign in first."},
                status=401,
                content_type="application/problem+json",
            )
        return redirect_to_login(request.get_full_path())


access_log = logging.getLogger("homesec.access")
# An id a proxy or client sent is kept only if it is short and plain: it goes into every log
# line of the request, and a made-up one must not break a line or forge a field.
_GIVEN_REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{1,64}")
_current_request: contextvars.ContextVar[HttpRequest | None] = contextvars.ContextVar(
    "homesec_current_request", default=None
)


def request_current() -> HttpRequest | None:
    """The request being answered, if any: services record who did a change and from where
    (the audit log) without every caller passing the request down."""
    return _current_request.get()


class RequestIdMiddleware:
    """Gives each request an id (the X-Request-ID it came with from a proxy, else a new
    one), puts it in every log line written while it is answered, and answers with it in
    X-Request-ID, so a user's report, the proxy's log and ours can be matched."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponseBase]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponseBase:
        given = request.headers.get("x-request-id", "")
        request_id = given if _GIVEN_REQUEST_ID.fullmatch(given) else uuid.uuid4().hex
        request.request_id = request_id  # type: ignore[attr-defined]  # Django's request loggers hand the request over
        token = _current_request.set(request)
        try:
            with log_context(request_id=request_id):
                response = self.get_response(request)
        finally:
            _current_request.reset(token)
        response["X-Request-ID"] = request_id
        if settings.ACCESS_LOG and settings.LOG_FORMAT == "json":
            # The path only: a query may carry a signed link's token.
            access_log.info(
                "%s %s %s", request.method, request.path, response.status_code, extra={"request_id": request_id}
            )
        return response
