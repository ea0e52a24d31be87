"""`manage.py watch_cameras`: the camera-folder watcher process, and homesec's clock.

Start and stop jobs (settings.START_JOBS and STOP_JOBS) run once around the loop:
the alerts app uses them to sync channels declared in the environment and to hold the
MQTT availability connection, whose last will says when homesec is gone."""

from __future__ import annotations

import logging
import signal
import threading
import time

from django.conf import settings
from django.core.management.base import BaseCommand
from django.db import close_old_connections
from django.utils.module_loading import import_string

from cameras.watcher import CameraWatcher
from homesec.core.heartbeat import start_heartbeat

logger = logging.getLogger("homesec.watcher")


def run_job(job) -> None:
    try:
        job()
    except Exception:  # noqa: BLE001 - one failing job must not stop the others or the watcher
        logger.exception("clock job %s failed; it runs again next tick", job.__name__)
        close_old_connections()


class Command(BaseCommand):
    help = "Watch the camera folders and hand new uploads to the ingest workers."

    def handle(self, *args, **options):
        stop = threading.Event()
        signal.signal(signal.SIGTERM, lambda *_: stop.set())
        signal.signal(signal.SIGINT, lambda *_: stop.set())
        heartbeat = start_heartbeat("watcher")
        watcher = CameraWatcher(
            settings.CAMERA_ROOT,
            polling=settings.WATCH_POLLING,
            stable_s=settings.WATCH_STABLE_S,
        )
        for name in settings.START_JOBS:
            run_job(import_string(name))
        watcher.start()
        mode = "polling" if settings.WATCH_POLLING else "inotify"
        logger.info("watching %s (%s)", settings.CAMERA_ROOT, mode)
        jobs = [import_string(name) for name in settings.CLOCK_JOBS]
        next_sweep = 0.0  # at start-up, then every HOMESEC_SWEEP_S
        next_rescan = time.monotonic() + settings.WATCH_RESCAN_S
        tick = max(0.01, settings.WATCH_BATCH_S)
        while not stop.wait(tick):
            try:
                watcher.flush()
                now = time.monotonic()
                if now >= next_sweep:
                    next_sweep = now + settings.SWEEP_S
                    for job in jobs:
                        run_job(job)
                if now >= next_rescan:
                    next_rescan = now + settings.WATCH_RESCAN_S
                    watcher.scan(watcher.root)
            except Exception:  # noqa: BLE001 - a database hiccup must not end the watcher
                logger.exception("watcher tick failed; retrying")
                close_old_connections()
                time.sleep(1)
        watcher.stop()
        for name in settings.STOP_JOBS:
            run_job(import_string(name))
        heartbeat.stop()
