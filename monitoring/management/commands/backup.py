"""`manage.py backup DEST`: a consistent backup of this homesec while it runs."""

from __future__ import annotations

from argparse import ArgumentParser
from pathlib import Path
from typing import Any

from django.core.management.base import CommandError

from homesec.core.management.base import MaintenanceCommand
from monitoring.backup import BackupError, backup_audit, backup_create


class Command(MaintenanceCommand):
    help = (
        "Write a backup of this homesec into DEST (a new or empty folder) while it runs: the database "
        "(SQLite's online backup, or pg_dump on PostgreSQL), the media files, the uploads the database "
        "names, the secret key, and manifest.json with every file's size and sha256."
    )
    epilog = """
examples:
  manage.py backup /mnt/usb/homesec-2026-12-07
  manage.py backup /backups/today --link-dest /backups/yesterday

The database is copied first and the files it names after: a file deleted meanwhile is
listed under "missing" in the manifest. Restore with `manage.py restore DEST`.
Scheduled daily backups: HOMESEC_BACKUP_DIR (docs/OPERATIONS.md, "Backups").
"""

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("dest", type=Path, help="A folder that does not exist yet, or is empty.")
        parser.add_argument(
            "--link-dest",
            type=Path,
            help="An earlier backup: files unchanged since (same size and mtime) are hard-linked to it, not copied.",
        )
        parser.add_argument("--no-progress", action="store_true", help="No progress bar (for scripts and logs).")

    def handle(self, *args: Any, dest: Path, link_dest: Path | None, no_progress: bool, **options: Any) -> None:
        try:
            manifest = backup_create(dest=dest, link_dest=link_dest, progress=not no_progress)
        except (BackupError, OSError) as error:
            raise CommandError(f"backup failed: {error}") from None
        backup_audit(dest=dest, manifest=manifest)
        counts = manifest["counts"]
        self.stdout.write(
            f"Backup written to {dest}: {len(manifest['files'])} files, {manifest['bytes'] / 1e6:.1f} MB; "
            f"{counts['events']} events, {counts['detections']} detections; "
            f"{len(manifest['missing'])} file(s) deleted since the snapshot (listed as missing)."
        )
