import asyncio
import time
from typing import Any

from asgiref.sync import sync_to_async
from django.conf import settings
from django.db import close_old_connections

from homesec.core.consumers import LiveStreamConsumer
from monitoring.selectors import system_health

# One snapshot serves every /ws/system socket of this process for up to a second: sockets
# that push at the same moment (a wall of tablets opened together) share one set of queries.
_cache: dict[str, Any] = {"at": float("-inf"), "data": None}


def _snapshot() -> dict:
    if time.monotonic() - _cache["at"] < min(1.0, settings.SYSTEM_PUSH_S / 2):
        return _cache["data"]
    close_old_connections()
    data = system_health()
    _cache["at"], _cache["data"] = time.monotonic(), data
    return data


class SystemConsumer(LiveStreamConsumer):
    """/ws/system: stored system messages plus a health snapshot every few seconds
    (readiness, queue depths, dead letters, heartbeats: monitoring.selectors.system_health)."""

    stream = "system"

    async def on_connected(self) -> None:
        self.push_task = asyncio.get_running_loop().create_task(self._push_health())

    async def _push_health(self) -> None:
        while True:
            await self.send_json({"type": "health", "data": await sync_to_async(_snapshot)()})
            await asyncio.sleep(settings.SYSTEM_PUSH_S)
