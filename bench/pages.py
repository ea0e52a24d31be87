"""bench/pages: the timeline and the event page, server time, on 100 k events / 1 M detections.

    bash bench/run.sh pages [--events 100000] [--per-event 10] [--requests 50]

bench/run.sh gives it a throwaway PostgreSQL 15. The data are written with COPY, as the
pipeline would have left them: 8 cameras, one upload per event with its `--per-event`
detections over 3 pictures (so 1 M detections and 1 M event links at the default size),
events over a year (the last three days unreviewed, 90 % of the rest reviewed), scores,
levels, classes, zones, summaries and reasoning; then ANALYZE. Each page is asked for
`--requests` times (after 3 warm-ups) with Django's test Client, in this process: the
whole server side (middleware, session, view, queries, template), no network and no
browser. Printed: p50 / p95 / max in ms and the queries per request.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
from bench.common import django_on_postgresql, percentile  # noqa: E402

CAMERAS = [f"cam{n}" for n in range(8)]
LABELS = ["person"] * 5 + ["car"] * 3 + ["dog", "cat"]
ZONES = ["porch", "driveway", "yard", "street"]
LEVELS = ((85, "critical"), (60, "high"), (30, "medium"), (0, "low"))
WORDS = (
    "a person walks up to the door then leaves a parcel car pulls into the driveway at night cat on the lawn".split()
)


def level_of(score: int) -> str:
    return next(name for minimum, name in LEVELS if score >= minimum)


def copy_rows(cursor, table: str, columns: list[str], rows) -> int:
    count = 0
    with cursor.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:
        for row in rows:
            copy.write_row(row)
            count += 1
    return count


def model_columns(model, given: list[str]) -> tuple[list[str], list]:
    """The table's columns: `given` first, then every other concrete one with its default."""
    rest = [f for f in model._meta.concrete_fields if f.column not in given]
    defaults = []
    for field in rest:
        value = field.get_default()
        if field.get_internal_type() == "JSONField":
            value = json.dumps(value)
        defaults.append(value)
    return given + [f.column for f in rest], defaults


