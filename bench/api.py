"""bench/api: the REST API's reads, server time, on 100 k events / 1 M detections / 20 cameras.

    bash bench/run.sh api [--events 100000] [--per-event 10] [--requests 50] [--explain]

bench/run.sh gives it a throwaway PostgreSQL 15 and Redis. The rows are bench/pages's
(written with COPY, events over a year, levels, classes, zones, the last three days
unreviewed and 90 % of the rest reviewed; then VACUUM, as autovacuum would have), on 20
cameras and with summaries drawn from a larger vocabulary with a long tail (a few words in
most events, many in few), so a search has common and rare words to rank. Every request
carries a viewer's API token and goes through Django's test Client in this process, as
bench/pages does: the whole server side (middleware, token check, throttle counter in
Redis, view, queries, JSON), no network.

Each list is asked for `--requests` times after 3 warm-ups; an event's detail once each for
`--requests` random events (after 3 others); the export's first byte and 10 000th row
`--requests` times, after one whole export with this process's memory sampled. The search
and the export are skipped, with a line saying so, where the server does not have them yet.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import time
from datetime import timedelta
from pathlib import Path
from urllib.parse import quote

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
from bench import pages  # noqa: E402
from bench.common import django_on_postgresql, percentile  # noqa: E402

CAMERAS = [f"cam{n}" for n in range(20)]
# Most common first; a word's share of the draws falls as 1 / its rank (a Zipf tail).
VOCABULARY = (
    "person walks door car driveway night leaves parcel porch yard street cat dog stops looks "
    "gate van delivery courier garden window bicycle lingers knocks bell neighbour headlights "
    "rain shadow hood torch bin fox backpack umbrella wheelbarrow scooter jogger mower hedge shed"
).split()
WORDS = [word for rank, word in enumerate(VOCABULARY, 1) for _ in range(max(1, round(120 / rank)))]
TARGET_MS = {"list": 50.0, "search": 150.0}
EXPORT_ROWS = 10_000


def rss_kib() -> int:
    with open("/proc/self/status") as status:
        return next(int(line.split()[1]) for line in status if line.startswith("VmRSS:"))


def row(
    label: str, times: list[float], cpu_ms: float | None, queries: int | None, db_ms: float | None, kind: str
) -> None:
    """One line of the table; `kind` picks the target ("list", "search", or "" for none)."""
    p95 = percentile(times, 95)
    verdict = f"≤ {TARGET_MS[kind]:.0f}: {'met' if p95 <= TARGET_MS[kind] else 'MISSED'}" if kind else "-"

    def shown(value: float | None) -> str:
        return "-" if value is None else f"{value:.1f}" if isinstance(value, float) else str(value)

    print(
        f"| {label} | {len(times)} | {percentile(times, 50):.1f} | {p95:.1f} | {max(times):.1f} "
        f"| {shown(cpu_ms)} | {shown(queries)} | {shown(db_ms)} | {verdict} |",
        flush=True,
    )


def timed_row(client, label: str, url: str, requests: int, explain: bool, kind: str) -> None:
    """bench/pages's timing of one url, with this process's CPU per request (warm-ups included):
    on a busy machine the wall time grows, the CPU time much less."""
    began = time.process_time()
    times, queries, db_ms = pages.timed(client, [url], requests, explain)
    cpu_ms = (time.process_time() - began) * 1000 / (requests + 4)
    row(label, times, cpu_ms, queries, db_ms, kind)


def exists(client, url: str, what: str) -> bool:
    response = client.get(url)
    status = response.status_code
    response.close()  # a streamed answer is not read
    if status == 200:
        return True
    print(f"| {what} | skipped: {url} answers {status} on this commit | | | | | | | |", flush=True)
    return False


def detail_times(client, ids: list[int]) -> list[float]:
    """Each id asked for once, after 3 other events: a detail is read once, not again and again."""
    for pk in ids[:3]:
        assert client.get(f"/api/events/{pk}/").status_code == 200
    times = []
    for pk in ids[3:]:
        began = time.perf_counter()
        response = client.get(f"/api/events/{pk}/")
        times.append((time.perf_counter() - began) * 1000)
        assert response.status_code == 200, pk
    return times


async def export_read(
    client, url: str, headers: dict[str, str], rows: int | None
) -> tuple[float, float, int, int, int]:
    """One export read from the start, up to `rows` lines (then hung up on, as a client going
    away) or whole: the first byte's and the last line's ms after the request, the lines and
    bytes read, and this process's largest resident memory seen while reading (KiB)."""
    began = time.perf_counter()
    response = await client.get(url, headers=headers)
    assert response.status_code == 200, url
    stream = response.streaming_content
    first, lines, size, peak = 0.0, 0, 0, rss_kib()
    async for chunk in stream:  # one chunk is one batch of rows
        first = first or time.perf_counter()
        lines += chunk.count(b"\n")
        size += len(chunk)
        peak = max(peak, rss_kib())
        if rows and lines >= rows:
            break
    last = time.perf_counter()
    await stream.aclose()
    return (first - began) * 1000, (last - began) * 1000, lines, size, peak


