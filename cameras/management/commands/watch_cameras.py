"""`manage.py watch_cameras`: the camera-folder watcher process."""

from __future__ import annotations

import signal
import threading

from django.core.management.base import BaseCommand

from homesec.core.heartbeat import start_heartbeat


class Command(BaseCommand):
    help = "Watch the camera folders and hand new uploads to the ingest workers."

    def handle(self, *args, **options):
        stop = threading.Event()
        signal.signal(signal.SIGTERM, lambda *_: stop.set())
        signal.signal(signal.SIGINT, lambda *_: stop.set())
        heartbeat = start_heartbeat("watcher")
        stop.wait()
        heartbeat.stop()