def generate(events: int, per_event: int, seed: int = 7) -> datetime:
    """Write the rows with COPY; returns the newest event's start."""
    from django.db import connection

    from cameras.models import Camera, Ingest
    from detections.models import Detection
    from events.models import Event

    rng = random.Random(seed)
    for pk in CAMERAS:
        Camera.objects.create(pk=pk, name=pk.replace("cam", "Camera "), folder=pk, time_zone="Europe/Berlin")
    now = datetime.now(UTC).replace(microsecond=0)
    start = now - timedelta(days=365)
    step = timedelta(days=365) / events
    started = [start + step * n + timedelta(seconds=rng.random() * step.total_seconds()) for n in range(events)]
    frames = 3

    ingest_cols, ingest_rest = model_columns(
        Ingest, ["id", "camera_id", "path", "size", "mtime_ns", "status", "media_type", "media_format", "arrived_at",
                 "captured_at", "queued_at", "width", "height"]
    )  # fmt: skip
    det_cols, det_rest = model_columns(
        Detection, ["id", "camera_id", "ingest_id", "captured_at", "label", "confidence", "x", "y", "width", "height",
                    "frame_width", "frame_height", "zones", "zone_kinds", "thumbnail", "preview", "created_at"]
    )  # fmt: skip
    event_cols, event_rest = model_columns(
        Event, ["id", "camera_id", "status", "close_reason", "started_at", "last_detection_at", "ended_at",
                "captured_from", "captured_to", "detection_count", "classes", "max_confidence", "zones",
                "chain_started_at", "assessment_state", "risk_score", "risk_level", "summary", "reasoning",
                "recommended_action", "analyzer", "provenance", "assessed_at", "assessment_seq", "assessment_final",
                "reviewed", "review_notes"]
    )  # fmt: skip

    def ingests():
        for n, at in enumerate(started, 1):
            cam = CAMERAS[n % len(CAMERAS)]
            row = [n, cam, f"{cam}/{n}.jpg", 100_000, n, "done", "image", "jpeg", at, at, at, 1280, 720]
            yield row + ingest_rest

    facts: list[tuple[dict, list[str], float]] = []

    def detections():
        pk = 0
        for n, at in enumerate(started, 1):
            cam = CAMERAS[n % len(CAMERAS)]
            classes: dict[str, int] = {}
            zones: set[str] = set()
            best = 0.0
            for k in range(per_event):
                pk += 1
                label = rng.choice(LABELS)
                confidence = round(0.5 + rng.random() * 0.5, 3)
                zone = [rng.choice(ZONES)] if rng.random() < 0.6 else []
                classes[label] = classes.get(label, 0) + 1
                zones.update(zone)
                best = max(best, confidence)
                name = f"{cam}/{at:%Y-%m-%d}/{n}-{k % frames}.jpg"
                x, y = rng.randrange(0, 1100), rng.randrange(0, 500)
                row = [pk, cam, n, at + timedelta(seconds=k % frames), label, confidence, x, y, 120, 200, 1280, 720,
                       json.dumps(zone), json.dumps(["entry"] if zone else []), f"thumbs/{name}", f"previews/{name}",
                       at]  # fmt: skip
                yield row + det_rest
            facts.append((classes, sorted(zones), best))

    def event_rows():
        recent = now - timedelta(days=3)
        for n, at in enumerate(started, 1):
            classes, zones, best = facts[n - 1]
            score = min(100, int(rng.expovariate(1 / 28)))
            words = " ".join(rng.choice(WORDS) for _ in range(12))
            reasoning = f"{words}; rules: class +20, hour +10, zone +5, dwell +3"
            if n % 1000 == 0:
                words += " with a ladder"
            reviewed = at < recent and rng.random() < 0.9
            row = [
                n, CAMERAS[n % len(CAMERAS)], "closed", "idle", at, at, at + timedelta(seconds=35), at, at,
                per_event, json.dumps(classes), best, json.dumps(zones), at, "assessed", score, level_of(score),
                words.capitalize() + ".", reasoning, "No action needed.",
                "rules", json.dumps({"analyzer": "rules", "latency_ms": 1.4}), at + timedelta(seconds=36), 1, True,
                reviewed, "checked, the neighbour" if reviewed and rng.random() < 0.05 else "",
            ]  # fmt: skip
            yield row + event_rest

    def links():
        for n in range(1, events + 1):
            for k in range(per_event):
                detection = (n - 1) * per_event + k + 1
                yield [detection, detection, n]

    with connection.cursor() as cursor:
        raw = cursor.cursor
        for label, table, columns, rows in (
            ("ingests", "cameras_ingest", ingest_cols, ingests()),
            ("detections", "detections_detection", det_cols, detections()),
            ("events", "events_event", event_cols, event_rows()),
            ("links", "events_event_detections", ["id", "detection_id", "event_id"], links()),
        ):
            began = time.perf_counter()
            count = copy_rows(raw, table, columns, rows)
            print(f"  {label:<11} {count:>9,} rows in {time.perf_counter() - began:6.1f} s", flush=True)
        for table in ("cameras_ingest", "detections_detection", "events_event", "events_event_detections"):
            cursor.execute(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), (SELECT max(id) FROM {table}))")
        began = time.perf_counter()
        cursor.execute("ANALYZE")
        print(f"  ANALYZE in {time.perf_counter() - began:.1f} s", flush=True)
    return started[-1]


def explain_slowest(captured) -> None:
    """EXPLAIN ANALYZE of the request's slowest query (--explain)."""
    from django.db import connection

    slowest = max(captured.captured_queries, key=lambda q: float(q["time"]))
    with connection.cursor() as cursor:
        cursor.execute("EXPLAIN (ANALYZE, BUFFERS) " + slowest["sql"])
        plan = "\n".join(f"    {row[0]}" for row in cursor.fetchall())
    print(f"  slowest query ({float(slowest['time']) * 1000:.1f} ms): {slowest['sql'][:300]}\n{plan}")


