import asyncio

from asgiref.sync import sync_to_async
from django.conf import settings
from django.db import close_old_connections

from homesec.core.consumers import LiveStreamConsumer
from monitoring.selectors import readiness


def _snapshot() -> dict:
    close_old_connections()
    return readiness()


class SystemConsumer(LiveStreamConsumer):
    """/ws/system: stored system messages plus a health snapshot every few seconds."""

    stream = "system"

    async def on_connected(self) -> None:
        self.push_task = asyncio.get_running_loop().create_task(self._push_health())

    async def _push_health(self) -> None:
        while True:
            await self.send_json({"type": "health", "data": await sync_to_async(_snapshot)()})
            await asyncio.sleep(settings.SYSTEM_PUSH_S)
