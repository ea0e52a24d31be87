"""Recording a change in the audit log from any app.

The log itself is monitoring's (monitoring/audit.py: audit_record); homesec.core imports no
app, so it sends `audited` and monitoring writes the entry. Receivers run at once, in the
sender's transaction: an entry exists exactly when the change does.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any

from django.core.serializers.json import DjangoJSONEncoder
from django.db.models import Model, QuerySet
from django.dispatch import Signal

# Sent with audit_record's keyword arguments (action, target, detail, actor, request...).
audited = Signal()


def audit(*, action: str, target: str = "", detail: dict[str, Any] | None = None, **fields: Any) -> None:
    """One entry: `action` done to `target`, `detail` what changed (never a secret's value).
    Who and from where: the request being answered, else "system"; or `actor`/`request`."""
    audited.send(sender=None, action=action, target=target, detail=detail or {}, **fields)


def audit_plain(value: Any) -> Any:
    """A value as the detail's JSON holds it: a row by its key, several rows by their keys."""
    if isinstance(value, Model):
        return value.pk
    if isinstance(value, QuerySet | list | tuple | set) and all(isinstance(item, Model) for item in value):
        return [item.pk for item in value]
    return json.loads(json.dumps(value, cls=DjangoJSONEncoder, default=str))


def audit_target(obj: Model) -> str:
    """`camera porch (Porch)`: the kind of row, its key and its name as it was then."""
    name = obj._meta.model_name
    return f"{name} {obj.pk} ({obj})"[:200] if obj.pk is not None else f"{name} ({obj})"[:200]


def secret_changes(before: Mapping[str, Any], after: Mapping[str, Any]) -> dict[str, str]:
    """Which secrets were set, changed or cleared, by their names: never a value."""
    changes = {}
    for name in sorted(set(before) | set(after)):
        old, new = before.get(name), after.get(name)
        if old != new:
            changes[name] = "cleared" if not new else "changed" if old else "set"
    return changes


def audit_diff(before: Model | None, after: Model, *, secret: Iterable[str] = ()) -> dict[str, Any]:
    """The fields of `after` whose values differ from `before` (all of them for a new row),
    with their new values; `secret` fields (JSON of named secrets) by the names only. Times
    a save stamps by itself (auto_now) are no change anyone made."""
    hidden = set(secret)
    changes: dict[str, Any] = {}
    for field in after._meta.concrete_fields:
        if field.primary_key or getattr(field, "auto_now", False) or getattr(field, "auto_now_add", False):
            continue
        new = field.value_from_object(after)
        old = field.value_from_object(before) if before is not None else None
        if before is not None and old == new:
            continue
        if field.name in hidden:
            changes.update(secret_changes(old or {}, new or {}))
        else:
            changes[field.name] = audit_plain(new)
    return changes


def audit_saved(obj: Model, before: Model | None, *, secret: Iterable[str] = ()) -> None:
    """`<model>.create` or `<model>.change` with what changed; nothing when nothing did.
    `before`: the row as it was in the database (None: `obj` is new)."""
    detail = audit_diff(before, obj, secret=secret)
    if before is not None and not detail:
        return
    verb = "change" if before is not None else "create"
    audit(action=f"{obj._meta.model_name}.{verb}", target=audit_target(obj), detail=detail)


def audit_deleted(obj: Model, *, target: str = "") -> None:
    """`<model>.delete`; `target` when taken before the delete (the row loses its key)."""
    audit(action=f"{obj._meta.model_name}.delete", target=target or audit_target(obj))
