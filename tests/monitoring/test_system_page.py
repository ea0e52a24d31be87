"""The System page (/system/): readiness, processes, queue depths, dead letters, breakers,
free disk and the 24-hour charts; queue_depths() is the one count of pending rows per stage."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from django.test import override_settings
from django.utils import timezone

from alerts.models import Channel, Notification
from cameras.models import Camera, Ingest
from detections.models import Clip, Detection, DetectionRun
from events.models import Event
from homesec.core.models import Breaker, DeadLetter, Heartbeat
from homesec.core.services import heartbeat_beat
from monitoring.selectors import (
    HEARTBEAT_ROWS,
    chart_detections_per_hour,
    chart_events_per_hour,
    queue_depths,
    readiness,
    system_health,
)

pytestmark = pytest.mark.django_db

NOW = datetime(2026, 12, 7, 15, 40, tzinfo=UTC)


# --- rows in each stage -------------------------------------------------------------------

_serial = iter(range(1, 1_000_000))


def camera(camera_id: str = "front") -> Camera:
    return Camera.objects.get_or_create(id=camera_id, defaults={"name": camera_id.title(), "folder": camera_id})[0]


def ingest(status: str = Ingest.Status.DONE) -> Ingest:
    n = next(_serial)
    now = timezone.now()
    return Ingest.objects.create(
        camera=camera(), path=f"front/{n}.jpg", size=n, mtime_ns=n, status=status, arrived_at=now, queued_at=now
    )


def detection_run(status: str) -> DetectionRun:
    return DetectionRun.objects.create(ingest=ingest(), status=status, queued_at=timezone.now())


def clip(transcode: str) -> Clip:
    return Clip.objects.create(ingest=ingest(), size=1000, transcode=transcode, queued_at=timezone.now())


def event(*, step: str = Event.Step.IDLE, started_at: datetime | None = None, level: str = "", cam: str = "") -> Event:
    started_at = started_at or timezone.now()
    return Event.objects.create(
        camera=camera(cam or f"cam{next(_serial)}"),  # one open event per camera
        status=Event.Status.CLOSED,
        started_at=started_at,
        last_detection_at=started_at,
        chain_started_at=started_at,
        assess_step=step,
        risk_level=level,
    )


def notification(status: str) -> Notification:
    channel = Channel.objects.get_or_create(name="hook", defaults={"kind": "webhook"})[0]
    now = timezone.now()
    return Notification.objects.create(channel=channel, test=True, status=status, queued_at=now, created_at=now)


def detection(label: str, captured_at: datetime) -> Detection:
    return Detection.objects.create(
        camera=camera(),
        ingest=ingest(),
        captured_at=captured_at,
        label=label,
        confidence=0.9,
        x=0,
        y=0,
        width=10,
        height=10,
        frame_width=100,
        frame_height=100,
    )


def beat(role: str, name: str, age_s: float = 0.0, problem: str = "") -> None:
    heartbeat_beat(role=role, name=name, started_at=timezone.now(), problem=problem)
    pid = int(name.rsplit(":", 1)[1])
    Heartbeat.objects.filter(name=name).update(beat_at=timezone.now() - timedelta(seconds=age_s), pid=pid)


ALL_ZERO = {
    "ingest": {"pending": 0, "processing": 0},
    "detection": {"pending": 0, "running": 0},
    "assessment": {"queued": 0, "running": 0},
    "notification": {"pending": 0, "sending": 0},
    "transcode": {"pending": 0, "running": 0},
}


# --- queue_depths() ---------------------------------------------------------------------


def test_queue_depths_are_zero_for_every_stage_and_state_with_no_rows():
    assert queue_depths() == ALL_ZERO


@pytest.mark.parametrize(
    ("make", "stage", "state"),
    [
        (lambda: ingest(Ingest.Status.PENDING), "ingest", "pending"),
        (lambda: ingest(Ingest.Status.PROCESSING), "ingest", "processing"),
        (lambda: detection_run(DetectionRun.Status.PENDING), "detection", "pending"),
        (lambda: detection_run(DetectionRun.Status.RUNNING), "detection", "running"),
        (lambda: event(step=Event.Step.QUEUED), "assessment", "queued"),
        (lambda: event(step=Event.Step.RUNNING), "assessment", "running"),
        (lambda: notification(Notification.Status.PENDING), "notification", "pending"),
        (lambda: notification(Notification.Status.SENDING), "notification", "sending"),
        (lambda: clip(Clip.Transcode.PENDING), "transcode", "pending"),
        (lambda: clip(Clip.Transcode.RUNNING), "transcode", "running"),
    ],
)
def test_queue_depths_count_a_pending_row_in_its_stage_and_state_only(make, stage, state):
    make()
    make()
    expected = json.loads(json.dumps(ALL_ZERO))
    expected[stage][state] = 2
    assert queue_depths() == expected


@pytest.mark.parametrize(
    "make",
    [
        lambda: ingest(Ingest.Status.DONE),
        lambda: ingest(Ingest.Status.DUPLICATE),
        lambda: ingest(Ingest.Status.REJECTED),
        lambda: ingest(Ingest.Status.FAILED),
        lambda: ingest(Ingest.Status.DELETED),
        lambda: detection_run(DetectionRun.Status.DONE),
        lambda: detection_run(DetectionRun.Status.FAILED),
        lambda: detection_run(DetectionRun.Status.SKIPPED),
        lambda: event(step=Event.Step.IDLE),
        lambda: notification(Notification.Status.DELIVERED),
        lambda: notification(Notification.Status.FAILED),
        lambda: notification(Notification.Status.SKIPPED),
        lambda: clip(Clip.Transcode.DONE),
        lambda: clip(Clip.Transcode.FAILED),
        lambda: clip(Clip.Transcode.NOT_NEEDED),
    ],
    ids=lambda make: "",
)
def test_queue_depths_leave_out_finished_rows(make):
    make()
    assert queue_depths() == ALL_ZERO


def test_queue_depths_take_one_query_per_stage(django_assert_num_queries):
    ingest(Ingest.Status.PENDING)
    event(step=Event.Step.QUEUED)
    with django_assert_num_queries(5):
        queue_depths()


# --- the page ------------------------------------------------------------------------------


def page_text(client) -> tuple[int, str]:
    response = client.get("/system/")
    return response.status_code, response.content.decode()


def test_the_system_page_shows_queue_depths_per_stage(viewer_client):
    for _ in range(3):
        ingest(Ingest.Status.PENDING)
    ingest(Ingest.Status.PROCESSING)
    detection_run(DetectionRun.Status.PENDING)
    for _ in range(2):
        event(step=Event.Step.QUEUED)
    notification(Notification.Status.SENDING)
    for _ in range(4):
        clip(Clip.Transcode.PENDING)
    response = viewer_client.get("/system/")
    assert response.status_code == 200
    assert response.context["queues"]["ingest"] == {"pending": 3, "processing": 1}
    html = response.content.decode()
    for key, n in {
        "ingest.pending": 3,
        "ingest.processing": 1,
        "detection.pending": 1,
        "detection.running": 0,
        "assessment.queued": 2,
        "assessment.running": 0,
        "notification.pending": 0,
        "notification.sending": 1,
        "transcode.pending": 4,
        "transcode.running": 0,
    }.items():
        assert f'data-queue="{key}">{n}</span>' in html, key
    assert '<span id="queue-total">12</span>' in html


def test_the_system_page_shows_readiness_and_processes_with_stale_ones_marked(viewer_client):
    beat("worker", "worker@box:101")
    beat("alert-worker", "alert-worker@box:102")
    beat("slow-worker", "slow-worker@box:103", problem="transcoder keeps failing")
    beat("watcher", "watcher@box:104", age_s=30)
    status, html = page_text(viewer_client)
    assert status == 200
    assert "Not ready: slow-worker, watcher" in html
    assert 'data-check="worker"><span class="check-name">worker</span> ok' in html
    assert "heartbeat stale for 30." in html
    for pid in (101, 102, 103, 104):
        assert f"<td>{pid}</td>" in html
    assert html.count('<span class="badge error">stale</span>') == 1
    assert '<tr class="stale" data-heartbeat="watcher@box:104">' in html
    assert '<tr class="" data-heartbeat="worker@box:101">' in html
    assert "transcoder keeps failing" in html


def test_the_page_says_ready_when_every_process_beats(viewer_client):
    for role in ("worker", "alert-worker", "slow-worker", "watcher"):
        beat(role, f"{role}@box:1")
    assert 'class="verdict ok">Ready</p>' in page_text(viewer_client)[1]


def test_dead_letters_are_counted_and_admins_get_the_console_link(admin_client, viewer_client):
    for n in range(3):
        DeadLetter.objects.create(key=f"ingest:{n}", task="t", error="boom", last_failed_at=timezone.now())
    _, admin_html = page_text(admin_client)
    assert '<span class="big-number bad" id="dead-letter-count">3</span>' in admin_html
    assert 'href="/admin/core/deadletter/"' in admin_html
    _, viewer_html = page_text(viewer_client)
    assert 'id="dead-letter-count">3</span>' in viewer_html
    assert "/admin/core/deadletter/" not in viewer_html


def test_breaker_states_show_the_detector_and_the_model_without_credentials(viewer_client):
    Breaker.objects.create(name="detector", state=Breaker.State.CLOSED)
    Breaker.objects.create(
        name="llm:https://user:s3cret@llm.example:8443/v1?key=abc",
        state=Breaker.State.OPEN,
        opened_at=timezone.now(),
        failures=[datetime.now().timestamp()] * 5,
        last_error="connect timeout",
    )
    Breaker.objects.create(name="llm:http://gpu-box/v1", state=Breaker.State.HALF_OPEN)
    _, html = page_text(viewer_client)
    assert '<span class="badge breaker closed">Closed</span>' in html
    assert '<span class="badge breaker open">Open</span>' in html
    assert '<span class="badge breaker half_open">half-open (probing)</span>' in html
    assert "https://llm.example:8443/v1" in html and "connect timeout" in html
    assert "s3cret" not in html and "key=abc" not in html


def test_no_breaker_yet_is_said_so(viewer_client):
    assert 'id="breakers-none"' in page_text(viewer_client)[1]


def test_the_page_shows_free_disk_of_the_data_volume(viewer_client, settings):
    import shutil

    usage = shutil.disk_usage(settings.DATA_DIR)
    response = viewer_client.get("/system/")
    disk = response.context["disk"]
    assert abs(disk["free_gb"] - usage.free / 1024**3) < 0.5
    assert f'id="disk-free">{disk["free_gb"]} GB</span> free of {disk["total_gb"]} GB' in response.content.decode()


@override_settings(MIN_FREE_GB=10**9)
def test_too_little_free_disk_is_marked(viewer_client):
    html = page_text(viewer_client)[1]
    assert 'class="big-number bad" id="disk-free"' in html


def test_latency_and_gpu_have_their_place_without_numbers(viewer_client):
    html = page_text(viewer_client)[1]
    assert 'id="latency"' in html  # its numbers: tests/monitoring/test_metrics.py
    assert 'id="gpu"' in html  # the GPU card's states: tests/monitoring/test_gpu.py


def test_viewers_see_no_form_and_every_write_method_is_refused(viewer_client, admin_client):
    html = page_text(viewer_client)[1]
    main = html.split("<main>")[1].split("</main>")[0]
    assert "<form" not in main and "<button" not in main
    for client in (viewer_client, admin_client):
        assert client.post("/system/").status_code == 405
        assert client.post("/system/charts.json").status_code == 405


def test_the_page_needs_a_sign_in(client):
    response = client.get("/system/")
    assert response.status_code == 302 and "/accounts/login/" in response["Location"]
    assert client.get("/system/charts.json").status_code in (302, 401, 403)


def test_the_page_takes_the_same_number_of_queries_however_many_rows(viewer_client):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    def rows(start: int, count: int) -> int:
        for n in range(start, start + count):
            beat("worker", f"worker@box:{n}")
            ingest(Ingest.Status.PENDING)
            event(step=Event.Step.QUEUED, level="high")
            detection("person", timezone.now())
            detection(f"class{n}", timezone.now())
            Breaker.objects.create(name=f"llm:http://m{n}/v1")
            DeadLetter.objects.create(key=f"k{n}", task="t", error="e", last_failed_at=timezone.now())
        with CaptureQueriesContext(connection) as queries:
            assert viewer_client.get("/system/").status_code == 200
        assert sum('"core_heartbeat"' in query["sql"] for query in queries) == 1  # readiness and the list share it
        return len(queries)

    few = rows(0, 1)
    many = rows(1, 30)
    assert few == many <= 25, (few, many)  # 16 today


def test_readiness_and_the_process_list_read_the_heartbeats_once_however_many_roles_are_stale():
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    beat("worker", "worker@box:1")
    beat("watcher", "watcher@box:2", age_s=60)
    with CaptureQueriesContext(connection) as queries:
        health = system_health()
    assert sum('"core_heartbeat"' in query["sql"] for query in queries) == 1
    assert health["checks"]["worker"]["ok"] is True
    assert health["checks"]["watcher"]["error"].startswith("heartbeat stale for 60.")
    assert health["checks"]["slow-worker"] == {"ok": False, "error": "no heartbeat yet"}


def test_a_role_past_the_rows_read_is_still_found_by_readiness():
    """A process restarting in a loop leaves a row per start: the roles sorted after it are
    read on their own rather than reported missing."""
    now = timezone.now()
    Heartbeat.objects.bulk_create(
        Heartbeat(name=f"alert-worker@box:{n}", role="alert-worker", hostname="box", pid=n, started_at=now, beat_at=now)
        for n in range(HEARTBEAT_ROWS)
    )
    beat("worker", "worker@box:1")
    report = readiness()
    assert report["checks"]["worker"]["ok"] is True
    assert report["checks"]["watcher"] == {"ok": False, "error": "no heartbeat yet"}


# --- the charts ----------------------------------------------------------------------------


def series(chart: dict) -> dict[str, list[int]]:
    return {s["name"]: s["values"] for s in chart["series"]}


def hour_index(chart: dict, moment: datetime) -> int:
    return chart["hours"].index(int(moment.replace(minute=0, second=0, microsecond=0).timestamp()))


def test_the_chart_hours_are_the_24_hours_up_to_the_current_one():
    chart = chart_events_per_hour(now=NOW)
    assert len(chart["hours"]) == 24
    assert chart["hours"][-1] == int(datetime(2026, 12, 7, 15, tzinfo=UTC).timestamp())
    assert chart["hours"][0] == int(datetime(2026, 12, 6, 16, tzinfo=UTC).timestamp())
    assert all(b - a == 3600 for a, b in zip(chart["hours"], chart["hours"][1:], strict=False))


def test_events_per_hour_by_level_count_each_event_in_its_hour():
    first_hour = datetime(2026, 12, 6, 16, tzinfo=UTC)
    event(started_at=first_hour, level="low")  # the first bucket's first instant
    event(started_at=first_hour - timedelta(microseconds=1), level="low")  # just before: out
    event(started_at=NOW - timedelta(hours=25), level="critical")  # older than 24 h: out
    event(started_at=datetime(2026, 12, 7, 14, 59, 59, tzinfo=UTC), level="high")
    event(started_at=datetime(2026, 12, 7, 15, 0, tzinfo=UTC), level="high")
    event(started_at=datetime(2026, 12, 7, 15, 0, tzinfo=UTC), level="high")
    event(started_at=datetime(2026, 12, 7, 15, 30, tzinfo=UTC), level="")  # not assessed yet
    chart = chart_events_per_hour(now=NOW)
    by_level = series(chart)
    assert list(by_level) == ["unassessed", "low", "medium", "high", "critical"]
    assert sum(by_level["low"]) == 1 and by_level["low"][0] == 1
    assert by_level["high"][hour_index(chart, datetime(2026, 12, 7, 14, tzinfo=UTC))] == 1
    assert by_level["high"][-1] == 2
    assert by_level["unassessed"][-1] == 1 and sum(by_level["unassessed"]) == 1
    assert sum(by_level["critical"]) == 0 and sum(by_level["medium"]) == 0


def test_events_per_hour_take_one_query_beyond_the_level_names(django_assert_num_queries):
    event(started_at=NOW - timedelta(hours=2), level="low")
    with django_assert_num_queries(2):  # the severity levels, then the grouped count
        chart_events_per_hour(now=NOW)


def test_detections_per_hour_by_class_over_24_hours():
    detection("person", datetime(2026, 12, 6, 16, 0, tzinfo=UTC))
    detection("person", datetime(2026, 12, 6, 15, 59, 59, tzinfo=UTC))  # out
    detection("person", datetime(2026, 12, 7, 15, 39, tzinfo=UTC))
    detection("person", datetime(2026, 12, 7, 15, 1, tzinfo=UTC))
    detection("car", datetime(2026, 12, 7, 3, 15, tzinfo=UTC))
    detection("dog", NOW - timedelta(days=3))  # out: no series of its own
    chart = chart_detections_per_hour(now=NOW)
    by_class = series(chart)
    assert list(by_class) == ["person", "car"]  # the commonest first
    assert by_class["person"][0] == 1 and by_class["person"][-1] == 2 and sum(by_class["person"]) == 3
    assert by_class["car"][hour_index(chart, datetime(2026, 12, 7, 3, tzinfo=UTC))] == 1
    assert sum(by_class["car"]) == 1


def test_detections_per_hour_take_one_query(django_assert_num_queries):
    detection("person", NOW - timedelta(hours=1))
    with django_assert_num_queries(1):
        chart_detections_per_hour(now=NOW)


def test_the_chart_data_is_in_the_page_and_at_its_endpoint(viewer_client):
    event(started_at=timezone.now(), level="medium")
    detection("cat", timezone.now())
    response = viewer_client.get("/system/")
    html = response.content.decode()
    embedded = json.loads(
        html.split('<script id="system-charts-data" type="application/json">')[1].split("</script>")[0]
    )
    assert series(embedded["events"])["medium"][-1] == 1
    assert series(embedded["detections"])["cat"][-1] == 1
    fetched = viewer_client.get("/system/charts.json")
    assert fetched.status_code == 200 and fetched["Cache-Control"].startswith("max-age=0")
    assert series(fetched.json()["detections"])["cat"][-1] == 1
    assert 'src="/static/vendor/uplot-1.6.32/uPlot.iife.min.js"' in html


# --- the live health push ------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
async def test_the_system_stream_pushes_queue_depths_dead_letters_and_heartbeats(viewer):
    from asgiref.sync import sync_to_async
    from channels.testing import WebsocketCommunicator

    from homesec.asgi import application
    from homesec.core.services import api_token_create
    from monitoring import consumers

    def rows() -> str:
        ingest(Ingest.Status.PENDING)
        clip(Clip.Transcode.RUNNING)
        DeadLetter.objects.create(key="ingest:1", task="t", error="boom", last_failed_at=timezone.now())
        beat("watcher", "watcher@box:7", age_s=60)
        return api_token_create(user=viewer)[1]

    token = await sync_to_async(rows)()
    consumers._cache["at"] = float("-inf")  # a snapshot from an earlier test in this process
    communicator = WebsocketCommunicator(
        application, "/ws/system", headers=[(b"authorization", f"Bearer {token}".encode())]
    )
    connected, _ = await communicator.connect(timeout=5)
    assert connected
    while (message := await communicator.receive_json_from(timeout=5))["type"] != "health":
        pass
    health = message["data"]
    assert health["queues"]["ingest"] == {"pending": 1, "processing": 0}
    assert health["queues"]["transcode"] == {"pending": 0, "running": 1}
    assert health["dead_letters"] == 1
    assert health["heartbeats"] == [
        {
            "role": "watcher",
            "name": "watcher@box:7",
            "pid": 7,
            "age_s": pytest.approx(60, abs=2),
            "stale": True,
            "problem": "",
        }
    ]
    assert "watcher" in health["not_ready"] and health["checks"]["disk"]["total_gb"] > 0
    await communicator.disconnect()


# --- in the browser ------------------------------------------------------------------------


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_the_charts_render_and_the_page_fits_a_phone(live_server, page, viewer):
    from django.test import Client

    now = timezone.now()
    for hours_ago, level in ((0, "high"), (1, "low"), (5, "critical"), (5, "")):
        event(started_at=now - timedelta(hours=hours_ago), level=level)
    for hours_ago, label in ((0, "person"), (2, "car"), (2, "person")):
        detection(label, now - timedelta(hours=hours_ago))
    Breaker.objects.create(name="llm:http://a-very-long-host-name.example.internal:8080/v1/chat", last_error="x" * 300)
    beat("worker", "worker@a-long-host-name-for-a-phone-screen.example:123456")
    client = Client()
    client.force_login(viewer)
    page.context.add_cookies(
        [{"name": "sessionid", "value": client.cookies["sessionid"].value, "url": live_server.url}]
    )

    page.goto(live_server.url + "/system/")
    for chart in ("events", "detections"):
        page.locator(f"#chart-{chart} .uplot canvas").wait_for()
    legend = page.locator("#chart-events .u-legend").inner_text()
    assert "critical" in legend and "unassessed" in legend
    assert "person" in page.locator("#chart-detections .u-legend").inner_text()
    width = page.locator("#chart-events canvas").evaluate("c => c.getBoundingClientRect().width")
    assert width > 300

    page.set_viewport_size({"width": 390, "height": 844})
    page.reload()
    page.locator("#chart-detections .uplot canvas").wait_for()
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    phone_width = page.locator("#chart-events canvas").evaluate("c => c.getBoundingClientRect().width")
    assert 200 <= phone_width <= 390


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_against_daphne_the_numbers_follow_the_health_push_and_the_charts_follow_event_messages(
    tmp_path, spawn, page, viewer, settings
):
    """The embedded default (no Redis: daphne's tailer reads the messages), pushes every second."""

    from playwright.sync_api import expect

    from homesec.core.live import live_publish
    from tests.support.processes import pipeline_env, start_daphne, wait_answers
    from tests.support.users import PASSWORD

    settings.LIVE_PUSH_VIA_LAYER = False
    env, _ = pipeline_env(tmp_path, REDIS_URL="<unset>", HOMESEC_SYSTEM_PUSH_S="1")
    daphne, base = start_daphne(spawn, env)
    wait_answers(base + "/health", daphne)
    page.goto(base + "/system/")
    page.fill("#id_username", "viewer")
    page.fill("#id_password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(base + "/system/")
    page.locator("#chart-events .uplot canvas").wait_for()
    expect(page.locator("#live-state")).to_have_class("live-state on")
    page.evaluate("window.sameDocument = true")

    for _ in range(3):
        ingest(Ingest.Status.PENDING)
    DeadLetter.objects.create(key="ingest:1", task="t", error="boom", last_failed_at=timezone.now())
    expect(page.locator('[data-queue="ingest.pending"]')).to_have_text("3", timeout=10_000)
    expect(page.locator("#queue-total")).to_have_text("3")
    expect(page.locator("#dead-letter-count")).to_have_text("1")
    assert "critical" in page.locator("#chart-events .u-legend").inner_text()
    assert page.locator("#chart-detections .u-legend").inner_text().count("person") == 0

    detection("person", timezone.now())
    with page.expect_response(lambda response: "/system/charts.json" in response.url, timeout=15_000):
        live_publish(stream="events", kind="event.opened", payload={"event": 1, "camera": "front"})
    expect(page.locator("#chart-detections .u-legend")).to_contain_text("person")
    assert page.evaluate("window.sameDocument") is True  # updated in place, not reloaded
