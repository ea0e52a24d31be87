"""Helpers the benchmarks share."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q / 100 * (len(ordered) - 1))))]


def start(commands: list[str | list[str]], env: dict[str, str]) -> list[subprocess.Popen]:
    """homesec processes (`manage.py COMMAND [ARGS]`), each in its own process group."""
    manage = str(REPO / "manage.py")
    return [
        subprocess.Popen([sys.executable, manage, *([c] if isinstance(c, str) else c)], env=env, start_new_session=True)
        for c in commands
    ]


def stop(procs: list[subprocess.Popen]) -> None:
    for proc in procs:
        proc.terminate()
    for proc in procs:
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