def timed(client, urls: list[str], requests: int, explain: bool = False) -> tuple[list[float], int, float]:
    """`requests` timings, taking `urls` in turn, after 3 warm-ups of each; and the
    queries of one request and the database's ms in them (the most of any url)."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    queries, db_ms = 0, 0.0
    for url in urls:
        for _ in range(3):
            assert client.get(url).status_code == 200, url
        with CaptureQueriesContext(connection) as captured:
            client.get(url)
        queries = max(queries, len(captured))
        if explain:
            explain_slowest(captured)
        db_ms = max(db_ms, sum(float(q["time"]) for q in captured.captured_queries) * 1000)
    times = []
    for n in range(requests):
        url = urls[n % len(urls)]
        began = time.perf_counter()
        response = client.get(url)
        times.append((time.perf_counter() - began) * 1000)
        assert response.status_code == 200, url
    return times, queries, db_ms


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--per-event", type=int, default=10, help="detections per event")
    parser.add_argument("--requests", type=int, default=50, help="timed requests per page")
    parser.add_argument("--explain", action="store_true", help="print each page's slowest query plan")
    args = parser.parse_args()

    version = django_on_postgresql("pages")
    from django.conf import settings
    from django.contrib.auth import get_user_model
    from django.test import Client

    from alerts.models import AlertCheck
    from events.models import Event
    from events.selectors import Cursor
    from homesec.core.services import user_set_role

    print(
        f"PostgreSQL {version}, {os.cpu_count()} cores: {args.events:,} events, "
        f"{args.events * args.per_event:,} detections, {args.requests} timed requests per page"
    )
    began = time.perf_counter()
    generate(args.events, args.per_event)
    print(f"  generated in {time.perf_counter() - began:.1f} s")

    viewer = get_user_model().objects.create_user("bench-viewer", password="bench-password-123")
    user_set_role(user=viewer, role="viewer")
    client = Client()
    client.force_login(viewer)

    ordered = Event.objects.order_by("-started_at", "-id").values_list("started_at", "id")
    deep = Cursor(*ordered[int(args.events * 0.9)])  # 90 % of the way down
    sample = list(Event.objects.order_by("?").values_list("pk", flat=True)[:5])
    for pk in sample:
        AlertCheck.objects.create(
            event_id=pk,
            seq=1,
            risk_score=40,
            risk_level="medium",
            outcome="no alert: no match",
            decisions=[{"rule": f"rule {n}", "result": "no match", "why": "score below 60"} for n in range(5)],
        )
    middle = ordered[args.events // 2][0].astimezone(ZoneInfo(settings.TIME_ZONE))
    pages: list[tuple[str, ...]] = [
        ("timeline, default (unreviewed)", "/events/"),
        ("timeline, all", "/events/?reviewed=all"),
        ("timeline, camera + level + min score", "/events/?reviewed=all&camera=cam3&level=high&min_score=70"),
        ("timeline, same, unreviewed", "/events/?camera=cam3&level=high&min_score=70"),
        ("timeline, class + zone", "/events/?reviewed=all&label=dog&zone=porch"),
        ("timeline, deep keyset page (90 %)", f"/events/?reviewed=all&before={deep.token}"),
        ("timeline, jump to a date and time", f"/events/?reviewed=all&at={middle:%Y-%m-%dT%H:%M}"),
        ("timeline, newer from deep", f"/events/?reviewed=all&after={deep.token}"),
        ("timeline, search (rare word)", "/events/?reviewed=all&q=ladder"),
        ("timeline, search (common word)", "/events/?reviewed=all&q=parcel"),
    ]
    print("\n| page | p50 ms | p95 ms | max ms | queries | of which database ms (one request) |")
    print("|---|---|---|---|---|---|")
    pages.append(
        (f"event page ({args.per_event} detections, 3 pictures, 5 rule checks)", *[f"/events/{pk}/" for pk in sample])
    )
    for label, *urls in pages:
        times, queries, db_ms = timed(client, urls, args.requests, args.explain)
        print(
            f"| {label} | {percentile(times, 50):.1f} | {percentile(times, 95):.1f} | {max(times):.1f} "
            f"| {queries} | {db_ms:.1f} |",
            flush=True,
        )


if __name__ == "__main__":
    main()
