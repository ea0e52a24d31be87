"""Enqueueing: every hop is a row first, then a message sent once the row is committed."""

from __future__ import annotations

import logging
from typing import Any

from django.conf import settings
from django.db import transaction

logger = logging.getLogger(__name__)


def lane_of(func: str) -> str | None:
    """The queue (django-q2 cluster) `func` runs on: settings.TASK_LANES, else the main one.
    One table for every sender, dead-letter replays included, so a task never lands on a
    lane whose workers it would starve."""
    return settings.TASK_LANES.get(func)


def enqueue(func: str, *args: Any) -> None:
    """Queue `func` (a dotted name, so apps need not import each other) after commit.

    A lost message is not lost work: the rows stay pending and a sweep re-enqueues them.
    """
    lane = lane_of(func)

    def send() -> None:
        from django_q.tasks import async_task

        try:
            options = {"cluster": lane} if lane else {}
            async_task(func, *args, **options)
        except Exception:  # noqa: BLE001 - the sweep re-sends what the broker did not take
            logger.warning("could not enqueue %s; the sweep will retry", func, exc_info=True)

    transaction.on_commit(send)
