"""Reads for events that pages, the API, the admin and other apps use (the alert rules
compare levels through these, never through a write module)."""

from __future__ import annotations

from datetime import datetime

from events.models import Event, PromptVersion, SeverityLevel

# The table's seed, and what applies if an operator empties it.
DEFAULT_LEVELS = (("low", 0), ("medium", 30), ("high", 60), ("critical", 85))


def _levels() -> list[tuple[str, int]]:
    return list(SeverityLevel.objects.values_list("name", "min_score")) or list(DEFAULT_LEVELS)


def risk_level_for(score: int) -> str:
    levels = _levels()
    eligible = [(minimum, name) for name, minimum in levels if minimum <= score]
    return max(eligible)[1] if eligible else min((m, n) for n, m in levels)[1]


def level_names() -> list[str]:
    """The level names from the lowest to the highest: how levels compare."""
    return [name for name, _ in sorted(_levels(), key=lambda level: level[1])]


def prompt_version_newest() -> PromptVersion | None:
    return PromptVersion.objects.order_by("-version").first()


def event_ids_recently_assessed(*, limit: int = 50) -> list[int]:
    """The newest assessed events: what a new prompt version is tried on first."""
    return list(Event.objects.exclude(risk_score=None).order_by("-started_at").values_list("pk", flat=True)[:limit])


def camera_ids_assessed_since(*, since: datetime) -> set[str]:
    """Cameras with an event assessed after `since`."""
    return set(Event.objects.filter(assessed_at__gt=since).values_list("camera_id", flat=True))


def event_latest_assessed(*, camera_id: str) -> Event | None:
    """The camera's most recently assessed event: its current risk."""
    return Event.objects.filter(camera_id=camera_id).exclude(assessed_at=None).order_by("-assessed_at").first()
