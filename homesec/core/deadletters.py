"""Dead letters: work that failed for good, kept with its payload for inspection and replay."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django.db import transaction
from django.db.models import F
from django.utils import timezone

from homesec.core.models import DeadLetter
from homesec.core.tasks import enqueue


def dead_letter_record(*, key: str, task: str, payload: dict[str, Any], error: str, attempts: int = 1) -> DeadLetter:
    now = timezone.now()
    letter, created = DeadLetter.objects.get_or_create(
        key=key,
        defaults={
            "task": task,
            "payload": payload,
            "error": error[:10000],
            "attempts": attempts,
            "last_failed_at": now,
        },
    )
    if not created:
        DeadLetter.objects.filter(pk=letter.pk).update(
            task=task, payload=payload, error=error[:10000], attempts=F("attempts") + attempts, last_failed_at=now
        )
        letter.refresh_from_db()
    return letter


def dead_letter_replay(*, letters: Iterable[DeadLetter]) -> int:
    """Send each letter's payload to its task again. Tasks are idempotent, so replaying
    twice, or replaying work that has meanwhile succeeded, changes nothing."""
    count = 0
    with transaction.atomic():
        for letter in letters:
            enqueue(letter.task, letter.payload)
            DeadLetter.objects.filter(pk=letter.pk).update(
                replayed_at=timezone.now(), replay_count=F("replay_count") + 1
            )
            count += 1
    return count


def dead_letter_discard(*, letters: Iterable[DeadLetter]) -> int:
    return DeadLetter.objects.filter(pk__in=[letter.pk for letter in letters]).delete()[0]


def dead_letter_clear(*, key: str) -> None:
    """The work behind `key` succeeded after all: its dead letter is no longer news."""
    DeadLetter.objects.filter(key=key).delete()
