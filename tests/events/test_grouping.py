"""Grouping detections into events, with the clock passed in."""

import threading
import time
from datetime import UTC, datetime, timedelta

import pytest
from django.db import connection

from cameras.models import Camera, Ingest
from detections.models import Detection
from events.grouping import event_add_detections, event_close_due
from events.models import Event

pytestmark = pytest.mark.django_db(transaction=True)
T0 = datetime(2026, 11, 24, 3, 0, 0, tzinfo=UTC)
_seq = iter(range(1, 10**6))


@pytest.fixture(autouse=True)
def timing(settings):
    settings.EVENT_WINDOW_S, settings.EVENT_IDLE_S, settings.EVENT_MAX_DETECTIONS = 90, 30, 500
    settings.LATE_AFTER_MIN = 10


def camera(pk="front_door"):
    return Camera.objects.get_or_create(pk=pk, defaults={"name": pk, "folder": pk})[0]


def upload(at, *, cam="front_door", labels=("person",), captured=None) -> int:
    n = next(_seq)
    ingest = Ingest.objects.create(
        camera=camera(cam),
        path=f"{cam}/{n}.jpg",
        size=1,
        mtime_ns=n,
        status="done",
        arrived_at=at,
        queued_at=at,
        captured_at=captured or at,
    )
    Detection.objects.bulk_create(
        [
            Detection(
                camera_id=cam,
                ingest=ingest,
                captured_at=captured or at,
                label=label,
                confidence=0.8,
                x=0,
                y=0,
                width=10,
                height=20,
                frame_width=100,
                frame_height=100,
                zones=["porch"],
            )
            for label in labels
        ]
    )
    return ingest.pk


def add(at, **kw):
    return event_add_detections(ingest_ids=[upload(at, **kw)], now=at)


def test_detections_join_the_open_event_and_it_closes_when_idle():
    add(T0)
    add(T0 + timedelta(seconds=10), labels=("person", "dog"))
    event = Event.objects.get()
    assert (event.status, event.detection_count, event.classes, event.zones) == (
        "open",
        3,
        {"person": 2, "dog": 1},
        ["porch"],
    )
    assert event_close_due(now=T0 + timedelta(seconds=39)) == []
    assert event_close_due(now=T0 + timedelta(seconds=41)) == [event.pk]
    event.refresh_from_db()
    assert (event.status, event.close_reason) == ("closed", "idle")


def test_an_event_closes_when_its_window_ends_even_while_active():
    for s in range(0, 90, 20):
        add(T0 + timedelta(seconds=s))
    assert event_close_due(now=T0 + timedelta(seconds=90)) == [Event.objects.get().pk]
    assert Event.objects.get().close_reason == "window"


def test_an_event_closes_at_500_detections_and_the_next_continues_it():
    add(T0, labels=("person",) * 499)
    add(T0 + timedelta(seconds=1), labels=("person", "person", "car"))
    first, second = Event.objects.order_by("pk")
    assert (first.status, first.close_reason, first.detection_count) == ("closed", "full", 500)
    assert (second.status, second.detection_count, second.previous_id) == ("open", 2, first.pk)


def test_long_activity_is_a_chain_of_continuations_that_knows_when_it_began():
    for s in range(0, 300, 10):  # five minutes of someone in view
        at = T0 + timedelta(seconds=s)
        event_close_due(now=at)  # the clock ticks between uploads
        add(at)
    events = list(Event.objects.order_by("pk"))
    assert len(events) == 4
    assert [e.previous_id for e in events] == [None] + [e.pk for e in events[:-1]]
    assert {e.chain_started_at for e in events} == {T0}
    assert all(e.close_reason == "window" for e in events[:-1])


def test_a_gap_longer_than_the_idle_time_starts_a_new_scene():
    add(T0)
    event_close_due(now=T0 + timedelta(seconds=31))
    add(T0 + timedelta(seconds=100))
    first, second = Event.objects.order_by("pk")
    assert second.previous_id is None and second.chain_started_at == T0 + timedelta(seconds=100)


def test_a_backlog_upload_makes_a_late_event():
    add(T0, captured=T0 - timedelta(hours=3))
    add(T0, cam="garage")
    assert Event.objects.get(camera_id="front_door").late is True
    assert Event.objects.get(camera_id="garage").late is False


def test_adding_the_same_ingest_twice_changes_nothing():
    ingest = upload(T0)
    event_add_detections(ingest_ids=[ingest], now=T0)
    event_add_detections(ingest_ids=[ingest], now=T0 + timedelta(seconds=1))
    assert Event.objects.get().detection_count == 1


def test_concurrent_workers_never_open_two_events_for_one_camera():
    ingests = [upload(T0) for _ in range(16)]
    barrier = threading.Barrier(4)

    def work(ids):
        barrier.wait()
        try:
            for i in ids:
                event_add_detections(ingest_ids=[i], now=T0 + timedelta(seconds=1))
        finally:
            connection.close()

    threads = [threading.Thread(target=work, args=(ingests[n::4],)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    event = Event.objects.get()
    assert (event.status, event.detection_count, event.detections.count()) == ("open", 16, 16)


def test_the_sweep_groups_detections_whose_task_was_lost_and_resends_pending_assessments(settings):
    from events.grouping import event_sweep

    settings.INGEST_STALE_S = 60
    upload(T0)  # its detections were stored, but the hand-off to events never ran
    Detection.objects.update(created_at=T0 - timedelta(minutes=5))
    assert event_sweep(now=T0)["detections"] == 1
    event = Event.objects.get()
    assert event.detection_count == 1
    Event.objects.update(status="closed", ended_at=T0 - timedelta(minutes=5))
    assert event_sweep(now=T0)["assessments"] == 1
    assert event_sweep(now=T0)["assessments"] == 0  # not re-sent again within a stale period


def _waiting_for_locks() -> int:
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM pg_locks WHERE NOT granted")
        return cursor.fetchone()[0]


def test_a_detection_two_racing_workers_both_read_as_ungrouped_counts_once():
    """The sweep and a late task both read a detection as ungrouped before either took the
    event's lock: the event still counts it once."""
    if connection.vendor != "postgresql":
        pytest.skip("row locks are PostgreSQL's; SQLite serialises whole transactions")
    from django.db import transaction

    add(T0)
    event = Event.objects.get()
    late = upload(T0 + timedelta(seconds=1))
    holding, release = threading.Event(), threading.Event()

    def hold_the_event():
        try:
            with transaction.atomic():
                Event.objects.select_for_update().get(pk=event.pk)
                holding.set()
                release.wait(10)
        finally:
            connection.close()

    def racer():
        try:
            event_add_detections(ingest_ids=[late], now=T0 + timedelta(seconds=1))
        finally:
            connection.close()

    holder = threading.Thread(target=hold_the_event)
    holder.start()
    holding.wait(10)
    racers = [threading.Thread(target=racer) for _ in range(2)]
    for thread in racers:
        thread.start()
    deadline = time.monotonic() + 10
    while _waiting_for_locks() < 2 and time.monotonic() < deadline:  # both read, both wait for the lock
        time.sleep(0.01)
    release.set()
    for thread in [holder, *racers]:
        thread.join()
    event.refresh_from_db()
    assert (event.detection_count, event.detections.count(), event.classes) == (2, 2, {"person": 2})
