"""The ORM broker woken by a queued task (homesec/core/broker.py), on the test database."""

from __future__ import annotations

import threading
import time

import pytest
from django.db import connections
from django.utils import timezone
from django_q.models import OrmQ

from homesec.core.broker import WAKE_POLL_S, WakingORM

pytestmark = pytest.mark.django_db(transaction=True)


def dequeue_in_thread(broker: WakingORM) -> tuple[threading.Thread, list]:
    """One dequeue() in a thread, as the pusher runs it: [seconds it took, what it returned]."""
    out: list = []

    def run() -> None:
        started = time.monotonic()
        out.extend([None, broker.dequeue()])
        out[0] = time.monotonic() - started
        connections.close_all()

    thread = threading.Thread(target=run)
    thread.start()
    return thread, out


def test_an_empty_queue_is_woken_by_the_next_task_not_by_a_timer():
    pusher = WakingORM(list_key="wake-test")
    assert pusher.dequeue() is None  # empty: binds the lane's socket, waits, returns nothing
    thread, out = dequeue_in_thread(pusher)
    time.sleep(0.2)
    WakingORM(list_key="wake-test").enqueue("payload")  # another process's broker, in effect
    thread.join(timeout=5)
    assert out[0] < 0.2 + 0.5 < WAKE_POLL_S
    assert [payload for _, payload in pusher.dequeue() or []] == ["payload"]


def test_a_task_nobody_wakes_for_is_still_taken_within_a_second():
    pusher = WakingORM(list_key="quiet-test")
    assert pusher.dequeue() is None
    thread, out = dequeue_in_thread(pusher)
    time.sleep(0.4)  # the pusher has read the empty table and waits
    OrmQ.objects.create(key="quiet-test", payload="offered again", lock=timezone.now())  # no wake-up
    thread.join(timeout=5)
    assert 0.8 * WAKE_POLL_S < out[0] < WAKE_POLL_S + 0.5  # the wait ran out; the next read takes it
    assert [payload for _, payload in pusher.dequeue() or []] == ["offered again"]


def test_another_lane_is_not_woken():
    alerts = WakingORM(list_key="alerts-test")
    assert alerts.dequeue() is None
    thread, out = dequeue_in_thread(alerts)
    WakingORM(list_key="slow-test").enqueue("not for alerts")
    thread.join(timeout=5)
    assert out[0] > 0.8 * WAKE_POLL_S
