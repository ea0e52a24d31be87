"""`manage.py restore SRC`: a backup into an empty homesec."""

from __future__ import annotations

from argparse import ArgumentParser
from pathlib import Path
from typing import Any

from django.core.management.base import CommandError

from homesec.core.management.base import MaintenanceCommand
from monitoring.backup import BackupError
from monitoring.restore import backup_restore


class Command(MaintenanceCommand):
    help = (
        "Restore the backup in SRC (made by `manage.py backup`) into this homesec's data directory and "
        "database, which must be empty; every file is checked against the manifest first, then the "
        "database is migrated. Nothing is ever overwritten."
    )
    epilog = """
examples:
  HOMESEC_DATA_DIR=/srv/homesec manage.py restore /mnt/usb/homesec-2026-12-07
  DATABASE_URL=postgres://homesec@db/homesec manage.py restore /backups/homesec-20261207-031500

Stop homesec first. The target is empty when its data directory and media root hold no
files (a fresh secret_key aside) and the database has no homesec rows: a new SQLite file, or
a PostgreSQL database just made with createdb (an empty migrated one is accepted too). A
backup restores into the database kind it was taken from.
"""
    # A restore may run before the database exists: no system checks against it.
    requires_system_checks: list[str] = []

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("src", type=Path, help="The backup folder (it holds manifest.json).")
        parser.add_argument("--no-progress", action="store_true", help="No progress bar (for scripts and logs).")

    def handle(self, *args: Any, src: Path, no_progress: bool, **options: Any) -> None:
        try:
            manifest, notes = backup_restore(src=src, progress=not no_progress)
        except (BackupError, OSError) as error:
            raise CommandError(f"restore failed: {error}") from None
        for note in notes:
            self.stderr.write(self.style.WARNING(note))
        counts = manifest["counts"]
        self.stdout.write(
            f"Restored the backup of {manifest['created_at']} (homesec {manifest['homesec_version']}): "
            f"{counts['events']} events, {counts['detections']} detections, {len(manifest['files'])} files."
        )
