"""Authenticated WebSocket base: one live stream, resume by id, ping/pong, idle close, and
a re-check of the credentials every HOMESEC_WS_RECHECK_S while the socket is open. Live
messages come from the process's LiveHub (homesec/core/live.py), not through a channel of
the socket's own."""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any
from urllib.parse import parse_qs

from asgiref.sync import sync_to_async
from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer
from django.conf import settings

from homesec.core.live import hub
from homesec.core.selectors import live_message_last_id, live_message_list_after
from homesec.core.ws_auth import credentials_valid

logger = logging.getLogger(__name__)

CLOSE_UNAUTHENTICATED = 4401
# The credentials the socket opened with no longer sign in (signed out, token revoked,
# user deactivated, password changed): sign in again rather than just reconnect.
CLOSE_SIGNED_OUT = 4403
CLOSE_IDLE = 4408


class LiveStreamConsumer(AsyncJsonWebsocketConsumer):
    stream = ""
    # No channel of its own: the hub sends to the socket directly (a channel per socket
    # meant one channel-layer receive, and one database-connection check, per socket and
    # message). An alias that names no layer gives the consumer none.
    channel_layer_alias = "homesec-live-sockets-have-no-channel"

    async def connect(self) -> None:
        user = self.scope.get("user")
        if user is None or not user.is_authenticated:
            # Closing before accept makes daphne refuse the handshake (HTTP 403).
            await self.close(code=CLOSE_UNAUTHENTICATED)
            return
        self.sent_ids: dict[int, None] = {}
        self.last_client_at = time.monotonic()
        # Live messages that come while the missed ones are read wait, so a client gets
        # them in order: what it missed first, then what is new.
        self.held: list[tuple[int, str]] | None = []
        # The newest stored before the client hears "open": anything after it reaches the
        # client, even when the hub of this process is still joining its groups.
        opened_after = await sync_to_async(live_message_last_id)()
        await self.accept()
        await hub.join(self.stream, self)
        since = self._since()
        after_id = opened_after if since is None else since
        for row in await sync_to_async(live_message_list_after)(stream=self.stream, after_id=after_id):
            await self._send_once(row.as_wire())
        held, self.held = self.held, None
        for message_id, text in sorted(held):
            await self.live_send(message_id, text)
        loop = asyncio.get_running_loop()
        self.idle_task = loop.create_task(self._close_when_idle())
        self.recheck_task = loop.create_task(self._close_when_signed_out())
        await self.on_connected()

    def _since(self) -> int | None:
        query = parse_qs(self.scope.get("query_string", b"").decode())
        raw = (query.get("since") or query.get("last_id") or [None])[0]
        try:
            return int(raw) if raw is not None else None
        except ValueError:
            return None

    async def on_connected(self) -> None:
        """Hook for streams that push more than stored messages."""

    async def disconnect(self, code: int) -> None:
        if hasattr(self, "sent_ids"):
            hub.leave(self.stream, self)
        for name in ("idle_task", "recheck_task", "push_task"):
            task = getattr(self, name, None)
            if task is not None:
                task.cancel()

    async def receive_json(self, content: Any, **kwargs: Any) -> None:
        self.last_client_at = time.monotonic()
        if isinstance(content, dict) and content.get("type") == "ping":
            await self.send_json({"type": "pong", "at": time.time()})

    async def live_send(self, message_id: int, text: str) -> None:
        """A stored message, already encoded (by the hub, once for every socket)."""
        if self.held is not None:
            self.held.append((message_id, text))
            return
        if self._first_time(message_id):
            await self.send(text_data=text)

    async def _send_once(self, message: dict[str, Any]) -> None:
        if self._first_time(message["id"]):
            await self.send_json({"type": "message", **message})

    def _first_time(self, message_id: int) -> bool:
        if message_id in self.sent_ids:
            return False
        self.sent_ids[message_id] = None
        if len(self.sent_ids) > 5000:
            self.sent_ids.pop(next(iter(self.sent_ids)))
        return True

    async def _close_when_idle(self) -> None:
        while True:
            await asyncio.sleep(min(5.0, settings.WS_IDLE_S))
            if time.monotonic() - self.last_client_at > settings.WS_IDLE_S:
                await self.close(code=CLOSE_IDLE)
                return

    async def _close_when_signed_out(self) -> None:
        while True:
            await asyncio.sleep(settings.WS_RECHECK_S)
            try:
                valid = await database_sync_to_async(credentials_valid)(self.scope)
            except Exception:
                # The database is away: nothing can be signed in or out meanwhile; ask again.
                logger.warning("could not re-check a WebSocket's credentials", exc_info=True)
                continue
            if not valid:
                await self.close(code=CLOSE_SIGNED_OUT)
                return
