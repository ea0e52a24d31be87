"""Sign-in is required for every URL except a short, explicit list."""

from __future__ import annotations

from collections.abc import Callable

from django.conf import settings
from django.contrib.auth.views import redirect_to_login
from django.http import HttpRequest, HttpResponseBase, JsonResponse

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
