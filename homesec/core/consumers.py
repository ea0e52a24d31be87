"""Authenticated WebSocket base: one live stream, resume by id, ping/pong, idle close, and
a re-check of the credentials every HOMESEC_WS_RECHECK_S while the socket is open."""

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

from homesec.core.live import live_group, tailer
from homesec.core.selectors import live_message_list_after
from homesec.core.ws_auth import credentials_valid

logger = logging.getLogger(__name__)

CLOSE_UNAUTHENTICATED = 4401
# The credentials the socket opened with no longer sign in (signed out, token revoked,
# user deactivated, password changed): sign in again rather than just reconnect.
CLOSE_SIGNED_OUT = 4403
CLOSE_IDLE = 4408


class LiveStreamConsumer(AsyncJsonWebsocketConsumer):
    stream = ""

    async def connect(self) -> None:
        user = self.scope.get("user")
        if user is None or not user.is_authenticated:
            # Closing before accept makes daphne refuse the handshake (HTTP 403).
            await self.close(code=CLOSE_UNAUTHENTICATED)
            return
        self.sent_ids: dict[int, None] = {}
        self.last_client_at = time.monotonic()
        await self.channel_layer.group_add(live_group(self.stream), self.channel_name)
        await self.accept()
        tailer.ensure_running()
        since = self._since()
        if since is not None:
            for row in await sync_to_async(live_message_list_after)(stream=self.stream, after_id=since):
                await self._send_once(row.as_wire())
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
            await self.channel_layer.group_discard(live_group(self.stream), self.channel_name)
        for name in ("idle_task", "recheck_task", "push_task"):
            task = getattr(self, name, None)
            if task is not None:
                task.cancel()

    async def receive_json(self, content: Any, **kwargs: Any) -> None:
        self.last_client_at = time.monotonic()
        if isinstance(content, dict) and content.get("type") == "ping":
            await self.send_json({"type": "pong", "at": time.time()})

    async def live_message(self, event: dict[str, Any]) -> None:
        await self._send_once(event["message"])

    async def _send_once(self, message: dict[str, Any]) -> None:
        if message["id"] in self.sent_ids:
            return
        self.sent_ids[message["id"]] = None
        if len(self.sent_ids) > 5000:
            self.sent_ids.pop(next(iter(self.sent_ids)))
        await self.send_json({"type": "message", **message})

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
            # channels-redis forgets a group's members after a day (group_expiry): a wall
            # tablet's socket stays open for weeks, so it joins again at every re-check.
            await self.channel_layer.group_add(live_group(self.stream), self.channel_name)
