"""Response bodies under daphne go out no faster than the client takes them.

daphne hands each body chunk an application sends to Twisted's transport and returns at
once: nothing slows the application when the client reads slower than it produces, and
every chunk not yet sent waits in the web process's memory. A phone fetching a gigabyte
clip over a slow link made the process buffer all of it (+1 GB in 8 s for a client reading
5 MB/s), and on a busy machine a fast client on loopback still left over 50 MB waiting.

Here `send` of a body chunk waits while the connection's send buffer is full, on Twisted's
own producer signal (the transport pauses its producers past its buffer size and resumes
them once it has drained), so a streamed file is read from disk only as the client takes
it (+2 MB for the same gigabyte). Installed by homesec/asgi.py, before daphne serves.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Awaitable, Callable
from typing import Any

from twisted.internet.interfaces import IPushProducer
from zope.interface import implementer  # type: ignore[import-untyped]

_ATTRIBUTE = "_homesec_writable"


@implementer(IPushProducer)
class _Writable:
    """Registered on a request while its body streams: paused while the send buffer is full."""

    def __init__(self) -> None:
        self.ready = asyncio.Event()
        self.ready.set()

    def pauseProducing(self) -> None:  # noqa: N802 (Twisted's names)
        self.ready.clear()

    def resumeProducing(self) -> None:  # noqa: N802
        self.ready.set()

    def stopProducing(self) -> None:  # noqa: N802 (the connection is gone: nothing to wait for)
        self.ready.set()


Reply = Callable[[Any, Any, dict[str, Any]], Awaitable[None]]


def _paced(handle_reply: Reply) -> Reply:
    """daphne's Server.handle_reply(protocol, message), waiting after a body chunk while
    the connection cannot take more."""

    async def handle_reply_paced(server: Any, protocol: Any, message: dict[str, Any]) -> None:
        more = message.get("type") == "http.response.body" and message.get("more_body", False)
        writable: _Writable | None = getattr(protocol, _ATTRIBUTE, None)
        if not more and writable is not None and message.get("type") == "http.response.body":
            # The last chunk: the request lets go of the connection (the next request on a
            # kept-alive connection registers its own).
            setattr(protocol, _ATTRIBUTE, None)
            protocol.unregisterProducer()
        await handle_reply(server, protocol, message)
        if not more or protocol.finished or protocol.channel is None:
            return
        if writable is None:
            writable = _Writable()
            setattr(protocol, _ATTRIBUTE, writable)
            protocol.registerProducer(writable, True)
        await writable.ready.wait()

    handle_reply_paced.paced = True  # type: ignore[attr-defined]
    return handle_reply_paced


def install() -> None:
    """Pace every HTTP response body daphne sends from now on, when daphne is the server
    (importing daphne.server would install Twisted's reactor: only daphne itself may)."""
    module = sys.modules.get("daphne.server")
    if module is None or getattr(module.Server.handle_reply, "paced", False):
        return
    module.Server.handle_reply = _paced(module.Server.handle_reply)
