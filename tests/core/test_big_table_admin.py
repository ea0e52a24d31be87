"""The console's lists of the tables that grow with every upload never count the whole
table (PostgreSQL reads every row to count): with a few thousand rows, unfiltered pages and
filtered ones are checked for an unfiltered COUNT(*) among the queries they run."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from cameras.models import Camera, Ingest
from detections.models import Detection, DetectionRun
from homesec.core.models import LiveMessage

ROWS = 1500  # above EstimatedCountPaginator.ESTIMATE_FROM
START = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)

pytestmark = pytest.mark.django_db


@pytest.fixture
def big_tables():
    camera = Camera.objects.create(pk="drive", name="Drive", folder="drive")
    ingests = Ingest.objects.bulk_create(
        Ingest(
            camera=camera,
            path=f"drive/{i}.jpg",
            size=1000 + i,
            mtime_ns=i,
            status=Ingest.Status.FAILED if i % 10 == 0 else Ingest.Status.DONE,
            arrived_at=START + timedelta(seconds=i),
            queued_at=START + timedelta(seconds=i),
        )
        for i in range(ROWS)
    )
    DetectionRun.objects.bulk_create(
        DetectionRun(ingest=ingest, status=DetectionRun.Status.DONE, queued_at=ingest.queued_at) for ingest in ingests
    )
    Detection.objects.bulk_create(
        Detection(
            camera=camera,
            ingest=ingest,
            captured_at=ingest.arrived_at,
            label="person" if i % 2 else "car",
            confidence=0.8,
            x=1,
            y=1,
            width=10,
            height=10,
            frame_width=100,
            frame_height=100,
        )
        for i, ingest in enumerate(ingests)
    )
    LiveMessage.objects.bulk_create(LiveMessage(stream="events", kind="event.updated") for _ in range(ROWS))
    tables = [model._meta.db_table for model in (Ingest, DetectionRun, Detection, LiveMessage)]
    with connection.cursor() as cursor:
        cursor.execute(f"ANALYZE {', '.join(tables)}")  # what autovacuum does for a grown table
    return tables


def _unfiltered_counts(queries: list[dict], table: str) -> list[str]:
    """COUNT queries over the table with no WHERE clause: a read of every row."""
    counted = re.compile(rf'SELECT COUNT\(\*\) AS "__count" FROM "{table}"(?!.*\bWHERE\b)', re.S)
    return [q["sql"] for q in queries if counted.search(q["sql"])]


@pytest.mark.parametrize(
    ("url", "table", "filtered"),
    [
        ("/admin/cameras/ingest/", "cameras_ingest", "?status__exact=failed"),
        ("/admin/detections/detection/", "detections_detection", "?label__exact=person"),
        ("/admin/detections/detectionrun/", "detections_detectionrun", "?status__exact=done"),
        ("/admin/core/livemessage/", "core_livemessage", "?stream__exact=events"),
    ],
)
def test_big_changelists_never_count_the_whole_table(admin_client, big_tables, url, table, filtered):
    assert table in big_tables
    for query in ("", filtered):
        with CaptureQueriesContext(connection) as captured:
            response = admin_client.get(url + query)
        assert response.status_code == 200, url + query
        assert _unfiltered_counts(captured.captured_queries, table) == [], url + query
        assert b'id="result_list"' in response.content  # rows were listed


def test_the_estimate_is_the_count_the_page_shows(admin_client, big_tables):
    response = admin_client.get("/admin/detections/detection/")
    shown = int(re.search(rb"(\d+) detections", response.content).group(1))
    assert abs(shown - ROWS) <= ROWS * 0.1  # the planner's estimate right after ANALYZE


def test_a_filter_counts_exactly_what_it_selects(admin_client, big_tables):
    response = admin_client.get("/admin/cameras/ingest/?status__exact=failed")
    assert re.search(rb"\b150 ingests\b", response.content)
    assert b"drive/1490.jpg" in response.content and b"drive/1491.jpg" not in response.content


def test_filter_choices_are_fixed_lists_not_distinct_scans(admin_client, big_tables):
    with CaptureQueriesContext(connection) as captured:
        response = admin_client.get("/admin/detections/detection/")
    assert b"?label__exact=person" in response.content  # the class list, ticked from CLASSES
    assert not [q["sql"] for q in captured.captured_queries if "DISTINCT" in q["sql"] and "label" in q["sql"]]
