"""Queries shared by every durable work row (ingests, detection runs, ...).

Such a row has a status, `next_attempt_at` (a scheduled retry or deferral), `claimed_at`
(when a worker took it) and `queued_at` (when its task was last sent). A row is the truth;
a task message is only a nudge that may be lost (the Redis broker does not acknowledge).
"""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.db.models import Q

from homesec.core.tasks import enqueue


def _stale(now, stale_s: float | None):
    return now - timedelta(seconds=settings.INGEST_STALE_S if stale_s is None else stale_s)


def claimable(now, *, waiting: str, working: str, stale_s: float | None = None) -> Q:
    """Rows a worker may take now: waiting and due, or taken by a worker that has been
    at it longer than any task may run (so it died). `stale_s` defaults to the longest a
    task may run; work with a shorter bound of its own (a notification) passes its own."""
    stale = _stale(now, stale_s)
    due = Q(next_attempt_at__isnull=True) | Q(next_attempt_at__lte=now)
    return Q(due, status=waiting) | Q(status=working, claimed_at__lt=stale)


def needs_resend(now, *, waiting: str, working: str, stale_s: float | None = None) -> Q:
    """Rows whose task should be sent again: a due retry, a message sent long ago that
    nobody took, or an abandoned claim (not re-sent again within a stale period)."""
    stale = _stale(now, stale_s)
    return (
        Q(status=waiting, next_attempt_at__isnull=True, queued_at__lt=stale)
        | Q(status=waiting, next_attempt_at__lte=now)
        | Q(status=working, claimed_at__lt=stale, queued_at__lt=stale)
    )


def resend(model, ids: list[int], *, task: str, now, batch: int, cluster: str | None = None) -> None:
    """Mark rows sent now (the next sweep waits a full stale period before sending them
    again), make due retries plain waiting rows, and send their task in batches."""
    model.objects.filter(pk__in=ids).update(queued_at=now)
    model.objects.filter(pk__in=ids, next_attempt_at__lte=now).update(next_attempt_at=None)
    for start in range(0, len(ids), batch):
        enqueue(task, ids[start : start + batch], cluster=cluster)
