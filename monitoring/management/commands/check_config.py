"""`manage.py check_config`: every setting, and whether what they point at works."""

from __future__ import annotations

import importlib
import os
import shutil
import subprocess
import tempfile
from argparse import ArgumentParser
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
from django.conf import settings
from django.core.checks import WARNING, run_checks
from django.core.management.base import CommandError
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from homesec.core.debug import SecretsHidingFilter
from homesec.core.management.base import MaintenanceCommand

PROBE_TIMEOUT_S = 3.0


def _where(url: str) -> str:
    """A URL as it may be printed: scheme, host and port (no user, password, path or query)."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.hostname}{f':{parts.port}' if parts.port else ''}"


def _writable(path: Path) -> str:
    """Try it: a file written and removed (os.access cannot tell a read-only mount)."""
    try:
        with tempfile.NamedTemporaryFile(dir=path, prefix=".homesec-check-"):
            pass
    except OSError as error:
        return f"{path} is not a folder homesec can write to ({error.strerror or error})"
    return ""


def _answers(url: str, headers: dict[str, str] | None = None) -> httpx.Response | str:
    try:
        return httpx.get(url, timeout=PROBE_TIMEOUT_S, headers=headers or {})
    except httpx.HTTPError as error:
        return f"not reachable at {_where(url)} ({error.__class__.__name__}: {error})"


class Command(MaintenanceCommand):
    help = (
        "Print every setting (secrets masked) and check what they point at: the database and its migrations, "
        "Redis, the camera root, media root and backup folder (written to), free disk, the detector and the "
        "language model (called over HTTP), pg_dump, the notification channels, and the system checks. "
        "Exits non-zero with the list of problems."
    )
    epilog = """
examples:
  manage.py check_config                 settings and checks
  manage.py check_config --no-settings   the checks only (for a monitor or a script)

The offline parts also run as Django system checks on every manage.py command (ids
core.W101-core.W104); `manage.py check` runs those alone.
"""
    requires_system_checks: list[str] = []  # run below, and listed with the other problems

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("--no-settings", action="store_true", help="Do not print the settings.")

    def handle(self, *args: Any, no_settings: bool, **options: Any) -> None:
        if not no_settings:
            self._settings()
        problems: list[str] = []
        for name, check in self._checks():
            try:
                found = check()
            except Exception as error:  # noqa: BLE001 - a check that breaks is a problem found, not a crash
                found = [f"{error.__class__.__name__}: {error}"]
            self.stdout.write(f"{'ok  ' if not found else 'FAIL'}  {name}")
            problems += [f"{name}: {problem}" for problem in found]
        if problems:
            self.stdout.write(f"\n{len(problems)} problem(s):")
            for problem in problems:
                self.stdout.write(f"  - {problem}")
            raise CommandError(f"{len(problems)} configuration problem(s)")
        self.stdout.write("\nNo problems found.")

    def _settings(self) -> None:
        module = importlib.import_module(os.environ.get("DJANGO_SETTINGS_MODULE") or "homesec.settings")
        hide = SecretsHidingFilter()
        self.stdout.write("Settings:")
        for name in sorted(n for n in vars(module) if n.isupper() and not n.startswith("_")):
            value = getattr(settings, name)
            # An empty value gives nothing away, and says the setting is not set.
            value = repr(hide.cleanse_setting(name, value) if value else value)
            self.stdout.write(f"  {name} = {value if len(value) <= 150 else value[:147] + '...'}")
        self.stdout.write("")

    def _checks(self) -> list[tuple[str, Callable[[], list[str]]]]:
        return [
            ("system checks", self._system_checks),
            ("database", self._database),
            ("redis", self._redis),
            ("camera root", lambda: [p for p in [_writable(settings.CAMERA_ROOT)] if p]),
            ("media root", lambda: [p for p in [_writable(settings.MEDIA_ROOT)] if p]),
            ("free disk", self._free_disk),
            ("detector", self._detector),
            ("language model", self._llm),
            ("backups", self._backups),
            ("channels", self._channels),
        ]

    def _system_checks(self) -> list[str]:
        return [f"{m.id}: {m.msg}" for m in run_checks(include_deployment_checks=False) if m.level >= WARNING]

    def _database(self) -> list[str]:
        connection.ensure_connection()
        executor = MigrationExecutor(connection)
        plan = executor.migration_plan(executor.loader.graph.leaf_nodes())
        return [f"{len(plan)} migration(s) not applied: run manage.py migrate"] if plan else []

    def _redis(self) -> list[str]:
        if not settings.REDIS_URL:
            return []
        import redis

        try:
            redis.Redis.from_url(settings.REDIS_URL, socket_connect_timeout=PROBE_TIMEOUT_S, socket_timeout=2).ping()
        except redis.RedisError as error:
            return [f"not reachable at {_where(settings.REDIS_URL)} ({error})"]
        return []

    def _free_disk(self) -> list[str]:
        free_gb = shutil.disk_usage(settings.DATA_DIR).free / 1e9
        if free_gb < settings.MIN_FREE_GB:
            return [f"{free_gb:.2f} GB free under {settings.DATA_DIR}: HOMESEC_MIN_FREE_GB={settings.MIN_FREE_GB}"]
        return []

    def _detector(self) -> list[str]:
        if settings.DETECTOR != "http":
            return []  # runs in the worker itself; its model file is a system check (core.E002)
        answer = _answers(settings.DETECTOR_URL)
        return [answer] if isinstance(answer, str) else []

    def _llm(self) -> list[str]:
        problems = []
        for url, _model, key in settings.LLM_PROVIDERS:
            headers = {"Authorization": f"Bearer {key}"} if key else {}
            answer = _answers(url.rstrip("/") + "/v1/models", headers)
            if isinstance(answer, str):
                problems.append(answer)
            elif answer.status_code in (401, 403):
                problems.append(f"{_where(url)} refused the API key (HTTP {answer.status_code})")
        return problems

    def _backups(self) -> list[str]:
        problems = []
        folder = settings.BACKUP_DIR
        if folder is not None:  # the first backup makes it, where it is not there yet
            existing = next(path for path in (folder, *folder.parents) if path.exists())
            problems += [p for p in [_writable(existing)] if p]
        if connection.vendor == "postgresql":
            problems += self._pg_dump_version()
        return problems

    def _pg_dump_version(self) -> list[str]:
        """pg_dump refuses a server of a newer major version than its own."""
        from monitoring.backup import BackupError, pg_tool

        try:
            tool = pg_tool("pg_dump")
        except BackupError as error:
            return [str(error)]
        version = subprocess.run([tool, "--version"], capture_output=True, text=True, timeout=10).stdout
        major = int(version.split()[-1].split(".")[0]) if version.split() else 0
        server = connection.cursor().connection.info.server_version // 10000
        if major < server:
            return [f"{tool} is version {major}, older than the server's {server}: install postgresql-client-{server}"]
        return []

    def _channels(self) -> list[str]:
        from alerts.delivery import channel_problems
        from alerts.models import Channel

        problems = []
        for channel in Channel.objects.filter(enabled=True).select_related("owner"):
            found = channel_problems(
                kind=channel.kind, config=channel.config, owner=channel.owner, secret=channel.secrets.get("secret", "")
            )
            problems += [f"{channel.name!r} ({channel.kind}): {problem}" for problem in found]
        return problems
