"""`manage.py rescan`: the camera folders against the ingest index, by the watcher's own scan."""

from __future__ import annotations

from argparse import ArgumentParser
from typing import Any

from django.conf import settings
from django.core.management.base import CommandError

from cameras.watcher import CameraWatcher
from homesec.core.management.base import MaintenanceCommand
from homesec.core.progress import Progress


class Command(MaintenanceCommand):
    help = (
        "Walk the camera folders and queue for ingest every file the ingest index has not seen (by path, "
        "size and mtime): uploads that arrived while the watcher was stopped, or that it missed."
    )
    epilog = """
examples:
  manage.py rescan --dry-run          list what would be taken, change nothing
  manage.py rescan                    queue them (the workers ingest them)
  manage.py rescan --camera porch     one camera folder only

This is the scan the watcher runs when it starts and every HOMESEC_WATCH_RESCAN_S. Files
modified within HOMESEC_WATCH_STABLE_S may still be uploading: they are listed but left
to the watcher. Queued files are ingested by `manage.py worker` (or `manage.py run`).
"""

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("--dry-run", action="store_true", help="List the files, queue nothing.")
        parser.add_argument("--camera", metavar="FOLDER", help="Only this camera folder (its name under the root).")
        parser.add_argument("--no-progress", action="store_true", help="No progress bar (for scripts and logs).")

    def handle(self, *args: Any, dry_run: bool, camera: str | None, no_progress: bool, **options: Any) -> None:
        watcher = CameraWatcher(settings.CAMERA_ROOT, stable_s=settings.WATCH_STABLE_S)
        top = watcher.root
        if camera:
            top = watcher.root / camera
            if "/" in camera or camera in (".", "..") or not top.is_dir():
                raise CommandError(f"no camera folder {camera!r} under {watcher.root}")
        elif not top.is_dir():
            raise CommandError(f"the camera root {top} is not a folder")
        new, fresh = watcher.unindexed(top)
        for path in new:
            self.stdout.write(path.relative_to(watcher.root).as_posix())
        for path in fresh:
            name = path.relative_to(watcher.root).as_posix()
            self.stdout.write(f"{name}  (still being written: left to the watcher)")
        if dry_run:
            self.stdout.write(f"{len(new)} file(s) not in the ingest index; nothing queued (--dry-run).")
            return
        bar = None if no_progress else Progress(len(new), "queueing")
        watcher.register(new, on_batch=bar.advance if bar else None)
        if bar:
            bar.close()
        self.stdout.write(f"{len(new)} file(s) queued for ingest.")
