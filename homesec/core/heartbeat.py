"""A thread that tells the database "this process is alive" every HOMESEC_HEARTBEAT_S.

/ready treats a heartbeat older than HOMESEC_HEARTBEAT_STALE_S (5 s) as a dead or
frozen process. django-q2's own schedules wake every 30 s, far too coarse for that.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from django.conf import settings
from django.db import close_old_connections, connection
from django.utils import timezone

from homesec.core.services import heartbeat_beat, heartbeat_name

logger = logging.getLogger(__name__)


class HeartbeatThread(threading.Thread):
    """`healthy` False: no beat at all (a process that runs nothing). `problem` non-empty:
    the process beats but says what keeps failing in it, and /ready reports that."""

    def __init__(
        self, role: str, *, healthy: Callable[[], bool] = lambda: True, problem: Callable[[], str] = lambda: ""
    ) -> None:
        super().__init__(name=f"heartbeat-{role}", daemon=True)
        self.role = role
        self.beat_name = heartbeat_name(role)
        self.healthy = healthy
        self.problem = problem
        self.started_at = timezone.now()
        self.stopping = threading.Event()

    def run(self) -> None:
        failing = False
        while not self.stopping.wait(settings.HEARTBEAT_INTERVAL_S):
            if not self.healthy():
                continue  # no beat: /ready will see this process as not ready
            try:
                close_old_connections()
                heartbeat_beat(role=self.role, name=self.beat_name, started_at=self.started_at, problem=self.problem())
                if failing:
                    logger.info("heartbeat of %s is back", self.beat_name)
                failing = False
            except Exception:
                if not failing:
                    logger.warning("heartbeat of %s failed; retrying", self.beat_name, exc_info=True)
                failing = True
        connection.close()

    def stop(self) -> None:
        self.stopping.set()


def start_heartbeat(
    role: str, *, healthy: Callable[[], bool] = lambda: True, problem: Callable[[], str] = lambda: ""
) -> HeartbeatThread:
    thread = HeartbeatThread(role, healthy=healthy, problem=problem)
    thread.start()
    return thread
