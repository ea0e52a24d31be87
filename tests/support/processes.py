"""Real homesec processes on loopback for the tests: free ports, polling, the environment
and database of a child process, `manage.py` run to completion or started as a child
process group (`Proc`; the `spawn` fixture in tests/conftest.py ends them after a test)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import quote

import httpx

REPO = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for(predicate, *, timeout: float, interval: float = 0.1, what="condition"):
    """Poll `predicate` until truthy; `what` (a string, or a callable for a late
    description of the state) names what was awaited when it times out."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout} s waiting for {what() if callable(what) else what}")


def database_url_for_tests() -> str:
    """The URL of the database this test session uses (pytest-django's test database)."""
    from django.db import connection

    cfg = connection.settings_dict
    if connection.vendor == "sqlite":
        return f"sqlite:///{cfg['NAME']}"
    auth = quote(cfg["USER"] or "")
    if cfg["PASSWORD"]:
        auth += ":" + quote(cfg["PASSWORD"])
    return f"postgres://{auth}@{cfg['HOST']}:{cfg['PORT']}/{cfg['NAME']}"


def process_env(data_dir: Path, **extra: str) -> dict[str, str]:
    from django.conf import settings

    env = {
        **os.environ,
        # Task payloads are signed: every process of one homesec needs the same key.
        "HOMESEC_SECRET_KEY": settings.SECRET_KEY,
        "HOMESEC_DATA_DIR": str(data_dir),
        "HOMESEC_ENV_FILE": "/dev/null",
        "PYTHONUNBUFFERED": "1",
    }
    env.update(extra)
    return {k: v for k, v in env.items() if v is not None and v != "<unset>"}


def manage(*args: str, env: dict[str, str], timeout: float = 60, umask: int = -1) -> str:
    done = subprocess.run(
        [sys.executable, str(REPO / "manage.py"), *args],
        env=env,
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=timeout,
        umask=umask,
    )
    assert done.returncode == 0, f"manage.py {' '.join(args)} failed:\n{done.stdout}\n{done.stderr}"
    return done.stdout


class Proc:
    """A child process in its own group, ended with its whole group."""

    def __init__(self, argv: list[str], env: dict[str, str], log: Path) -> None:
        self.log_path = log
        self.log = log.open("wb")
        self.popen = subprocess.Popen(
            argv, env=env, cwd=REPO, stdout=self.log, stderr=subprocess.STDOUT, start_new_session=True
        )

    def output(self) -> str:
        self.log.flush()
        return self.log_path.read_text(errors="replace")

    def kill(self) -> None:
        try:
            os.killpg(self.popen.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.popen.wait()
        self.log.close()

    def stop(self, timeout: float = 20) -> None:
        if self.popen.poll() is None:
            self.popen.terminate()
            try:
                self.popen.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                pass
        try:
            os.killpg(self.popen.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.popen.poll()
        self.log.close()


def pipeline_env(tmp_path: Path, **extra: str) -> tuple[dict[str, str], Path]:
    """Environment for real homesec processes on this test's database, with a fresh
    camera root under tmp_path and a fast clock. Returns (env, camera root)."""
    root = tmp_path / "var" / "cameras"
    root.mkdir(parents=True)
    env = process_env(
        tmp_path / "var",
        DATABASE_URL=database_url_for_tests(),
        HOMESEC_CAMERA_ROOT=str(root),
        HOMESEC_SWEEP_S="0.5",
        **extra,
    )
    return env, root


# The lanes' workers, as `manage.py run` starts them.
ALERT_WORKER = ["worker", "--cluster", "alerts", "--role", "alert-worker"]
SLOW_WORKER = ["worker", "--cluster", "slow", "--role", "slow-worker"]


def start_manage(spawn, env: dict[str, str], *commands: list[str] | str) -> list[Proc]:
    """Start `manage.py` commands; a watcher is waited for until its watches are in place."""
    procs = []
    for command in commands:
        argv = [command] if isinstance(command, str) else command
        proc = spawn([sys.executable, str(REPO / "manage.py"), *argv], env, name=argv[0])
        if argv[0] == "watch_cameras":
            wait_for(lambda p=proc: "watching" in p.output(), timeout=20, what=lambda p=proc: p.output())
        procs.append(proc)
    return procs


def start_daphne(spawn, env: dict[str, str]) -> tuple[Proc, str]:  # noqa: ANN001 (the spawn fixture)
    """daphne serving homesec on a free port with the static files `make run` collects; the
    process and its base URL. It is not waited for: see `wait_answers`."""
    manage("collectstatic", "--noinput", env=env)
    port = free_port()
    proc = spawn(
        [sys.executable, "-m", "daphne", "-b", "127.0.0.1", "-p", str(port), "homesec.asgi:application"],
        env,
        name="daphne",
    )
    return proc, f"http://127.0.0.1:{port}"


def wait_answers(url: str, proc: Proc, timeout: float = 20) -> None:
    """Until `url` answers 200 (the process's output is the failure's message)."""

    def up() -> bool:
        try:
            return httpx.get(url, timeout=2).status_code == 200
        except httpx.HTTPError:
            return False

    wait_for(up, timeout=timeout, what=proc.output)
