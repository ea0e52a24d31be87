"""Writes for the shared infrastructure rows (tokens, sign-in failures, heartbeats, admin)."""

from __future__ import annotations

import hashlib
import os
import secrets
import socket
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from django.contrib.auth import authenticate, get_user_model
from django.contrib.auth.base_user import AbstractBaseUser
from django.contrib.auth.models import AbstractUser, Group, Permission
from django.contrib.auth.password_validation import validate_password
from django.db import transaction
from django.http import HttpRequest
from django.utils import timezone

from homesec.core.audit import audit, audit_target
from homesec.core.models import ApiToken, Heartbeat, LoginFailure

if TYPE_CHECKING:
    from django.contrib.auth.models import User  # AUTH_USER_MODEL: what ApiToken.user holds

TOKEN_PREFIX = "hs_"
ROLE_GROUPS = ("admin", "viewer")
# The apps whose permissions the roles hand out. Not auth (a user who may change users can
# make themselves a superuser) and not django_q (its pages resubmit any task): superusers'.
HOMESEC_APPS = ("core", "cameras", "detections", "events", "alerts", "monitoring")


def role_groups_sync(
    *, group_model: type[Group] | None = None, permission_model: type[Permission] | None = None
) -> None:
    """The admin group holds every homesec permission, the viewer group only the view ones.
    Run by a data migration and after every migrate (new models bring new permissions);
    the migration passes its historical models."""
    group_model = group_model or Group
    permission_model = permission_model or Permission
    ours = permission_model.objects.filter(content_type__app_label__in=HOMESEC_APPS)
    admin_group = group_model.objects.get_or_create(name="admin")[0]
    viewer_group = group_model.objects.get_or_create(name="viewer")[0]
    admin_group.permissions.set(ours)
    viewer_group.permissions.set(ours.filter(codename__startswith="view_"))


