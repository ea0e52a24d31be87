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


def django_on_postgresql(bench: str) -> str:
    """Django set up for an in-process bench (bench/pages, bench/api) on the PostgreSQL that
    bench/run.sh started: migrated, any host, DEBUG off. Returns the server's version."""
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "homesec.settings")
    os.environ.setdefault("HOMESEC_ENV_FILE", "/dev/null")
    import django

    django.setup()
    from django.conf import settings
    from django.core.management import call_command
    from django.db import connection

    assert connection.vendor == "postgresql", (
        f"bench/{bench} measures PostgreSQL: run it with bash bench/run.sh {bench}"
    )
    settings.ALLOWED_HOSTS = ["*"]
    settings.DEBUG = False
    call_command("migrate", verbosity=0)
    with connection.cursor() as cursor:
        cursor.execute("SHOW server_version")
        return cursor.fetchone()[0]
