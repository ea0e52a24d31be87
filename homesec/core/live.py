"""The live-message bus behind /ws/events and /ws/system.

Every message is a LiveMessage row first. That row is what makes delivery cross
processes in every configuration, and what a reconnecting client replays from:

* with Redis (`REDIS_URL`), the publisher also pushes the message through the
  channels-redis layer, so every web process gets it at once;
* without Redis (the embedded default), each web process runs one tailer task that
  reads new rows every HOMESEC_LIVE_POLL_S (0.25 s) and hands them to its in-memory
  channel layer. We chose the database over a bundled Redis binary because the row is
  needed anyway for replay, and one fewer process has one fewer way to fail.

Consumers drop ids they have already sent, so a message that arrives both ways reaches a
client once.
"""

from __future__ import annotations

import asyncio
import logging
import time
from datetime import timedelta

from asgiref.sync import async_to_sync, sync_to_async
from channels.layers import get_channel_layer
from django.conf import settings
from django.db import close_old_connections, transaction
from django.utils import timezone

from homesec.core.models import LiveMessage
from homesec.core.selectors import live_message_last_id, live_message_list_after_or_in

logger = logging.getLogger(__name__)

STREAMS = ("events", "system")


def live_group(stream: str) -> str:
    return f"live.{stream}"


def live_publish(*, stream: str, kind: str, payload: dict) -> LiveMessage:
    if stream not in STREAMS:
        raise ValueError(f"unknown live stream {stream!r}")
    message = LiveMessage.objects.create(stream=stream, kind=kind, payload=payload)
    if settings.LIVE_PUSH_VIA_LAYER:
        transaction.on_commit(lambda: _push(message))
    return message


def _push(message: LiveMessage) -> None:
    try:
        async_to_sync(get_channel_layer().group_send)(
            live_group(message.stream), {"type": "live.message", "message": message.as_wire()}
        )
    except Exception:  # the row is stored; tailers and replays still deliver it
        logger.warning("live push of message %s failed", message.pk, exc_info=True)


class LiveTailer:
    """What a web process's tailer sends next (embedded default only).

    On PostgreSQL ids come from a sequence: a transaction that took id 9 may commit after
    the one that took id 10 was read. So every id skipped over is remembered as a gap and
    looked for again until it appears or GAP_KEEP_S has passed (no transaction lives that
    long: the longest task is killed first); by creation time alone, a message committed
    seconds late was lost."""

    GAP_KEEP_S = 900.0
    MAX_GAPS = 10_000

    def __init__(self) -> None:
        self.last_id: int | None = None
        self.gaps: dict[int, float] = {}  # id -> when it was first missed (monotonic)

    def poll(self) -> list[LiveMessage]:
        if self.last_id is None:
            self.last_id = live_message_last_id()
            return []
        rows = live_message_list_after_or_in(after_id=self.last_id, ids=list(self.gaps))
        now = time.monotonic()
        found = {row.pk for row in rows}
        newest = max([self.last_id, *found])
        for missing in range(self.last_id + 1, newest):
            if missing not in found:
                self.gaps.setdefault(missing, now)
        for pk in found:
            self.gaps.pop(pk, None)
        for pk, since in list(self.gaps.items()):
            if now - since > self.GAP_KEEP_S:
                del self.gaps[pk]  # rolled back, never to come
        while len(self.gaps) > self.MAX_GAPS:
            self.gaps.pop(min(self.gaps))
        self.last_id = newest
        return rows


class _Tailer:
    """One per web process (embedded default only): rows -> in-memory channel layer."""

    def __init__(self) -> None:
        self.task: asyncio.Task | None = None

    def ensure_running(self) -> None:
        if settings.LIVE_PUSH_VIA_LAYER:
            return
        loop = asyncio.get_running_loop()
        if self.task is None or self.task.done() or self.task.get_loop() is not loop:
            self.task = loop.create_task(self._run())

    async def _run(self) -> None:
        layer = get_channel_layer()
        tailer = LiveTailer()
        while True:
            try:
                for row in await sync_to_async(_poll)(tailer):
                    await layer.group_send(live_group(row.stream), {"type": "live.message", "message": row.as_wire()})
            except asyncio.CancelledError:
                raise
            except Exception:
                logger.warning("live tailer could not read messages; retrying", exc_info=True)
            await asyncio.sleep(settings.LIVE_POLL_S)


def _poll(tailer: LiveTailer) -> list[LiveMessage]:
    close_old_connections()
    return tailer.poll()


tailer = _Tailer()


def live_prune() -> int:
    """Forget messages older than HOMESEC_LIVE_KEEP_HOURS (a clock job)."""
    cutoff = timezone.now() - timedelta(hours=settings.LIVE_KEEP_HOURS)
    return LiveMessage.objects.filter(created_at__lt=cutoff).delete()[0]
