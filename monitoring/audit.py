"""The audit log's one write: `audit_record`. Services call it in the transaction of the
change they record, so an entry exists exactly when the change does."""

from __future__ import annotations

import ipaddress
from typing import Any

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.http import HttpRequest

from homesec.core.middleware import request_current
from homesec.core.net import client_ip
from monitoring.models import AuditEntry


def audit_record(
    *,
    action: str,
    actor: AbstractBaseUser | AnonymousUser | None = None,
    actor_name: str = "",
    target: str = "",
    detail: dict[str, Any] | None = None,
    request: HttpRequest | None = None,
    source: str | None = None,
) -> AuditEntry:
    """Append one entry. `actor` is the signed-in user (None or anonymous: `actor_name`
    says who, e.g. the name typed at a failed sign-in, or "system"); `request` gives the
    user and the source address (by default the request being answered, if any). `detail` must hold no secret:
    callers pass what changed, with secret fields named but not their values."""
    if request is None:
        request = request_current()  # a change made while answering a request: its user and address
    if request is not None:
        actor = actor if actor is not None else getattr(request, "user", None)
        source = source or client_ip(request)
    if source is not None:
        try:
            source = str(ipaddress.ip_address(source))
        except ValueError:
            source = None  # not an address (a Unix socket's peer): the column holds addresses only
    user = actor if actor is not None and actor.is_authenticated else None
    if user is None and request is None and not actor_name:
        actor_name = "system"  # a command, a schedule, a task: nobody signed in asked for it
    return AuditEntry.objects.create(
        actor=user,  # type: ignore[misc]  # AUTH_USER_MODEL is User; the parameter takes any user
        actor_name=(user.get_username() if user is not None else actor_name)[:150],
        action=action,
        target=target[:200],
        detail=detail or {},
        source=source,
    )


# --- Receivers (connected in monitoring/apps.py) ---------------------------------------------------


def audit_received(sender: Any, signal: Any, **fields: Any) -> None:
    """homesec.core, which imports no app, asks for an entry by a signal (homesec.core.audit)."""
    audit_record(**fields)


def audit_signed_in(sender: Any, request: HttpRequest, user: AbstractBaseUser, **kwargs: Any) -> None:
    audit_record(action="sign_in", actor=user, request=request)


def audit_signed_out(sender: Any, request: HttpRequest, user: AbstractBaseUser | None, **kwargs: Any) -> None:
    if user is not None:  # signing out when not signed in changes nothing
        audit_record(action="sign_out", actor=user, request=request)


def audit_sign_in_failed(
    sender: Any, credentials: dict[str, Any], request: HttpRequest | None = None, **kwargs: Any
) -> None:
    """The name as typed and where from (the password is never in `credentials`: Django
    masks it). A refusal during a lock-out asks nobody's password and is not recorded: an
    attacker hammering away would otherwise fill the log."""
    typed = str(credentials.get("username") or "")
    detail = {"path": request.path} if request is not None else {}
    audit_record(action="sign_in.failed", actor_name=typed or "(no name)", request=request, detail=detail)
