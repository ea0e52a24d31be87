"""The live-message bus behind /ws/events and /ws/system.

Every message is a LiveMessage row first. That row is what makes delivery cross
processes in every configuration, and what a reconnecting client replays from:

* with Redis (`REDIS_URL`), the publisher also pushes the message through the
  channels-redis layer, so every web process gets it at once;
* without Redis (the embedded default), each web process runs one tailer that reads new
  rows every HOMESEC_LIVE_POLL_S (0.25 s). We chose the database over a bundled Redis
  binary because the row is needed anyway for replay, and one fewer process has one fewer
  way to fail.

Either way a message enters a web process once, through its LiveHub, which hands it to
every socket of the stream in that process, the JSON encoded once. (A channel-layer group
with one member per socket made channels-redis hand a message to 200 sockets of one process
one at a time, a few Redis round trips and a database-connection check in the shared sync
thread each: 150-500 ms for the last socket; bench/ws_fanout.)

Sockets drop ids they have already sent, so a message that arrives both ways (a replay
and the live push) reaches a client once.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from functools import partial
from typing import Any, Protocol, TypeVar

from asgiref.sync import sync_to_async
from channels.layers import get_channel_layer
from django.conf import settings
from django.db import close_old_connections, connections, transaction
from django.utils import timezone

from homesec.core.models import LiveMessage
from homesec.core.selectors import live_message_last_id, live_message_list_after_or_in

T = TypeVar("T")

logger = logging.getLogger(__name__)

STREAMS = ("events", "system")
PUSH_TIMEOUT_S = 5.0  # the longest a Redis that does not answer holds up a publisher


def live_group(stream: str) -> str:
    return f"live.{stream}"


def live_publish(*, stream: str, kind: str, payload: dict) -> LiveMessage:
    if stream not in STREAMS:
        raise ValueError(f"unknown live stream {stream!r}")
    message = LiveMessage.objects.create(stream=stream, kind=kind, payload=payload)
    if settings.LIVE_PUSH_VIA_LAYER:
        transaction.on_commit(lambda: _push(message))
    return message


class _PushLoop:
    """One event loop per process, in a thread of its own, for pushes from sync code.

    async_to_sync would run each push in a new loop, and channels-redis keeps its
    connections per loop: every message paid a Redis connect (3 ms idle, 7-18 ms on a busy
    worker). The pid check starts a new loop in a forked child, which inherits the
    parent's loop object but not its thread."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.pid = 0
        self.loop: asyncio.AbstractEventLoop | None = None

    def get(self) -> asyncio.AbstractEventLoop:
        with self.lock:
            if self.loop is None or self.pid != os.getpid():
                self.loop, self.pid = asyncio.new_event_loop(), os.getpid()
                threading.Thread(target=self.loop.run_forever, name="live-push", daemon=True).start()
            return self.loop


_push_loop = _PushLoop()


def _push(message: LiveMessage) -> None:
    send = get_channel_layer().group_send(
        live_group(message.stream), {"type": "live.message", "message": message.as_wire()}
    )
    future = asyncio.run_coroutine_threadsafe(send, _push_loop.get())
    try:
        future.result(timeout=PUSH_TIMEOUT_S)
    except Exception:  # the row is stored; tailers and replays still deliver it
        future.cancel()
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


class LiveSocket(Protocol):
    """What the hub needs of a socket (homesec.core.consumers.LiveStreamConsumer)."""

    async def live_send(self, message_id: int, text: str) -> None: ...


