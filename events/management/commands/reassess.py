"""`manage.py reassess`: assess stored events again, by id, by date range, or fallbacks only."""

from __future__ import annotations

from argparse import ArgumentParser
from datetime import datetime, time
from typing import Any

from django.core.management.base import CommandError
from django.utils import timezone

from events.assessment import event_assess
from events.models import Event
from homesec.core.audit import audit
from homesec.core.management.base import MaintenanceCommand
from homesec.core.progress import Progress


def _day(value: str, *, end: bool) -> datetime:
    try:
        day = datetime.strptime(value, "%Y-%m-%d").date()
    except ValueError:
        raise CommandError(f"{value!r} is not a date like 2026-11-24") from None
    return timezone.make_aware(datetime.combine(day, time.max if end else time.min))


class Command(MaintenanceCommand):
    help = (
        "Assess stored events again (with the language model when one is configured, else the rules) and "
        "store the new assessment; say which: event ids, a date range, or the rules' fallbacks."
    )
    epilog = """
examples:
  manage.py reassess 812 815                     two events
  manage.py reassess --since 2026-11-01 --until 2026-11-30
  manage.py reassess --fallbacks                 those the rules scored while the model was down

Events that ended more than HOMESEC_ALERT_MAX_AGE_H ago are re-scored but alert nobody.
"""

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("event_ids", nargs="*", type=int, help="Event ids.")
        parser.add_argument("--since", help="First day, YYYY-MM-DD (local time).")
        parser.add_argument("--until", help="Last day, YYYY-MM-DD (local time).")
        parser.add_argument("--fallbacks", action="store_true", help="Only events the rules assessed as a fallback.")

    def handle(
        self,
        *args: Any,
        event_ids: list[int],
        since: str | None = None,
        until: str | None = None,
        fallbacks: bool = False,
        **options: Any,
    ) -> None:
        events = Event.objects.exclude(detection_count=0).order_by("started_at")
        if event_ids:
            events = events.filter(pk__in=event_ids)
        if since:
            events = events.filter(started_at__gte=_day(since, end=False))
        if until:
            events = events.filter(started_at__lte=_day(until, end=True))
        if fallbacks:
            events = events.filter(assessment_state=Event.Assessment.FALLBACK)
        if not (event_ids or since or until or fallbacks):
            raise CommandError("say which events: ids, --since/--until, or --fallbacks")
        ids = list(events.values_list("pk", flat=True))
        chosen = {"event_ids": event_ids, "since": since, "until": until, "fallbacks": fallbacks}
        audit(action="event.reassess", target=f"{len(ids)} event(s)", detail={**chosen, "count": len(ids)})
        changed = 0
        bar = Progress(len(ids), "events")
        for pk in ids:
            before = Event.objects.values_list("risk_score", flat=True).get(pk=pk)
            after = event_assess(event_id=pk)
            changed += after is not None and after.risk_score != before
            bar.advance()
        bar.close()
        self.stdout.write(f"Re-assessed {len(ids)} event(s); {changed} got a different score.")