async def export_times(
    client, url: str, headers: dict[str, str], requests: int, rows: int
) -> tuple[list[float], list[float]]:
    """The first byte and the `rows`-th line, `requests` times after 3 warm-ups."""
    first, nth = [], []
    for n in range(requests + 3):
        first_ms, nth_ms, lines, _, _ = await export_read(client, url, headers, rows)
        assert lines >= rows, f"{url}: only {lines} lines"
        if n >= 3:
            first.append(first_ms)
            nth.append(nth_ms)
    return first, nth


async def export_whole(client, url: str, headers: dict[str, str]) -> str:
    """One whole export: its time, its lines, and this process's resident memory during it."""
    before = rss_kib()
    _, took_ms, lines, size, peak = await export_read(client, url, headers, None)
    return (
        f"Whole export ({url}): {lines:,} lines, {size / 2**20:.1f} MiB in {took_ms / 1000:.1f} s; "
        f"this process's RSS {before / 1024:.0f} MiB before, {peak / 1024:.0f} MiB at most "
        f"(+{(peak - before) / 1024:.1f} MiB)."
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--per-event", type=int, default=10, help="detections per event")
    parser.add_argument("--requests", type=int, default=50, help="timed requests per row")
    parser.add_argument("--explain", action="store_true", help="print each list's slowest query plan")
    parser.add_argument("--no-whole-export", action="store_true", help="skip the full export and its memory")
    args = parser.parse_args()

    # The throttles stay in the path (their Redis counter is part of every request's time);
    # their limits are raised so that the bench's thousands of requests a minute are answered.
    for name in ("HOMESEC_API_RATE", "HOMESEC_API_RATE_SEARCH", "HOMESEC_API_RATE_EXPORT"):
        os.environ.setdefault(name, "1000000/minute")
    version = django_on_postgresql("api")
    from django.contrib.auth import get_user_model
    from django.db import connection
    from django.test import AsyncClient, Client

    from events.models import Event
    from homesec.core.services import api_token_create, user_set_role

    print(
        f"PostgreSQL {version}, {os.cpu_count()} cores: {args.events:,} events, "
        f"{args.events * args.per_event:,} detections, {len(CAMERAS)} cameras, {args.requests} timed requests per row"
    )
    began = time.perf_counter()
    # bench/pages's generator, on this bench's cameras and words (it reads both when called).
    pages.CAMERAS, pages.WORDS = CAMERAS, WORDS
    newest = pages.generate(args.events, args.per_event)
    print(f"  generated in {time.perf_counter() - began:.1f} s")
    # As autovacuum leaves a table written over a year: its visibility map set, so that a
    # COUNT (?count=true) is an index-only scan without a visit to each row (fresh from COPY
    # it visits all 100 k: 40 ms instead of 8).
    began = time.perf_counter()
    with connection.cursor() as cursor:
        cursor.execute("VACUUM events_event, detections_detection, events_event_detections, cameras_ingest")
    print(f"  VACUUM in {time.perf_counter() - began:.1f} s")

    viewer = get_user_model().objects.create_user("bench-viewer", password="bench-password-123")
    user_set_role(user=viewer, role="viewer")
    _, key = api_token_create(user=viewer, name="bench")
    client = Client(headers={"authorization": f"Bearer {key}"})

    week_end = newest - timedelta(days=60)
    week = f"since={quote((week_end - timedelta(days=7)).isoformat())}&until={quote(week_end.isoformat())}"
    deep = "/api/events/"
    for _ in range(20):  # follow `next` 20 times: the 21st page
        deep = client.get(deep).json()["next"]
    ids = list(Event.objects.order_by("?").values_list("pk", flat=True)[: args.requests + 3])

    print(f"\nLoad average at the start: {os.getloadavg()[0]:.1f}")
    print(
        "\n| request | n | p50 ms | p95 ms | max ms | CPU ms / request (this process) | queries "
        "| database ms (one request) | p95 target ms |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    lists = [
        ("GET /api/events/", "/api/events/"),
        ("GET /api/events/?camera=&level=high", "/api/events/?camera=cam7&level=high"),
        ("GET /api/events/?since=&until= (one week)", f"/api/events/?{week}"),
        ("GET /api/events/ the 21st page (`next` followed 20 times)", deep),
        ("GET /api/events/?count=true", "/api/events/?count=true"),
    ]
    for label, url in lists:
        timed_row(client, label, url, args.requests, args.explain, "list")
    began = time.process_time()
    times = detail_times(client, ids)
    cpu_ms = (time.process_time() - began) * 1000 / len(ids)
    row("GET /api/events/<id>/ (random ids, each once)", times, cpu_ms, None, None, "list")
    timed_row(client, "GET /api/detections/", "/api/detections/", args.requests, args.explain, "list")

    searches = [
        ("a word every event has (person, a class)", "person"),
        ("a word about half have (driveway)", "driveway"),
        ("a rare word (ladder)", "ladder"),
        ("two words (parcel porch)", "parcel porch"),
        ('a phrase ("with a ladder")', '"with a ladder"'),
    ]
    if exists(client, "/api/events/search/?q=person", "GET /api/events/search/"):
        for label, q in searches:
            url = f"/api/events/search/?q={quote(q)}"
            timed_row(client, f"GET /api/events/search/?q= {label}", url, args.requests, args.explain, "search")

    # The export streams an async generator: it is read as daphne reads it, through Django's
    # ASGI handler (AsyncClient), in this process too.
    export, whole = "/api/events/export/?format=ndjson", ""
    if exists(client, export, f"GET {export}"):
        token = {"authorization": f"Bearer {key}"}  # per request: AsyncClient's own default is lost
        if not args.no_whole_export:  # first: the memory before it is the lists' and searches'
            whole = asyncio.run(export_whole(AsyncClient(), export, token))
        rows = min(EXPORT_ROWS, args.events)
        first, nth = asyncio.run(export_times(AsyncClient(), export, token, args.requests, rows))
        row(f"GET {export}: first byte", first, None, None, None, "")
        row(f"GET {export}: {rows:,}th row", nth, None, None, None, "")
    print(f"\nLoad average at the end: {os.getloadavg()[0]:.1f}")
    if whole:
        print(f"\n{whole}")
    print(
        f"\nTargets (p95): lists and detail ≤ {TARGET_MS['list']:.0f} ms, search ≤ {TARGET_MS['search']:.0f} ms.",
        flush=True,
    )


if __name__ == "__main__":
    main()