class LiveHub:
    """One per web process: takes each message into the process once and sends it to every
    socket of its stream here.

    With Redis the hub's own channel is the process's one member of the stream groups
    (joined again every REJOIN_S: channels-redis forgets a group's members after a day);
    without Redis the hub runs the tailer, in a thread of its own so that a slow page in
    the shared sync thread never holds the poll back. A socket's join waits until the hub
    receives, so that nothing published after a socket opened is missed."""

    REJOIN_S = 3600.0
    READY_WAIT_S = 5.0

    def __init__(self) -> None:
        self.sockets: dict[str, dict[LiveSocket, None]] = {stream: {} for stream in STREAMS}
        self.task: asyncio.Task | None = None
        self.ready: asyncio.Event | None = None
        self.loop: asyncio.AbstractEventLoop | None = None
        self.executor: ThreadPoolExecutor | None = None

    async def join(self, stream: str, socket: LiveSocket) -> None:
        loop = asyncio.get_running_loop()
        if self.loop is not loop:
            # A new event loop (only tests run several): what the old one held is gone.
            self.sockets = {name: {} for name in STREAMS}
            self.task, self.ready, self.loop = None, None, loop
        self.sockets[stream][socket] = None
        if self.task is None or self.task.done():
            self.ready = asyncio.Event()
            receiver = self._receive if settings.LIVE_PUSH_VIA_LAYER else self._tail
            self.task = loop.create_task(receiver(self.ready))
        assert self.ready is not None
        try:
            await asyncio.wait_for(self.ready.wait(), self.READY_WAIT_S)
        except TimeoutError:
            logger.warning("live hub is not receiving yet; the socket catches up when it reconnects")

    def leave(self, stream: str, socket: LiveSocket) -> None:
        self.sockets[stream].pop(socket, None)
        if self.task is not None and not any(self.sockets.values()):
            self.task.cancel()  # the last socket of this process went: stop receiving
            self.task = None

    async def deliver(self, message: dict[str, Any]) -> None:
        sockets = list(self.sockets.get(message["stream"], ()))
        if not sockets:
            return
        text = json.dumps({"type": "message", **message})
        for socket in sockets:
            try:
                await socket.live_send(message["id"], text)
            except Exception:  # one broken socket must not keep the message from the rest
                logger.warning("live message %s not sent to a socket", message["id"], exc_info=True)

    async def _receive(self, ready: asyncio.Event) -> None:
        layer = get_channel_layer()
        channel = await layer.new_channel(prefix="live-hub")
        joined_at: float | None = None
        # The newest id delivered here (from the newest stored when the hub first joined):
        # where to read the table from after a failed receive.
        delivered: int | None = None
        try:
            while True:
                try:
                    if joined_at is None or time.monotonic() - joined_at >= self.REJOIN_S:
                        if delivered is None:  # before joining: what comes after is received or read
                            delivered = await sync_to_async(_read)(live_message_last_id)
                        for stream in STREAMS:
                            await layer.group_add(live_group(stream), channel)
                        _raise_if_cancelled()
                        if joined_at is None:  # what was sent while the hub was not a member yet
                            delivered = await self._catch_up(delivered)
                        joined_at = time.monotonic()
                        ready.set()
                    event = await asyncio.wait_for(layer.receive(channel), self.REJOIN_S)
                except TimeoutError:
                    continue  # nothing for an hour: join again
                except asyncio.CancelledError:
                    raise
                except Exception:
                    logger.warning("live hub could not receive from the channel layer; retrying", exc_info=True)
                    await asyncio.sleep(1)
                    delivered = await self._catch_up(delivered)
                    continue
                _raise_if_cancelled()
                if event.get("type") == "live.message":
                    delivered = max(delivered or 0, event["message"]["id"])
                    await self.deliver(event["message"])
        finally:
            for stream in STREAMS:
                try:
                    await layer.group_discard(live_group(stream), channel)
                except BaseException:  # noqa: BLE001 - the group forgets it by itself after a day
                    break

    async def _catch_up(self, after_id: int | None) -> int | None:
        """After a failed receive, the stored messages past `after_id`: a receive that fails
        mid-read (seen under load: redis TimeoutError) may already have taken its message
        off Redis, where nothing else would bring it to the sockets connected here. Sockets
        drop what they already have (by id). Returns the new newest id delivered."""
        if after_id is None:
            return None
        try:
            rows = await sync_to_async(_read)(partial(live_message_list_after_or_in, after_id=after_id, ids=[]))
        except Exception:  # the database is down too: the next failure or reconnect reads again
            logger.warning("live hub could not read the messages it may have missed", exc_info=True)
            return after_id
        for row in rows:
            await self.deliver(row.as_wire())
        return max([after_id, *(row.pk for row in rows)])

    async def _tail(self, ready: asyncio.Event) -> None:
        if self.executor is None:
            self.executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="live-tailer")
        executor, loop = self.executor, asyncio.get_running_loop()
        tailer = LiveTailer()
        try:
            await self._tail_loop(loop, executor, tailer, ready)
        finally:
            executor.submit(connections.close_all)  # the tailer thread's connection

    async def _tail_loop(
        self, loop: asyncio.AbstractEventLoop, executor: ThreadPoolExecutor, tailer: LiveTailer, ready: asyncio.Event
    ) -> None:
        while True:
            started = time.monotonic()
            try:
                rows = await loop.run_in_executor(executor, _read, tailer.poll)
                ready.set()
                for row in rows:
                    await self.deliver(row.as_wire())
            except asyncio.CancelledError:
                raise
            except Exception:
                logger.warning("live tailer could not read messages; retrying", exc_info=True)
            # Every LIVE_POLL_S from the start of the last poll, not after it.
            await asyncio.sleep(max(0.0, settings.LIVE_POLL_S - (time.monotonic() - started)))


def _raise_if_cancelled() -> None:
    """A cancel that came while the Redis client was mid-command can be swallowed there (seen
    under load: the task then slept on with its cancel pending); go by the task's count."""
    task = asyncio.current_task()
    if task is not None and task.cancelling():
        raise asyncio.CancelledError


def _read(read: Callable[[], T]) -> T:
    """A read from the hub's side, on a database connection that has not gone stale."""
    close_old_connections()
    return read()


hub = LiveHub()


def live_prune() -> int:
    """Forget messages older than HOMESEC_LIVE_KEEP_HOURS (a clock job)."""
    cutoff = timezone.now() - timedelta(hours=settings.LIVE_KEEP_HOURS)
    return LiveMessage.objects.filter(created_at__lt=cutoff).delete()[0]
