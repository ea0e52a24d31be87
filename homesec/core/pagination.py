"""Keyset ("cursor") pagination for the API's long lists.

A page is the rows just past a position (the sort value and the id of the last row seen),
never an OFFSET: rows inserted while a client pages (new events arrive all the time) do
not shift what the next page holds, and page 2 000 costs what page 1 does. The cursor is
opaque to clients (base64 of JSON); `?count=true` adds the number of matching rows, which
costs a COUNT, so it is asked for, not given.
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from django.db.models import DateTimeField, F, Q, QuerySet
from django.db.models.functions import Coalesce
from django.utils.dateparse import parse_datetime
from rest_framework.exceptions import ValidationError
from rest_framework.pagination import BasePagination
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.utils.urls import remove_query_param, replace_query_param

SORT_KEY = "_sort"


@dataclass(frozen=True)
class Ordering:
    """One way a list may be ordered: a field, and what stands in for its NULLs."""

    field: str
    descending: bool
    null_as: Any = None

    def key(self) -> Any:
        return Coalesce(F(self.field), self.null_as) if self.null_as is not None else F(self.field)


def orderings(*fields: str, nulls: dict[str, Any] | None = None) -> dict[str, Ordering]:
    """`orderings("started_at", "risk_score", nulls={"risk_score": -1})`: each field both ways,
    the first one descending as the default."""
    nulls = nulls or {}
    found: dict[str, Ordering] = {}
    for name in fields:
        found[f"-{name}"] = Ordering(name, True, nulls.get(name))
        found[name] = Ordering(name, False, nulls.get(name))
    return found


def _encode(value: Any, pk: int, backwards: bool) -> str:
    raw = json.dumps([value.isoformat() if isinstance(value, datetime) else value, pk, backwards])
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


BIGINT_MAX = 2**63 - 1
NOT_OURS = "Not a cursor this API gave out."


def _decode(token: str, *, by_time: bool) -> tuple[Any, int, bool]:
    """The position a cursor holds, checked as far as the query needs: a sort value of the
    ordering's type (an aware time in UTC, or a whole number), an id PostgreSQL can compare.
    Anything else, garbled or made up, is the client's 400, never the database's error."""
    try:
        value, pk, backwards = json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
    except (ValueError, TypeError, binascii.Error) as exc:
        raise ValidationError({"cursor": NOT_OURS}) from exc
    if type(pk) is not int or not 0 <= pk <= BIGINT_MAX or not isinstance(backwards, bool):
        raise ValidationError({"cursor": NOT_OURS})
    if by_time:
        try:
            moment = parse_datetime(value) if isinstance(value, str) else None
            # In UTC: an offset PostgreSQL does not take (16 hours or more) would reach the query.
            value = moment.astimezone(UTC) if moment is not None and moment.tzinfo is not None else None
        except (ValueError, OverflowError):
            value = None
    elif type(value) is not int or not -BIGINT_MAX <= value <= BIGINT_MAX:
        value = None
    if value is None:
        raise ValidationError({"cursor": NOT_OURS})
    return value, pk, backwards


class KeysetPagination(BasePagination):
    """Views set `orderings` (see `orderings()`); `?ordering=` picks one, the first is the
    default. Ties are broken by id, in the same direction."""

    page_size = 50
    max_page_size = 500

    def __init__(self) -> None:
        self.next: str | None = None
        self.previous: str | None = None
        self.count: int | None = None

    def _ordering(self, request: Request, view: Any) -> Ordering:
        choices: dict[str, Ordering] = view.orderings
        wanted = request.query_params.get("ordering") or next(iter(choices))
        if wanted not in choices:
            raise ValidationError({"ordering": f"One of: {', '.join(choices)}."})
        return choices[wanted]

    def _size(self, request: Request) -> int:
        raw = request.query_params.get("page_size")
        if raw is None:
            return self.page_size
        # ASCII digits, a few at most: "²" is a digit to isdigit() and not to int(), and int()
        # refuses thousands of digits; either was a 500.
        size = int(raw) if raw.isascii() and raw.isdigit() and len(raw) <= 6 else 0
        if not 1 <= size <= self.max_page_size:
            raise ValidationError({"page_size": f"A whole number from 1 to {self.max_page_size}."})
        return size

    def paginate_queryset(self, queryset: QuerySet, request: Request, view: Any = None) -> list[Any]:
        ordering = self._ordering(request, view)
        size = self._size(request)
        if request.query_params.get("count") in ("1", "true", "yes"):
            self.count = queryset.count()
        token = request.query_params.get("cursor")
        by_time = isinstance(queryset.model._meta.get_field(ordering.field), DateTimeField)
        value, pk, backwards = _decode(token, by_time=by_time) if token else (None, 0, False)
        # Going backwards is going forwards in the opposite order, then turning the page over.
        descending = ordering.descending != backwards
        rows = queryset.annotate(**{SORT_KEY: ordering.key()})
        if token:
            past = "lt" if descending else "gt"
            rows = rows.filter(Q(**{f"{SORT_KEY}__{past}": value}) | Q(**{SORT_KEY: value, f"pk__{past}": pk}))
        sign = "-" if descending else ""
        page = list(rows.order_by(f"{sign}{SORT_KEY}", f"{sign}pk")[: size + 1])
        more = len(page) > size
        page = page[:size]
        if backwards:
            page.reverse()
        url = request.build_absolute_uri()
        if page:
            first, last = page[0], page[-1]
            has_next = more if not backwards else True
            has_previous = bool(token) if not backwards else more
            if has_next:
                self.next = replace_query_param(url, "cursor", _encode(getattr(last, SORT_KEY), last.pk, False))
            if has_previous:
                self.previous = replace_query_param(url, "cursor", _encode(getattr(first, SORT_KEY), first.pk, True))
        elif backwards:  # walked off the top: the first page
            self.next = remove_query_param(url, "cursor")
        return page

    def get_paginated_response(self, data: Any) -> Response:
        body: dict[str, Any] = {"next": self.next, "previous": self.previous}
        if self.count is not None:
            body["count"] = self.count
        body["results"] = data
        return Response(body)

    def get_paginated_response_schema(self, schema: dict[str, Any]) -> dict[str, Any]:
        return {
            "type": "object",
            "required": ["next", "previous", "results"],
            "properties": {
                "next": {"type": "string", "format": "uri", "nullable": True},
                "previous": {"type": "string", "format": "uri", "nullable": True},
                "count": {"type": "integer", "description": "With ?count=true: how many rows match."},
                "results": schema,
            },
        }

    def get_schema_operation_parameters(self, view: Any) -> list[dict[str, Any]]:
        choices = list(getattr(view, "orderings", {}))
        return [
            {
                "name": "cursor",
                "in": "query",
                "required": False,
                "schema": {"type": "string"},
                "description": "The `next` or `previous` link's cursor.",
            },
            {
                "name": "page_size",
                "in": "query",
                "required": False,
                "schema": {"type": "integer", "minimum": 1, "maximum": self.max_page_size, "default": self.page_size},
            },
            {
                "name": "count",
                "in": "query",
                "required": False,
                "schema": {"type": "boolean"},
                "description": "Add the number of matching rows (a COUNT: slower on big lists).",
            },
            {
                "name": "ordering",
                "in": "query",
                "required": False,
                "schema": {"type": "string", "enum": choices, "default": choices[0] if choices else None},
            },
        ]
