"""`manage.py worker`: a django-q2 cluster with a heartbeat, so /ready can see it.

`--all-lanes` (what `manage.py run` starts, with `--with-watcher`) runs every lane's cluster,
and the camera watcher, from one process: it loads Django once and forks one child for each,
each in a process group of its own, as if started by its own command (`worker --cluster
alerts --role alert-worker`, `watch_cameras`), and brings back one that dies on its own (a
crash in one never stops the others). Forked, they share the pages Django takes instead of
each loading it again: about 100 MB less for each of them (bench/footprint).
"""

from __future__ import annotations

import gc
import importlib
import multiprocessing
import os
import signal
import sys
import threading
import uuid
from argparse import ArgumentParser
from functools import partial
from types import FrameType
from typing import Any

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand
from django.db import connections
from django.utils.log import configure_logging

from homesec.core.heartbeat import start_heartbeat
from homesec.core.supervisor import ProcessSpec, Supervisor

# (heartbeat role, lane): None is the main queue.
LANES = [("worker", None), ("alert-worker", "alerts"), ("slow-worker", "slow")]


def use_lane(lane: str) -> None:
    """Give django-q2 the settings of `lane` in a process that imported it for the main
    queue. django-q2 reads the lane (Q_CLUSTER_NAME) and merges its ALT_CLUSTERS entry when
    `django_q.conf` is imported: we run that module again with the variable set and copy the
    result onto the Conf class that every django_q module already holds."""
    import django_q.conf

    os.environ["Q_CLUSTER_NAME"] = lane
    held = django_q.conf.Conf
    fresh = importlib.reload(django_q.conf).Conf
    for name, value in vars(fresh).items():
        if not name.startswith("__"):
            setattr(held, name, value)
    django_q.conf.Conf = held


def run_cluster(role: str) -> int:
    """The lane's sentinel in this process, guarding its workers, monitor and pusher until
    SIGTERM or SIGINT. (django-q2's Cluster forks one more process only to run the sentinel
    and waits on it: 16 MB a lane for nothing, bench/footprint.)"""
    from django_q.cluster import Sentinel

    stop, started = multiprocessing.Event(), multiprocessing.Event()
    # Sets what the processes it forks inherit: SIGINT ignored, SIGTERM the default.
    sentinel = Sentinel(stop, started, uuid.uuid4(), start=False)
    me = os.getpid()

    def request_stop(signum: int, frame: FrameType | None) -> None:
        if os.getpid() == me:
            # The guard loop stops the workers, the monitor and the pusher in order. Set from
            # another thread: this one may be inside stop.wait(), and a multiprocessing
            # Event's set() waits for its waiters to wake, which would be itself (deadlock).
            threading.Thread(target=stop.set, name="stop", daemon=True).start()
        elif signum == signal.SIGTERM:  # a forked worker, monitor or pusher: the default, end
            signal.signal(signum, signal.SIG_DFL)
            os.kill(os.getpid(), signum)

    signal.signal(signal.SIGTERM, request_stop)
    signal.signal(signal.SIGINT, request_stop)
    # Beat only while the guard loop runs: a cluster that is not guarded runs nothing.
    heartbeat = start_heartbeat(role, healthy=lambda: started.is_set() and not stop.is_set())
    sentinel.start()  # forks the pool, then guards it until `stop`
    heartbeat.stop()
    return 0


def run_lane(role: str, lane: str | None) -> int:
    as_command(["worker", "--cluster", lane, "--role", role] if lane else ["worker"])
    if lane:
        use_lane(lane)
    return run_cluster(role)


def run_watcher() -> int:
    as_command(["watch_cameras"])
    call_command("watch_cameras")
    return 0


def as_command(argv: list[str]) -> None:
    """In a forked child: the command line it stands for, and the logging set up again
    from it (log lines name the process by its command)."""
    sys.argv = [sys.argv[0], *argv]
    configure_logging(settings.LOGGING_CONFIG, settings.LOGGING)


class Command(BaseCommand):
    help = "Run a task worker cluster (django-q2) and report its heartbeat."

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("--cluster", default=None, help="Cluster / queue name (default: the main queue).")
        parser.add_argument("--role", default="worker", help="Name under which the heartbeat is reported.")
        parser.add_argument(
            "--all-lanes", action="store_true", help="Run every lane's cluster, each in a forked child of this process."
        )
        parser.add_argument(
            "--with-watcher", action="store_true", help="With --all-lanes: the camera watcher too, forked the same way."
        )

    def handle(
        self,
        *args: Any,
        cluster: str | None = None,
        role: str = "worker",
        all_lanes: bool = False,
        with_watcher: bool = False,
        **options: Any,
    ) -> None:
        if all_lanes:
            if os.environ.get("Q_CLUSTER_NAME"):
                raise SystemExit("--all-lanes forks every lane itself: unset Q_CLUSTER_NAME")
            specs = [ProcessSpec(name, [], target=partial(run_lane, name, lane)) for name, lane in LANES]
            if with_watcher:
                specs.append(ProcessSpec("watcher", [], target=run_watcher))
            # Loaded once here rather than in every child.
            importlib.import_module("django_q.cluster")
            connections.close_all()  # a forked child must not share the parent's connection
            # Out of the cyclic collector's reach: its first full pass in a child writes to
            # every object the child shares with this process, copying their pages (20 MB
            # less in all, bench/footprint).
            gc.freeze()
            sys.exit(Supervisor(specs).run())
        if cluster and os.environ.get("Q_CLUSTER_NAME") != cluster:
            # django-q2 reads the cluster (queue) name from the environment when it is
            # imported, which Django has done by now: start again with it set.
            os.environ["Q_CLUSTER_NAME"] = cluster
            os.execv(sys.executable, [sys.executable, *sys.argv])
        run_cluster(role)
