"""The live-message bus behind /ws/events and /ws/system.

Every message is a LiveMessage row first. That row is what makes delivery cross
processes in every configuration, and what a reconnecting client replays from:

* with Redis (`REDIS_URL`), the publisher also pushes the message through the
  channels-redis layer, so every web process gets it at once;
* without Redis (the embedded default), each web process runs one tailer task that
  reads new rows every HOMESEC_LIVE_POLL_S (0.25 s) and hands them to its in-memory
  channel layer. We chose the database over a bundled Redis binary because the row is
  needed anyway for replay, and one fewer process has one fewer way to fail.

Consumers drop ids they have already sent, so a message that arrives both ways, or
twice through the tailer's look-back window, reaches a client once.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import timedelta

from asgiref.sync import async_to_sync, sync_to_async
from channels.layers import get_channel_layer
from django.conf import settings
from django.db import close_old_connections, transaction
from django.utils import timezone

from homesec.core.models import LiveMessage
from homesec.core.selectors import live_message_last_id, live_message_list_recent

logger = logging.getLogger(__name__)

STREAMS = ("events", "system")
LOOKBACK_S = 2.0


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
        last_id = await sync_to_async(_last_id)()
        sent: dict[int, None] = {}  # insertion-ordered, bounded: ids sent within the look-back
        while True:
            try:
                rows = await sync_to_async(_recent)(last_id)
                for row in rows:
                    if row.pk in sent:
                        continue
                    sent[row.pk] = None
                    last_id = max(last_id, row.pk)
                    await layer.group_send(live_group(row.stream), {"type": "live.message", "message": row.as_wire()})
                while len(sent) > 5000:
                    sent.pop(next(iter(sent)))
            except asyncio.CancelledError:
                raise
            except Exception:
                logger.warning("live tailer could not read messages; retrying", exc_info=True)
            await asyncio.sleep(settings.LIVE_POLL_S)


def _last_id() -> int:
    close_old_connections()
    return live_message_last_id()


def _recent(after_id: int) -> list[LiveMessage]:
    close_old_connections()
    return live_message_list_recent(after_id=after_id, window_s=LOOKBACK_S)


tailer = _Tailer()


def live_prune() -> int:
    """Forget messages older than HOMESEC_LIVE_KEEP_HOURS (a clock job)."""
    cutoff = timezone.now() - timedelta(hours=settings.LIVE_KEEP_HOURS)
    return LiveMessage.objects.filter(created_at__lt=cutoff).delete()[0]