def token_hash(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def api_token_create(*, user: User, name: str = "api", by: AbstractBaseUser | None = None) -> tuple[ApiToken, str]:
    """Make a token and return it with its key; the key is shown once and never stored."""
    token = ApiToken(user=user, name=name)
    return token, api_token_issue(token=token, by=by)


def api_token_issue(*, token: ApiToken, by: AbstractBaseUser | None = None) -> str:
    """Give an unsaved token a fresh key, save it, and return the key. `by`: who asked, for
    the audit log, when not the signed-in user (a sign-in for a token is anonymous until it)."""
    key = TOKEN_PREFIX + secrets.token_urlsafe(32)
    token.prefix, token.key_hash = key[:10], token_hash(key)
    with transaction.atomic():
        token.save()
        detail = {"user": token.user.get_username(), "name": token.name, "prefix": token.prefix}
        audit(action="apitoken.create", target=audit_target(token), detail=detail, actor=by)
    return key


class SignInLockedOut(Exception):
    """This user name or address failed to sign in too often lately (the lock-out)."""


class SignInFailed(Exception):
    """The user name and password sign nobody in."""


def api_token_sign_in(
    *, username: str, password: str, name: str, ip: str | None, request: HttpRequest | None = None
) -> tuple[ApiToken, str]:
    """A token (and its key, shown once) for whoever the user name and password sign in.

    The lock-out counts as on the login page, because a token is the same way in: a locked
    out name or address is refused even with the right password (SignInLockedOut), a wrong
    password is a failure (SignInFailed), a right one clears this name's failures from here.
    The name is cleaned as the login form cleans it, so both sign the same people in."""
    from homesec.core.selectors import login_locked_out  # it imports this module

    if login_locked_out(username=username, ip=ip):
        raise SignInLockedOut
    user = authenticate(request, username=login_failure_username(username), password=password)
    if user is None:
        login_failure_record(username=username, ip=ip)
        raise SignInFailed
    login_failures_clear(username=user.get_username(), ip=ip)
    return api_token_create(user=user, name=name, by=user)


def api_token_revoke(*, token: ApiToken) -> None:
    if token.revoked_at is None:
        token.revoked_at = timezone.now()
        with transaction.atomic():
            token.save(update_fields=["revoked_at"])
            audit(action="apitoken.revoke", target=audit_target(token), detail={"user": token.user.get_username()})


def api_token_touch(*, token: ApiToken) -> None:
    """Record use at most once a minute, so reads do not turn into a write per request."""
    now = timezone.now()
    if token.last_used_at is None or now - token.last_used_at > timedelta(minutes=1):
        ApiToken.objects.filter(pk=token.pk).update(last_used_at=now)


def login_failure_username(raw: str) -> str:
    """The name a failed sign-in counts against, cleaned by the sign-in form's own field
    (whitespace stripped, NFKC): "viewer " and "\uff56iewer" sign in as viewer, so they
    must count, and be refused, as viewer too."""
    from django.contrib.auth.forms import AuthenticationForm

    cleaned: str = AuthenticationForm().fields["username"].to_python(raw) or ""
    return cleaned[:150]


def login_failure_record(*, username: str, ip: str | None) -> None:
    LoginFailure.objects.create(username=login_failure_username(username), ip=ip)
    # Keep the table small: rows older than a day no longer matter to any lock-out.
    LoginFailure.objects.filter(at__lt=timezone.now() - timedelta(days=1)).delete()


def login_failures_clear(*, username: str, ip: str | None) -> None:
    LoginFailure.objects.filter(username=login_failure_username(username), ip=ip).delete()


def user_set_role(*, user: AbstractUser, role: str) -> None:
    if role not in ROLE_GROUPS:
        raise ValueError(f"unknown role {role!r}; roles are {', '.join(ROLE_GROUPS)}")
    with transaction.atomic():
        groups = {name: Group.objects.get_or_create(name=name)[0] for name in ROLE_GROUPS}
        user.groups.remove(*groups.values())
        user.groups.add(groups[role])
        # Admins change things, and the Django admin is where they do it.
        user.is_staff = role == "admin"
        user.save(update_fields=["is_staff"])


def admin_ensure(*, username: str, password: str | None) -> tuple[AbstractUser, str | None]:
    """Make sure an admin exists. Returns (user, password to print) — the password only
    when one was generated, so it is shown exactly once. A given password must pass the
    password validators (ValidationError with their messages): the environment is no way
    around the rules the console applies."""
    user_model = get_user_model()
    if password:
        validate_password(password, user=user_model(username=username))
    named = user_model.objects.filter(username=username, is_superuser=True).first()
    if named is not None and password and not named.check_password(password):
        named.set_password(password)  # the documented way back in after a lost password
        named.save(update_fields=["password"])
    existing = named or user_model.objects.filter(is_superuser=True).order_by("pk").first()
    if existing is not None:
        return existing, None
    generated = None
    if not password:
        generated = password = secrets.token_urlsafe(12)
    user = user_model.objects.filter(username=username).first()
    if user is None:
        user = user_model.objects.create_superuser(username=username, email="", password=password)
    else:  # the named account exists but is no admin, and there is no admin at all
        user.is_superuser = True
        user.set_password(password)
        user.save(update_fields=["is_superuser", "password"])
    user_set_role(user=user, role="admin")
    return user, generated


def heartbeat_name(role: str) -> str:
    return f"{role}@{socket.gethostname()}:{os.getpid()}"


def heartbeat_beat(*, role: str, name: str, started_at: datetime, problem: str = "") -> None:
    now = timezone.now()
    updated = Heartbeat.objects.filter(name=name).update(beat_at=now, problem=problem[:500])
    if not updated:
        Heartbeat.objects.update_or_create(
            name=name,
            defaults={
                "role": role,
                "hostname": socket.gethostname(),
                "pid": os.getpid(),
                "started_at": started_at,
                "beat_at": now,
                "problem": problem[:500],
            },
        )
        # A new process: forget rows of processes that have been silent for a day.
        Heartbeat.objects.filter(beat_at__lt=now - timedelta(days=1)).delete()
