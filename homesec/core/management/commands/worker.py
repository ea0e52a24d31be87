"""`manage.py worker`: a django-q2 cluster with a heartbeat, so /ready can see it."""

from __future__ import annotations

import os
import sys
import time
from argparse import ArgumentParser
from typing import Any

from django.core.management.base import BaseCommand

from homesec.core.heartbeat import start_heartbeat


class Command(BaseCommand):
    help = "Run a task worker cluster (django-q2) and report its heartbeat."

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("--cluster", default=None, help="Cluster / queue name (default: the main queue).")
        parser.add_argument("--role", default="worker", help="Name under which the heartbeat is reported.")

    def handle(self, *args: Any, cluster: str | None = None, role: str = "worker", **options: Any) -> None:
        if cluster and os.environ.get("Q_CLUSTER_NAME") != cluster:
            # django-q2 reads the cluster (queue) name from the environment when it is
            # imported, which Django has done by now: start again with it set.
            os.environ["Q_CLUSTER_NAME"] = cluster
            os.execv(sys.executable, [sys.executable, *sys.argv])
        from django_q.cluster import Cluster

        q = Cluster()
        # Beat only while the cluster's sentinel lives: a cluster that lost it runs nothing.
        heartbeat = start_heartbeat(role, healthy=lambda: bool(getattr(q, "sentinel", None)) and q.sentinel.is_alive())
        q.start()
        # Cluster installed its SIGTERM/SIGINT handler, which stops the sentinel; we wait.
        while q.sentinel.is_alive():
            time.sleep(0.5)
        heartbeat.stop()
