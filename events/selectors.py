"""Reads for events that pages, the API, the admin and other apps use (the alert rules
compare levels through these, never through a write module)."""

from __future__ import annotations

from events.models import SeverityLevel

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
