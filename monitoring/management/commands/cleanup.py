"""`manage.py cleanup`: one retention run now (monitoring/retention/), or its dry run."""

from __future__ import annotations

import getpass
from argparse import ArgumentParser
from typing import Any

from django.core.management.base import CommandError

from homesec.core.management.base import MaintenanceCommand
from homesec.core.progress import Progress
from monitoring.retention import CleanupBusy, bytes_label, cleanup_run


class Command(MaintenanceCommand):
    help = (
        "Delete what retention says may go: old events, detections, uploads, notifications and audit entries, "
        "media over HOMESEC_MEDIA_BUDGET_GB or under the free-space floor, and orphan media files. "
        "Writes a report (the console's Cleanup runs). Exits 1 when another run is going on or this one fails."
    )

    epilog = """
examples:
  manage.py cleanup --dry-run     print what would go (counts by kind, bytes), change nothing
  manage.py cleanup               delete it now, with a progress bar on stderr

The watcher's clock runs the same cleanup once a day on the slow lane. What goes: closed
events and their detections after HOMESEC_RETAIN_EVENTS_DAYS, uploads no kept detection
needs, notifications after HOMESEC_RETAIN_DELIVERIES_DAYS, audit entries after
HOMESEC_RETAIN_AUDIT_DAYS; then the oldest media while over HOMESEC_MEDIA_BUDGET_GB or under
HOMESEC_MIN_FREE_GB free, never an open event's, work in flight, or an unreviewed important
event's younger than HOMESEC_KEEP_IMPORTANT_DAYS. See docs/OPERATIONS.md.
"""

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument(
            "--dry-run", action="store_true", help="Print what would go and change nothing (rows and files)."
        )

    def handle(self, *args: Any, dry_run: bool = False, **options: Any) -> None:
        # The bar goes to stderr, and only for a real run: a dry run is quick and its output is the point.
        progress = Progress if options["verbosity"] >= 1 else None
        try:
            run = cleanup_run(trigger="command", dry_run=dry_run, actor_name=_who(), progress=progress)
        except CleanupBusy as exc:
            raise CommandError(f"{exc}; try again when it has finished") from None
        except Exception as exc:
            raise CommandError(
                f"cleanup failed: {exc.__class__.__name__}: {exc} (see the report in the console)"
            ) from exc
        verb = "Would delete" if dry_run else "Deleted"
        self.stdout.write(f"Cleanup run {run.pk}{' (dry run: nothing was changed)' if dry_run else ''}")
        self.stdout.write(f"{verb}:" if run.deleted else f"{verb}: nothing")
        for kind, count in sorted(run.deleted.items()):
            self.stdout.write(f"  {kind}: {count}")
        self.stdout.write(f"{'Would free' if dry_run else 'Freed'} {bytes_label(run.bytes_freed)}")
        for reason, count in sorted(run.kept.items()):
            self.stdout.write(f"Kept ({reason}): {count}")


def _who() -> str:
    try:
        return f"{getpass.getuser()} (manage.py cleanup)"
    except (KeyError, OSError):  # no name for this uid (a container)
        return "manage.py cleanup"
