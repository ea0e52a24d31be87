"""Dead letters: work that failed for good, kept with its payload for inspection and replay."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django.db import transaction
from django.db.models import F
from django.dispatch import Signal
from django.utils import timezone

from homesec.core.audit import audit
from homesec.core.models import DeadLetter
from homesec.core.tasks import enqueue

# Sent when a piece of work first becomes a dead letter, in the transaction that records
# it, with `key` (monitoring counts dead letters by stage from it: homesec.core imports no app).
dead_letter_recorded = Signal()


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
    if created:
        dead_letter_recorded.send(sender=DeadLetter, key=key)
    else:
        DeadLetter.objects.filter(pk=letter.pk).update(
            task=task, payload=payload, error=error[:10000], attempts=F("attempts") + attempts, last_failed_at=now
        )
        letter.refresh_from_db()
    return letter


def dead_letter_replay(*, letters: Iterable[DeadLetter]) -> int:
    """Send each letter's payload to its task again. Tasks are idempotent, so replaying
    twice, or replaying work that has meanwhile succeeded, changes nothing."""
    keys = []
    with transaction.atomic():
        for letter in letters:
            enqueue(letter.task, letter.payload)
            DeadLetter.objects.filter(pk=letter.pk).update(
                replayed_at=timezone.now(), replay_count=F("replay_count") + 1
            )
            keys.append(letter.key)
        if keys:
            _audit_letters("deadletter.replay", keys)
    return len(keys)


def dead_letter_discard(*, letters: Iterable[DeadLetter]) -> int:
    letters = list(letters)
    with transaction.atomic():
        if letters:
            _audit_letters("deadletter.discard", [letter.key for letter in letters])
        return DeadLetter.objects.filter(pk__in=[letter.pk for letter in letters]).delete()[0]


def _audit_letters(action: str, keys: list[str]) -> None:
    """One entry for all of them (a replay of everything may be thousands), the first keys named."""
    audit(action=action, target=f"{len(keys)} dead letter(s)", detail={"count": len(keys), "keys": keys[:100]})


def dead_letter_clear(*, key: str) -> None:
    """The work behind `key` succeeded after all: its dead letter is no longer news."""
    DeadLetter.objects.filter(key=key).delete()
