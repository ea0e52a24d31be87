"""Who may do what: roles, API-token authentication and the API permission."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import TYPE_CHECKING, Any

from django.contrib.auth.base_user import AbstractBaseUser
from django.contrib.auth.models import AnonymousUser, PermissionsMixin
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest
from django.http.response import HttpResponseBase
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework import authentication, exceptions, permissions

from homesec.core.models import ApiToken
from homesec.core.selectors import api_token_get_active
from homesec.core.services import api_token_touch

if TYPE_CHECKING:  # DRF's views import the authentication classes: only for the types
    from drf_spectacular.openapi import AutoSchema
    from rest_framework.request import Request
    from rest_framework.views import APIView

ADMIN, VIEWER = "admin", "viewer"


def user_role(user: AbstractBaseUser | AnonymousUser | None) -> str | None:
    """`admin` changes things, `viewer` reads; anonymous users have no role. The group
    lookup is kept on the user object: a request asks several times (the page's context,
    its view, a permission) and its user is loaded afresh for each request."""
    if user is None or not user.is_authenticated or not user.is_active:
        return None
    if not isinstance(user, PermissionsMixin):  # roles are groups: a user model without them has none
        return None
    if user.is_superuser:
        return ADMIN
    role: str | None = getattr(user, "_homesec_role", None)
    if role is None:
        role = ADMIN if user.groups.filter(name=ADMIN).exists() else VIEWER
        user._homesec_role = role  # type: ignore[attr-defined]
    return role


def admin_required(view: Callable[..., HttpResponseBase]) -> Callable[..., HttpResponseBase]:
    """Pages that change configuration: a viewer gets 403 (and sees no control for it)."""

    @wraps(view)
    def checked(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
        if user_role(request.user) != ADMIN:
            raise PermissionDenied("Only an admin may change the configuration.")
        return view(request, *args, **kwargs)

    return checked


def token_from_header(value: str) -> str | None:
    """Accept `Authorization: Bearer <key>` and DRF's `Token <key>`."""
    parts = value.split()
    if len(parts) == 2 and parts[0].lower() in ("bearer", "token"):
        return parts[1]
    return None


def token_for_key(key: str) -> ApiToken | None:
    """The active token of this key (its use recorded), or None."""
    token = api_token_get_active(key=key)
    if token is not None:
        api_token_touch(token=token)
    return token


def user_for_token(key: str) -> AbstractBaseUser | None:
    token = token_for_key(key)
    return token.user if token is not None else None


class ApiTokenAuthentication(authentication.BaseAuthentication):
    """`request.auth` is the ApiToken the request came with (DELETE /api/tokens/current/
    revokes it); a session-authenticated request has none."""

    def authenticate(self, request: Request) -> tuple[AbstractBaseUser, ApiToken] | None:
        header = request.META.get("HTTP_AUTHORIZATION", "")
        if not header:
            return None
        key = token_from_header(header)
        if key is None:
            return None
        token = token_for_key(key)
        if token is None:
            raise exceptions.AuthenticationFailed("Invalid or revoked API token.")
        return (token.user, token)

    def authenticate_header(self, request: Request) -> str:
        # Makes DRF answer 401 (not 403) to anonymous API calls.
        return 'Bearer realm="homesec"'


class IsAdminRoleOrReadOnly(permissions.BasePermission):
    """Signed-in users read; only admins write."""

    message = "Only admins may change things."

    def has_permission(self, request: Request, view: APIView) -> bool:
        role = user_role(request.user)
        if role is None:
            return False
        return request.method in permissions.SAFE_METHODS or role == ADMIN


class ApiTokenScheme(OpenApiAuthenticationExtension):
    """Describes the token scheme in the OpenAPI schema."""

    target_class = ApiTokenAuthentication
    name = "apiToken"

    def get_security_definition(self, auto_schema: AutoSchema) -> dict[str, Any]:
        return {
            "type": "http",
            "scheme": "bearer",
            "description": "A key from POST /api/tokens/ (or manage.py create_api_token USER)",
        }


class IsMember(permissions.BasePermission):
    """Any signed-in member of the household, viewer or admin: for what the household does
    with what it sees (review, acknowledge, dismiss, snooze), which is not configuration."""

    message = "Sign in as a member of the household."

    def has_permission(self, request: Request, view: APIView) -> bool:
        return user_role(request.user) is not None


class IsAdminRole(permissions.BasePermission):
    """Admins only, reading too: what names addresses, hosts and secrets (channels)."""

    message = "Only admins may see or change this."

    def has_permission(self, request: Request, view: APIView) -> bool:
        return user_role(request.user) == ADMIN


def signed_in_user(request: HttpRequest) -> AbstractBaseUser | None:
    """Who did it, for the record: the request's user, None when nobody is signed in."""
    return request.user if isinstance(request.user, AbstractBaseUser) else None
