"""The audit log's one write: `audit_record`. Services call it in the transaction of the
change they record, so an entry exists exactly when the change does."""

from __future__ import annotations

import ipaddress
from typing import Any

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.http import HttpRequest

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
    user and the source address when the caller has one. `detail` must hold no secret:
    callers pass what changed, with secret fields named but not their values."""
    if request is not None:
        actor = actor if actor is not None else getattr(request, "user", None)
        source = source or client_ip(request)
    if source is not None:
        try:
            source = str(ipaddress.ip_address(source))
        except ValueError:
            source = None  # not an address (a Unix socket's peer): the column holds addresses only
    user = actor if actor is not None and actor.is_authenticated else None
    return AuditEntry.objects.create(
        actor=user,  # type: ignore[misc]  # AUTH_USER_MODEL is User; the parameter takes any user
        actor_name=(user.get_username() if user is not None else actor_name)[:150],
        action=action,
        target=target[:200],
        detail=detail or {},
        source=source,
    )
