"""Enqueueing: every hop is a row first, then a message sent once the row is committed."""

from __future__ import annotations

import logging

from django.db import transaction

logger = logging.getLogger(__name__)


def enqueue(func: str, *args, cluster: str | None = None) -> None:
    """Queue `func` (a dotted name, so apps need not import each other) after commit.

    A lost message is not lost work: the rows stay pending and a sweep re-enqueues them.
    """

    def send() -> None:
        from django_q.tasks import async_task

        try:
            options = {"cluster": cluster} if cluster else {}
            async_task(func, *args, **options)
        except Exception:  # noqa: BLE001 - the sweep re-sends what the broker did not take
            logger.warning("could not enqueue %s; the sweep will retry", func, exc_info=True)

    transaction.on_commit(send)
