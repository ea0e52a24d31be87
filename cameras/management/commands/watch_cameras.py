"""`manage.py watch_cameras`: the camera-folder watcher process, and homesec's clock.

Its loop is a few steps, each guarded on its own: registering what became ready (as soon
as the observer reports it; a file still growing is looked at every HOMESEC_WATCH_BATCH_S
until its size is stable), the fast clock jobs (every HOMESEC_CLOCK_FAST_S), the clock jobs
(every HOMESEC_SWEEP_S), the GPU sample (every HOMESEC_GPU_SAMPLE_S), the full rescan (every
HOMESEC_WATCH_RESCAN_S), and the start jobs (once, retried until they succeed). A step that
fails is logged and retried at its next turn, never stops the others, and makes the
watcher's heartbeat say so, so /ready reports it. Start and stop jobs (settings.START_JOBS
and STOP_JOBS) sync channels declared in the environment and hold the MQTT availability
connection, whose last will says when homesec is gone."""

from __future__ import annotations

import logging
import signal
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand
from django.db import close_old_connections
from django.utils.module_loading import import_string

from cameras.watcher import CameraWatcher
from homesec.core.heartbeat import start_heartbeat

logger = logging.getLogger("homesec.watcher")

# A step failing this many turns in a row makes the heartbeat report it: one database
# hiccup is not worth a red /ready.
REPORT_AFTER_FAILURES = 3
START_RETRY_MAX_S = 30.0


@dataclass
class Step:
    name: str
    run: Callable[[], object]
    every_s: float = 0.0
    once: bool = False  # a start job: done after its first success
    next_at: float = 0.0
    failures: int = 0
    error: str = ""
    done: bool = False
    # A step with work only at times (uploads): skipped, and not woken for, while this says
    # there is none.
    pending: Callable[[], bool] | None = None


class Clock:
    def __init__(self, steps: list[Step]) -> None:
        self.steps = steps

    def tick(self, now: float) -> None:
        for step in self.steps:
            if step.done or now < step.next_at or (step.pending is not None and not step.pending()):
                continue
            try:
                step.run()
            except Exception as exc:  # noqa: BLE001 - one failing step must not stop the others
                step.failures += 1
                step.error = f"{exc.__class__.__name__}: {exc}"[:300]
                logger.exception("%s failed (%d time(s) in a row); it runs again", step.name, step.failures)
                close_old_connections()
                # A start job backs off (the database may still be starting); others keep their pace.
                delay = min(START_RETRY_MAX_S, 0.5 * 2 ** (step.failures - 1)) if step.once else step.every_s
                step.next_at = now + delay
                continue
            if step.failures:
                logger.info("%s works again", step.name)
            step.failures, step.error = 0, ""
            step.done = step.once
            step.next_at = now + step.every_s

    def sleep_s(self, now: float) -> float:
        """Until the next step is due; a step with nothing pending is not waited for."""
        due = [s.next_at for s in self.steps if not s.done and (s.pending is None or s.pending())]
        return max(0.0, min(due, default=60.0) - now)

    def problem(self) -> str:
        """What /ready should hear: the steps failing turn after turn, or ''."""
        failing = [s for s in self.steps if s.failures >= REPORT_AFTER_FAILURES or (s.once and s.failures)]
        return "; ".join(f"{s.name} failing ({s.failures} times): {s.error}" for s in failing)


def jobs_step(name: str, dotted: list[str], every_s: float) -> Step:
    """One step running several jobs: each one guarded, so one failing job never keeps the
    next from running; the step fails (and is reported) if any of them did."""
    jobs = [import_string(job) for job in dotted]

    def run() -> None:
        failed = []
        for job in jobs:
            try:
                job()
            except Exception as exc:  # noqa: BLE001
                logger.exception("clock job %s failed; it runs again next tick", job.__name__)
                close_old_connections()
                failed.append(f"{job.__module__}.{job.__name__}: {exc.__class__.__name__}: {exc}")
        if failed:
            raise RuntimeError("; ".join(failed))

    return Step(name, run, every_s=every_s)


class Command(BaseCommand):
    help = "Watch the camera folders and hand new uploads to the ingest workers."

    def handle(self, *args: Any, **options: Any) -> None:
        stop = threading.Event()
        watcher = CameraWatcher(settings.CAMERA_ROOT, polling=settings.WATCH_POLLING, stable_s=settings.WATCH_STABLE_S)

        def stop_and_wake() -> None:
            stop.set()
            watcher.wake.set()

        def request_stop(*_: object) -> None:
            # From a thread of its own: an Event's set() takes the lock that the wait() this
            # handler interrupted may be holding.
            threading.Thread(target=stop_and_wake, name="stop", daemon=True).start()

        signal.signal(signal.SIGTERM, request_stop)
        signal.signal(signal.SIGINT, request_stop)
        starts = [Step(f"start job {name}", import_string(name), once=True) for name in settings.START_JOBS]
        clock = Clock(
            [
                *starts,
                Step("register uploads", watcher.flush, pending=watcher.has_news),
                Step(
                    "growing uploads",
                    watcher.flush,
                    every_s=max(0.01, settings.WATCH_BATCH_S),
                    pending=watcher.has_growing,
                ),
                jobs_step("fast clock jobs", settings.FAST_CLOCK_JOBS, settings.CLOCK_FAST_S),
                jobs_step("clock jobs", settings.CLOCK_JOBS, settings.SWEEP_S),
                # Off (0) or every few seconds; with no GPU it looks again only every HOMESEC_GPU_RETRY_S.
                *(
                    [Step("gpu sample", import_string(settings.GPU_SAMPLER), every_s=settings.GPU_SAMPLE_S)]
                    if settings.GPU_SAMPLE_S
                    else []
                ),
                Step("rescan", lambda: watcher.scan(watcher.root), every_s=settings.WATCH_RESCAN_S),
            ]
        )
        # The rescan's first turn is the start-up scan inside watcher.start().
        clock.steps[-1].next_at = time.monotonic() + settings.WATCH_RESCAN_S
        heartbeat = start_heartbeat("watcher", problem=clock.problem)
        clock.tick(time.monotonic())  # start jobs first: channels exist before the first alert
        watcher.start()
        mode = "polling" if settings.WATCH_POLLING else "inotify"
        logger.info("watching %s (%s)", settings.CAMERA_ROOT, mode)
        # Asleep until the next clock step is due or the observer has news: no wake-up for
        # uploads that do not come, and one registered as soon as it lands. Files that land
        # while a batch is being registered make the next batch.
        while not stop.is_set():
            watcher.wake.wait(clock.sleep_s(time.monotonic()))
            watcher.wake.clear()
            clock.tick(time.monotonic())
        watcher.stop()
        for name in settings.STOP_JOBS:
            Clock([Step(f"stop job {name}", import_string(name), once=True)]).tick(time.monotonic())
        heartbeat.stop()
