"""`manage.py ftp_server`: the built-in FTP receiver for cameras."""

from __future__ import annotations

import logging
import signal
from argparse import ArgumentParser
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from cameras.ftp import build_server
from homesec.core.heartbeat import start_heartbeat

logger = logging.getLogger("homesec.ftp")


def _stop(*_: object) -> None:
    # serve_forever catches this, closes every session (joining the connections' threads) and
    # returns. Closing the server from inside this handler instead pulled the poller out from
    # under the running loop, which then died with EBADF.
    raise SystemExit(0)


class Command(BaseCommand):
    help = "Run the FTP receiver cameras upload to (one account per camera, jailed to its folder)."

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("--host", default=None, help="Address to listen on (default HOMESEC_FTP_BIND).")
        parser.add_argument("--port", type=int, default=None, help="Port (default HOMESEC_FTP_PORT).")

    def handle(self, *args: Any, host: str | None = None, port: int | None = None, **options: Any) -> None:
        port = port if port is not None else settings.FTP_PORT
        if not port:
            raise CommandError("the FTP receiver is off: set HOMESEC_FTP_PORT (e.g. 2121) or pass --port")
        server = build_server(host=host or settings.FTP_BIND, port=port)
        heartbeat = start_heartbeat("ftp")
        signal.signal(signal.SIGTERM, _stop)
        logger.info("FTP receiver listening on %s:%s", host or settings.FTP_BIND, port)
        try:
            server.serve_forever(handle_exit=True)
        finally:
            heartbeat.stop()
