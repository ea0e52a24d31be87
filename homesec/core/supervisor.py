"""Starts homesec's long-running processes, restarts one that dies, stops all on a signal.

Each child runs in its own process group. When a child dies we end its whole group
first: qcluster's worker processes outlive their parent otherwise, and a restart would
then run two clusters side by side.

This module imports nothing but the standard library: `manage.py run` sets up with Django
loaded, then replaces itself (exec, same pid) with `python -m homesec.core.supervisor SPECS`,
so the process that only waits on its children does not keep Django's ~120 MB (bench/footprint).
"""

from __future__ import annotations

import contextlib
import ctypes
import json
import logging
import os
import signal
import subprocess
import sys
import time
from collections import deque
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from types import FrameType

logger = logging.getLogger("homesec.supervisor")

RESTART_WINDOW_S = 60.0
RESTART_DELAY_MAX_S = 30.0
STOP_GRACE_S = 15.0
PR_SET_PDEATHSIG = 1  # prctl(2)


@dataclass
class ProcessSpec:
    """A program to run (`argv`), or a function to run in a forked copy of this process
    (`target`, returning the exit code): a fork shares the pages this process has loaded
    (Django) instead of loading them again."""

    name: str
    argv: list[str]
    env: dict[str, str] = field(default_factory=dict)
    target: Callable[[], int] | None = None


class ForkedChild:
    """`target` in a forked child, in a session of its own like the programs, with the part
    of Popen's interface the supervisor uses. Fork only from a process with no other thread
    and no open database connection: the child would inherit them half-way."""

    def __init__(self, target: Callable[[], int]) -> None:
        self.returncode: int | None = None
        pid = os.fork()
        if pid == 0:  # pragma: no cover - the child's code runs in the child
            code = 1
            try:
                os.setsid()
                _die_with_supervisor()
                signal.signal(signal.SIGTERM, signal.SIG_DFL)
                signal.signal(signal.SIGINT, signal.SIG_DFL)
                code = target()
            except BaseException:  # noqa: BLE001 - whatever happens, the child must not return into the parent's code
                logger.exception("forked child failed")
            finally:
                sys.stdout.flush()
                sys.stderr.flush()
                os._exit(code)
        self.pid = pid

    def poll(self) -> int | None:
        if self.returncode is None:
            done, status = os.waitpid(self.pid, os.WNOHANG)
            if done:
                self.returncode = os.waitstatus_to_exitcode(status)
        return self.returncode

    def terminate(self) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.kill(self.pid, signal.SIGTERM)

    def wait(self, timeout: float) -> int:
        deadline = time.monotonic() + timeout
        while (code := self.poll()) is None:
            if time.monotonic() > deadline:
                raise subprocess.TimeoutExpired(f"pid {self.pid}", timeout)
            time.sleep(0.05)
        return code


@dataclass
class Child:
    spec: ProcessSpec
    popen: subprocess.Popen[bytes] | ForkedChild | None = None
    restarts: deque[float] = field(default_factory=deque)
    restart_at: float | None = None


def _die_with_supervisor() -> None:
    """In the child, before it runs (Linux): SIGTERM to it when the supervisor dies, even by
    SIGKILL or the OOM killer, so no web server or worker goes on without its supervisor
    (in a session of its own, a child would otherwise live on, orphaned)."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


def restart_delay(recent_restarts: int) -> float:
    """0.5 s for the first restart in a minute, doubling after each one, capped at 30 s."""
    return min(RESTART_DELAY_MAX_S, 0.5 * 2 ** max(0, recent_restarts))


def kill_group(pgid: int, sig: int) -> None:
    try:
        os.killpg(pgid, sig)
    except (ProcessLookupError, PermissionError):
        pass


class Supervisor:
    def __init__(self, specs: list[ProcessSpec], *, poll_s: float = 0.5) -> None:
        self.children = [Child(spec) for spec in specs]
        self.poll_s = poll_s
        self.stopping = False

    def _spawn(self, child: Child) -> None:
        if child.spec.target is not None:
            child.popen = ForkedChild(child.spec.target)
        else:
            env = {**os.environ, **child.spec.env}
            child.popen = subprocess.Popen(
                child.spec.argv, env=env, start_new_session=True, preexec_fn=_die_with_supervisor
            )
        child.restart_at = None
        logger.info("started %s (pid %s)", child.spec.name, child.popen.pid)

    def request_stop(self, signum: int | None = None, frame: FrameType | None = None) -> None:
        self.stopping = True

    def run(self) -> int:
        signal.signal(signal.SIGINT, self.request_stop)
        signal.signal(signal.SIGTERM, self.request_stop)
        return self.supervise()

    def supervise(self) -> int:
        """Run until stopped; without signal handlers, which only the main thread may install."""
        for child in self.children:
            self._spawn(child)
        try:
            while not self.stopping:
                self._tick(time.monotonic())
                time.sleep(self.poll_s)
        finally:
            self.stop_all()
        return 0

    def _tick(self, now: float) -> None:
        for child in self.children:
            if child.popen is not None and child.popen.poll() is not None:
                code = child.popen.returncode
                # End the group: orphans of the dead leader must not keep running.
                kill_group(child.popen.pid, signal.SIGKILL)
                while child.restarts and now - child.restarts[0] > RESTART_WINDOW_S:
                    child.restarts.popleft()
                delay = restart_delay(len(child.restarts))
                child.restarts.append(now)
                child.restart_at = now + delay
                child.popen = None
                logger.warning(
                    "%s exited with code %s; restarting in %.1f s (%d restart(s) in the last minute)",
                    child.spec.name,
                    code,
                    delay,
                    len(child.restarts),
                )
            if child.popen is None and child.restart_at is not None and now >= child.restart_at:
                self._spawn(child)

    def stop_all(self) -> None:
        running = [(c, c.popen) for c in self.children if c.popen is not None and c.popen.poll() is None]
        for child, popen in running:
            logger.info("stopping %s", child.spec.name)
            # Only the leader: it stops its own children in order. A SIGTERM to the whole
            # group kills qcluster's sentinel mid-wait and deadlocks its parent's shutdown.
            popen.terminate()
        deadline = time.monotonic() + STOP_GRACE_S
        for child, popen in running:
            try:
                popen.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                logger.warning("%s did not stop in %.0f s; killing it", child.spec.name, STOP_GRACE_S)
        for child in self.children:
            if child.popen is not None:
                kill_group(child.popen.pid, signal.SIGKILL)
                child.popen.poll()


def exec_supervisor(specs: list[ProcessSpec]) -> None:
    """Become the lean supervisor of `specs` (never returns): same pid, so a Ctrl-C, a
    SIGTERM or a PR_SET_PDEATHSIG of whatever started `manage.py run` still reaches it."""
    sys.stdout.flush()
    sys.stderr.flush()
    if any(spec.target is not None for spec in specs):
        raise ValueError("a function cannot cross exec: the lean supervisor runs programs only")
    payload = json.dumps([asdict(spec) for spec in specs])
    os.execv(sys.executable, [sys.executable, "-m", "homesec.core.supervisor", payload])


def main(argv: list[str]) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    specs = [ProcessSpec(**spec) for spec in json.loads(argv[0])]
    return Supervisor(specs).run()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
