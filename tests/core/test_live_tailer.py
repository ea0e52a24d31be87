"""The embedded live bus's tailer (homesec/core/live.py) on PostgreSQL, where ids come from a
sequence: a message committed late, with a smaller id than ones already sent, still goes out."""

from __future__ import annotations

import threading
import time

import pytest
from django.db import connection, transaction

from homesec.core.live import LiveTailer, live_publish

pytestmark = pytest.mark.django_db(transaction=True)


def test_a_message_committed_long_after_a_later_one_is_still_sent_once():
    if connection.vendor != "postgresql":
        pytest.skip("SQLite writes one transaction at a time: ids commit in order")
    tailer = LiveTailer()
    tailer.poll()  # starts from the end
    inside, release = threading.Event(), threading.Event()

    def slow_transaction():
        try:
            with transaction.atomic():
                live_publish(stream="events", kind="slow", payload={})
                inside.set()
                release.wait(10)  # a long task commits its message seconds later
        finally:
            connection.close()

    writer = threading.Thread(target=slow_transaction)
    writer.start()
    inside.wait(10)
    live_publish(stream="events", kind="quick", payload={})
    assert [m.kind for m in tailer.poll()] == ["quick"]
    time.sleep(2.5)  # longer than any look-back by creation time
    release.set()
    writer.join()
    assert [m.kind for m in tailer.poll()] == ["slow"]
    assert tailer.poll() == []
