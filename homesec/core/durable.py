"""Queries shared by every durable work row (ingests, detection runs, clips, notifications).

Such a row has a status, `next_attempt_at` (a scheduled retry or deferral), `claimed_at`
(when a worker took it), `queued_at` (when its task was last sent) and a count of tries.
A row is the truth; a task message is only a nudge that may be lost (the Redis broker does
not acknowledge). Each kind of row runs on one lane (homesec/core/tasks.py), and its stale
period is the longest a task of that lane may run.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from django.conf import settings
from django.db.models import Model, Q

from homesec.core.retry import MAX_TRIES
from homesec.core.tasks import enqueue


def _stale(now: datetime, stale_s: float | None) -> datetime:
    return now - timedelta(seconds=settings.INGEST_STALE_S if stale_s is None else stale_s)


def claimable(now: datetime, *, waiting: str, working: str, stale_s: float | None = None, field: str = "status") -> Q:
    """Rows a worker may take now: waiting and due, or taken by a worker that has been
    at it longer than any task may run (so it died). `stale_s` defaults to the main
    lane's; rows of another lane pass theirs. `field` is the row's status field."""
    due = Q(next_attempt_at__isnull=True) | Q(next_attempt_at__lte=now)
    return Q(due, **{field: waiting}) | abandoned(now, working=working, stale_s=stale_s, field=field)


def abandoned(now: datetime, *, working: str, stale_s: float | None = None, field: str = "status") -> Q:
    """Rows whose worker died holding them: taken longer ago than any task may run."""
    return Q(**{field: working}, claimed_at__lt=_stale(now, stale_s))


def needs_resend(
    now: datetime, *, waiting: str, working: str, stale_s: float | None = None, field: str = "status"
) -> Q:
    """Rows whose task should be sent again: a due retry, a message sent long ago that
    nobody took, or an abandoned claim (not re-sent again within a stale period)."""
    stale = _stale(now, stale_s)
    return (
        Q(**{field: waiting}, next_attempt_at__isnull=True, queued_at__lt=stale)
        | Q(**{field: waiting}, next_attempt_at__lte=now)
        | Q(**{field: working}, claimed_at__lt=stale, queued_at__lt=stale)
    )


def resend(model: type[Model], ids: list[int], *, task: str, now: datetime, batch: int) -> None:
    """Mark rows sent now (the next sweep waits a full stale period before sending them
    again), make due retries plain waiting rows, and send their task in batches."""
    model._default_manager.filter(pk__in=ids).update(queued_at=now)
    model._default_manager.filter(pk__in=ids, next_attempt_at__lte=now).update(next_attempt_at=None)
    for start in range(0, len(ids), batch):
        enqueue(task, ids[start : start + batch])


def send_suspects_alone(model: type[Model], ids: list[int], *, task: str, now: datetime, working: str) -> list[int]:
    """Of a batch, rows whose worker died are sent again one per task, so a file that
    kills its worker (a crash in a decoder, the time limit, memory) takes only itself down
    and its batch mates go on. Returns the ids to work on now."""
    if len(ids) < 2:
        return list(ids)
    suspects = set(
        model._default_manager.filter(abandoned(now, working=working), pk__in=ids).values_list("pk", flat=True)
    )
    for pk in sorted(suspects):
        enqueue(task, [pk])
    return [pk for pk in ids if pk not in suspects]


def out_of_tries(tries: int) -> bool:
    """A row taken this many times, the last ones never finishing, is given up on."""
    return tries > MAX_TRIES


def worker_died(tries: int) -> str:
    return (
        f"gave up after {tries - 1} tries: the worker died while working on it "
        "(killed at its time limit, out of memory, or a crash)"
    )
