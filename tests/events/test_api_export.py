"""/api/events/export/: every event the filters let through, as CSV or NDJSON, streamed a
batch at a time so a big export costs the memory of one batch."""

from __future__ import annotations

import csv
import io
import json
import tracemalloc
from datetime import timedelta

import pytest
from asgiref.sync import async_to_sync
from django.utils import timezone

from cameras.models import Camera
from events.api_export import EXPORT_BATCH, FORMATS, export_stream
from events.models import Event
from tests.alerts.factory import FRIDAY_NOON, assessed_event
from tests.events.test_api_events import client_for

pytestmark = pytest.mark.django_db


def body(response) -> str:
    """The streamed body, read the way the ASGI server reads it (an async iterator)."""
    assert response.status_code == 200, response.content

    async def read() -> bytes:
        return b"".join([chunk async for chunk in response.streaming_content])

    return async_to_sync(read)().decode()


def test_csv_has_a_header_and_a_row_per_event_newest_first(viewer):
    events = [assessed_event(at=FRIDAY_NOON + timedelta(hours=n), score=20 + n) for n in range(3)]
    Event.objects.filter(pk=events[0].pk).update(summary='A "quoted", comma, summary\non two lines')
    response = client_for(viewer).get("/api/events/export/?format=csv")
    assert response["Content-Type"].startswith("text/csv")
    assert response["Content-Disposition"].startswith('attachment; filename="homesec-events-')
    rows = list(csv.DictReader(io.StringIO(body(response))))
    assert [int(r["id"]) for r in rows] == [e.pk for e in reversed(events)]
    assert rows[-1]["summary"] == 'A "quoted", comma, summary\non two lines'
    assert rows[0]["camera_name"] == "Front Door" and rows[0]["classes"] == "person:1"


def test_ndjson_follows_the_lists_filters(viewer):
    assessed_event(at=FRIDAY_NOON, cam="garden", score=90)
    keep = assessed_event(at=FRIDAY_NOON + timedelta(hours=1), cam="front_door", score=90)
    assessed_event(at=FRIDAY_NOON + timedelta(hours=2), cam="front_door", score=10)
    response = client_for(viewer).get("/api/events/export/?format=ndjson&camera=front_door&min_score=50")
    assert response["Content-Type"] == "application/x-ndjson"
    lines = [json.loads(line) for line in body(response).splitlines()]
    assert [line["id"] for line in lines] == [keep.pk]
    assert lines[0]["risk_score"] == 90 and lines[0]["started_at"].startswith("2026-11-27T13:00")


def test_an_unknown_format_or_filter_is_a_400_problem(viewer):
    api = client_for(viewer)
    assert api.get("/api/events/export/?format=xlsx").status_code == 400
    assert api.get("/api/events/export/?min_score=lots").status_code == 400


def test_anonymous_export_is_refused():
    from rest_framework.test import APIClient

    assert APIClient().get("/api/events/export/").status_code == 401


def _many(n: int) -> None:
    camera = Camera.objects.create(id="yard", name="Yard", folder="yard")
    start = timezone.now() - timedelta(days=30)
    Event.objects.bulk_create(
        Event(
            camera=camera,
            started_at=start + timedelta(seconds=i),
            last_detection_at=start + timedelta(seconds=i),
            chain_started_at=start + timedelta(seconds=i),
            status="closed",
            summary=f"event number {i} " + "words " * 20,
        )
        for i in range(n)
    )


def _peak_while_exporting(events) -> tuple[int, int]:
    """(rows, peak traced bytes) of reading the whole NDJSON export."""

    async def read() -> int:
        lines = 0
        async for chunk in export_stream(events, FORMATS["ndjson"][1]):
            lines += chunk.count(b"\n")
        return lines

    tracemalloc.start()
    try:
        rows = async_to_sync(read)()
        return rows, tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


@pytest.mark.django_db(transaction=True)
def test_a_large_export_holds_one_batch_in_memory_not_the_whole_body():
    _many(EXPORT_BATCH * 6)
    small_rows, small_peak = _peak_while_exporting(
        Event.objects.filter(pk__lte=Event.objects.order_by("pk")[EXPORT_BATCH * 2].pk)
    )
    rows, peak = _peak_while_exporting(Event.objects.all())
    assert rows == EXPORT_BATCH * 6 and small_rows == EXPORT_BATCH * 2 + 1
    # Three times the rows, about the same peak: the body (~1.5 MB) is never held whole.
    assert peak < small_peak * 1.5, (small_peak, peak)
