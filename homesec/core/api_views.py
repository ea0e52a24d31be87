"""The API's own endpoints: its root, who am I, tokens, the Swagger UI, and the problem
answers for /api/ URLs that no API view has (the catch-all, handler404, handler500)."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.contrib.auth.views import redirect_to_login
from django.http import HttpRequest, HttpResponse, HttpResponseBase
from django.urls import Resolver404, resolve
from django.views import defaults
from drf_spectacular.utils import OpenApiResponse, extend_schema, inline_serializer
from drf_spectacular.views import SpectacularSwaggerView
from rest_framework import exceptions, permissions, serializers, status
from rest_framework.decorators import api_view
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.reverse import reverse
from rest_framework.views import APIView

from homesec.core.api import SERVER_ERROR_DETAIL, is_api_path, problem_response
from homesec.core.auth import user_role
from homesec.core.models import ApiToken
from homesec.core.net import client_ip
from homesec.core.services import SignInFailed, SignInLockedOut, api_token_revoke, api_token_sign_in
from homesec.core.throttling import AuthThrottle, ClientUserRateThrottle


@extend_schema(
    responses=inline_serializer(
        "ApiRoot",
        {
            "me": serializers.URLField(),
            "tokens": serializers.URLField(),
            "schema": serializers.URLField(),
            "docs": serializers.URLField(),
        },
    )
)
@api_view(["GET"])
def api_root(request: Request) -> Response:
    return Response({name: reverse(f"api-{name}", request=request) for name in ("me", "tokens", "schema", "docs")})


@extend_schema(
    responses=inline_serializer("Me", {"username": serializers.CharField(), "role": serializers.CharField()})
)
@api_view(["GET"])
def api_me(request: Request) -> Response:
    user = request.user
    return Response({"username": user.get_username(), "role": user_role(user)})


# --- Tokens ------------------------------------------------------------------------------------


class TokenCreateSerializer(serializers.Serializer):
    username = serializers.CharField(max_length=150, trim_whitespace=False)
    password = serializers.CharField(trim_whitespace=False, style={"input_type": "password"}, write_only=True)
    name = serializers.CharField(
        max_length=100,  # ApiToken.name's
        help_text='What the token is for, to tell tokens apart: the device, e.g. "Anna\'s phone".',
    )


class TokenCreatedSerializer(serializers.Serializer):
    token = serializers.CharField(help_text="The key: shown this once, never again (only its hash is kept).")
    name = serializers.CharField()
    created = serializers.DateTimeField()


class TokenCreateView(APIView):
    """POST /api/tokens/: a user name and password for a token (the one anonymous call).

    Throttled per address and per user name (`auth`), and counted by the login page's
    lock-out: a token is as good as a password."""

    authentication_classes: list[Any] = []  # anyone; a session here would only bring CSRF into it
    permission_classes = [permissions.AllowAny]
    throttle_classes = [AuthThrottle]

    @extend_schema(
        operation_id="tokens_create",
        request=TokenCreateSerializer,
        responses={
            201: TokenCreatedSerializer,
            401: OpenApiResponse(description="Wrong user name or password."),
            429: OpenApiResponse(description="Too many tries: from this address, for this name, or locked out."),
        },
        auth=[],
    )
    def post(self, request: Request) -> Response:
        given = TokenCreateSerializer(data=request.data)
        given.is_valid(raise_exception=True)
        try:
            token, key = api_token_sign_in(
                username=given.validated_data["username"],
                password=given.validated_data["password"],
                name=given.validated_data["name"],
                ip=client_ip(request),
                request=request._request,
            )
        except SignInLockedOut:
            raise exceptions.Throttled(
                wait=settings.LOGIN_LOCKOUT_S,
                detail="Too many failed sign-ins for this user name or from this address; try again later.",
            ) from None
        except SignInFailed:
            raise exceptions.AuthenticationFailed("Wrong user name or password.") from None
        return Response(
            TokenCreatedSerializer({"token": key, "name": token.name, "created": token.created_at}).data,
            status=status.HTTP_201_CREATED,
        )

    def get_authenticate_header(self, request: Request) -> str:
        # With no authentication classes DRF would turn the 401 into a 403.
        return 'Bearer realm="homesec"'


class TokenCurrentView(APIView):
    """DELETE /api/tokens/current/: revoke the token this request came with (sign out)."""

    permission_classes = [permissions.IsAuthenticated]  # viewers too: it is their own token
    throttle_classes = [ClientUserRateThrottle]

    @extend_schema(operation_id="tokens_current_revoke", request=None, responses={204: None})
    def delete(self, request: Request) -> Response:
        if not isinstance(request.auth, ApiToken):
            raise exceptions.ValidationError(
                "This request was not made with an API token, so there is no token to revoke; "
                "a browser signs out at /accounts/logout/."
            )
        api_token_revoke(token=request.auth)
        return Response(status=status.HTTP_204_NO_CONTENT)


# --- Swagger UI --------------------------------------------------------------------------------


class ApiDocsView(SpectacularSwaggerView):
    """GET /api/docs/: Swagger UI from our own static files (drf-spectacular-sidecar), for
    anyone signed in. A browser that is not signed in goes to the login page and back."""

    def perform_content_negotiation(self, request: Request, force: bool = False) -> Any:
        # The page is HTML only: a client asking for JSON still learns first that it must
        # sign in (a 401 problem), not that there is no JSON here (406).
        return super().perform_content_negotiation(request, force=True)

    def handle_exception(self, exc: Exception) -> HttpResponseBase:  # type: ignore[override]
        if not isinstance(exc, (exceptions.NotAuthenticated, exceptions.AuthenticationFailed)):
            return super().handle_exception(exc)
        if "text/html" in self.request.headers.get("accept", ""):
            return redirect_to_login(self.request.get_full_path())
        response = problem_response(401, str(exc.detail))
        response["WWW-Authenticate"] = 'Bearer realm="homesec"'
        return response


# --- /api/ URLs that no API view answers -------------------------------------------------------


class ApiNotFoundView(APIView):
    """The last /api/ route (homesec/urls.py): a problem, not Django's HTML page. Signed in
    first, like every API call: whoever is not learns nothing of which URLs exist."""

    permission_classes = [permissions.IsAuthenticated]
    schema = None  # not an operation

    def initial(self, request: Request, *args: Any, **kwargs: Any) -> None:
        super().initial(request, *args, **kwargs)  # authentication, permission, throttles
        detail = "No such API endpoint."
        with_slash = request.path_info + "/"
        if not request.path_info.endswith("/") and _answered_by_an_api_view(with_slash):
            detail += f" Did you mean {with_slash}?"
        raise exceptions.NotFound(detail)  # before any handler: every method, OPTIONS too


def _answered_by_an_api_view(path: str) -> bool:
    try:
        match = resolve(path)
    except Resolver404:
        return False
    return getattr(match.func, "view_class", None) is not ApiNotFoundView


def handler404(request: HttpRequest, exception: Exception) -> HttpResponse:
    """Django's 404 (a view outside DRF raised Http404): a problem under /api/."""
    if is_api_path(request):
        return problem_response(404, "Not found.")
    return defaults.page_not_found(request, exception)


def handler500(request: HttpRequest) -> HttpResponseBase:
    """Django's 500 (an exception outside DRF, or in a middleware): a problem under /api/,
    saying nothing of the exception."""
    if is_api_path(request):
        return problem_response(500, SERVER_ERROR_DETAIL)
    return defaults.server_error(request)
