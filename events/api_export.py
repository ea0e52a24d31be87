"""The export of events in the API.

It streams: an async generator reads the events in keyset batches and sends each batch as
it comes, so 100 k events cost the memory of one batch. (Django's sync streaming would
read the whole body into memory under ASGI before the first byte.) Each batch is read in
the thread the process keeps for sync code, with that thread's database connection, as
every other read is."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import AsyncIterator, Iterable
from datetime import datetime
from typing import Any

from asgiref.sync import sync_to_async
from django.db.models import QuerySet
from django.http import StreamingHttpResponse
from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework.exceptions import ValidationError
from rest_framework.request import Request
from rest_framework.views import APIView

from events.api import EventFilter
from events.models import Event
from events.selectors import TIMELINE_ORDER, Cursor
from homesec.core.audit import audit
from homesec.core.auth import IsMember
from homesec.core.throttling import ClientUserRateThrottle, ExportThrottle

EXPORT_BATCH = 1000
EXPORT_COLUMNS = [
    "id", "camera", "camera_name", "started_at", "ended_at", "status", "detection_count", "classes", "zones",
    "max_confidence", "late", "assessment_state", "risk_score", "risk_level", "summary", "analyzer",
    "reviewed", "reviewed_at", "feedback", "review_notes",
]  # fmt: skip
_FIELDS = ["pk", "camera_id", "camera__name", *EXPORT_COLUMNS[3:]]


def events_filtered(request: Request) -> QuerySet[Event]:
    """The events the list's filters let through, or a 400 naming what is wrong."""
    found = EventFilter(request.query_params, queryset=Event.objects.all(), request=request)
    if not found.is_valid():
        raise ValidationError(found.errors)
    return found.qs


def _batch(events: QuerySet[Event], after: Cursor | None) -> list[dict[str, Any]]:
    page = events.filter(after.before()) if after else events
    return list(page.order_by(*TIMELINE_ORDER).values(*_FIELDS)[:EXPORT_BATCH])


def _plain(value: Any) -> Any:
    return value.isoformat() if isinstance(value, datetime) else value


def _export_row(row: dict[str, Any]) -> dict[str, Any]:
    values = [row[name] for name in _FIELDS]
    return {column: _plain(value) for column, value in zip(EXPORT_COLUMNS, values, strict=True)}


def _csv(rows: Iterable[dict[str, Any]], *, header: bool) -> bytes:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=EXPORT_COLUMNS, lineterminator="\r\n")
    if header:
        writer.writeheader()
    for row in rows:
        flat = {**row, "classes": ";".join(f"{k}:{v}" for k, v in (row["classes"] or {}).items())}
        flat["zones"] = ";".join(row["zones"] or [])
        writer.writerow(flat)
    return out.getvalue().encode()


def _ndjson(rows: Iterable[dict[str, Any]], *, header: bool) -> bytes:
    return "".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows).encode()


FORMATS = {"csv": ("text/csv; charset=utf-8", _csv), "ndjson": ("application/x-ndjson", _ndjson)}


async def export_stream(events: QuerySet[Event], encode: Any) -> AsyncIterator[bytes]:
    """Every event of the queryset, newest first, a batch at a time."""
    after: Cursor | None = None
    first = True
    while True:
        rows = await sync_to_async(_batch)(events, after)
        if first or rows:
            yield encode((_export_row(row) for row in rows), header=first)
        first = False
        if len(rows) < EXPORT_BATCH:
            return
        last = rows[-1]
        after = Cursor(last["started_at"], last["pk"])


class EventExportView(APIView):
    """All events the filters let through, newest first, as CSV or NDJSON, streamed."""

    permission_classes = [IsMember]
    throttle_classes = [ClientUserRateThrottle, ExportThrottle]  # the default limit, and this one
    filterset_class = EventFilter

    @extend_schema(
        parameters=[OpenApiParameter("format", str, enum=list(FORMATS), default="csv")],
        responses={(200, "text/csv"): OpenApiTypes.STR, (200, "application/x-ndjson"): OpenApiTypes.STR},
    )
    def get(self, request: Request) -> StreamingHttpResponse:
        kind = request.query_params.get("format", "csv")
        if kind not in FORMATS:
            raise ValidationError({"format": f"One of: {', '.join(FORMATS)}."})
        content_type, encode = FORMATS[kind]
        stamp = timezone.now().strftime("%Y%m%d-%H%M%S")
        events = events_filtered(request)
        # Who took the household's history out, and which part of it.
        filters = {name: request.query_params.getlist(name) for name in request.query_params if name != "format"}
        audit(action="event.export", target=f"events as {kind}", detail={"format": kind, "filters": filters})
        return StreamingHttpResponse(
            export_stream(events, encode),
            content_type=content_type,
            headers={"Content-Disposition": f'attachment; filename="homesec-events-{stamp}.{kind}"'},
        )
