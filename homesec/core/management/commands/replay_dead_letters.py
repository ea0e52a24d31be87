"""`manage.py replay_dead_letters`: failed work sent to its task again, as the console does."""

from __future__ import annotations

from argparse import ArgumentParser
from typing import Any

from django.core.management.base import CommandError

from homesec.core.deadletters import dead_letter_replay
from homesec.core.management.base import MaintenanceCommand
from homesec.core.models import DeadLetter

# The stages that record dead letters (the first part of their keys).
STAGES = ("ingest", "detect", "transcode", "notification")


def stage_of(letter: DeadLetter) -> str:
    """A letter's stage is its key's first part: ingest, detect, transcode, notification."""
    return letter.key.split(":", 1)[0]


class Command(MaintenanceCommand):
    help = "Replay dead letters (work that failed for good): send each one's payload to its task again."
    epilog = """
examples:
  manage.py replay_dead_letters --list                  what is there, by stage
  manage.py replay_dead_letters --stage notification    every failed notification
  manage.py replay_dead_letters --id 12 --id 15
  manage.py replay_dead_letters --all

Stages: ingest, detect, transcode, notification (the part of a letter's key before ':').
Tasks are idempotent: replaying work that has succeeded since changes nothing. Every replay
is written to the audit log. The admin's "Dead letters" page does the same.
"""

    def add_arguments(self, parser: ArgumentParser) -> None:
        which = parser.add_mutually_exclusive_group(required=True)
        which.add_argument("--stage", help="Every letter of this stage.")
        which.add_argument(
            "--id", type=int, action="append", dest="ids", metavar="ID", help="This letter (again for more)."
        )
        which.add_argument("--all", action="store_true", dest="replay_all", help="Every letter.")
        which.add_argument("--list", action="store_true", dest="list_only", help="List the letters, replay nothing.")

    def handle(
        self,
        *args: Any,
        stage: str | None,
        ids: list[int] | None,
        replay_all: bool,
        list_only: bool,
        **options: Any,
    ) -> None:
        letters = DeadLetter.objects.order_by("pk")
        if list_only:
            for letter in letters:
                replayed = f", replayed {letter.replay_count}x" if letter.replay_count else ""
                self.stdout.write(f"{letter.pk}\t{stage_of(letter)}\t{letter.key}\t{letter.error[:100]}{replayed}")
            return
        if ids:
            chosen = list(letters.filter(pk__in=ids))
            unknown = sorted(set(ids) - {letter.pk for letter in chosen})
            if unknown:
                raise CommandError(f"no dead letter with id {', '.join(map(str, unknown))}")
        else:
            present = {stage_of(letter) for letter in letters}
            if stage and stage not in STAGES and stage not in present:
                raise CommandError(f"no stage {stage!r}: the stages are {', '.join(STAGES)}")
            chosen = [letter for letter in letters if replay_all or stage_of(letter) == stage]
        count = dead_letter_replay(letters=chosen)  # it writes the audit log's entry
        self.stdout.write(f"Replaying {count} dead letter(s).")
