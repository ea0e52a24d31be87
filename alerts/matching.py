"""Does a rule match an assessed event? Plain functions over rows already loaded, each
condition saying in words why it held or why not, so the console can show it."""

from __future__ import annotations

import string
from dataclasses import dataclass, field
from datetime import datetime, time

from alerts.models import WEEKDAYS, AlertRule, days_label

DEDUP_FIELDS = ("camera", "rule", "event", "level", "class")


@dataclass
class Match:
    ok: bool
    reasons: list[str] = field(default_factory=list)  # the conditions that held
    failed: str = ""  # the first one that did not
    label: str = ""  # the class of the object that matched, for the dedup key


@dataclass(frozen=True)
class Seen:
    """One detection of the event, as the rules need it."""

    label: str
    confidence: float
    zones: tuple[str, ...]


def parse_range(text: str) -> tuple[time, time]:
    start, end = text.split("-")
    return time.fromisoformat(start.strip()), time.fromisoformat(end.strip())


def in_window(local: datetime, *, days: list[int], start: time | None, end: time | None) -> bool:
    """Is `local` inside the days + time window? A window whose start is after its end
    crosses midnight and belongs to the day it starts on: "Fri 22:00-06:00" holds on
    Saturday 03:00 and not on Friday 03:00."""
    clock, weekday = local.time(), local.weekday()
    if start is None and end is None or start == end:
        return not days or weekday in days
    start, end = start or time.min, end or time.max
    if start < end:
        return (not days or weekday in days) and start <= clock < end
    if clock >= start:
        return not days or weekday in days
    if clock < end:
        return not days or (weekday - 1) % 7 in days
    return False


def window_label(days: list[int], start: time | None, end: time | None) -> str:
    if start is None and end is None:
        return days_label(days)
    return f"{days_label(days)} {(start or time.min):%H:%M}-{(end or time.max):%H:%M}"


def in_quiet_hours(local: datetime, ranges: list[str]) -> str:
    """The quiet range `local` falls in, or ''."""
    for text in ranges:
        start, end = parse_range(text)
        if in_window(local, days=[], start=start, end=end):
            return text
    return ""


DEFAULT_DEDUP_KEY = "{camera}:{rule}"
SAMPLE_VALUES = {"camera": "front_door", "rule": 1, "event": 1, "level": "high", "class": "person"}


def dedup_key_problem(template: str) -> str:
    """Why the template cannot make keys, or ''. Tried by formatting it with sample
    values, so conversions, format specs, indexing and attributes are all caught."""
    try:
        names = {name for _, name, _, _ in string.Formatter().parse(template) if name is not None}
    except ValueError as exc:
        return f"Not a valid template: {exc}."
    unknown = {name for name in names if name not in DEDUP_FIELDS}
    if unknown:
        return f"Unknown field {{{sorted(unknown)[0]}}}: use {', '.join('{' + f + '}' for f in DEDUP_FIELDS)}."
    try:
        template.format_map(SAMPLE_VALUES)
    except (ValueError, TypeError, KeyError, IndexError, AttributeError) as exc:
        return f"Cannot be filled in ({exc.__class__.__name__}: {exc}): use plain fields like {{camera}}."
    return ""


def dedup_key(rule: AlertRule, *, camera: str, event: int, level: str, label: str) -> tuple[str, str]:
    """(key, note): a template that fails (saved before templates were checked this way)
    falls back to the default key, and the note says so for the decision record."""
    values = {"camera": camera, "rule": rule.pk, "event": event, "level": level, "class": label}
    try:
        return rule.dedup_key.format_map(values), ""
    except (ValueError, TypeError, KeyError, IndexError, AttributeError) as exc:
        note = f" (dedup key template {rule.dedup_key!r} failed: {exc.__class__.__name__}: {exc}; the default was used)"
        return DEFAULT_DEDUP_KEY.format_map(values), note


def rule_match(
    rule: AlertRule,
    *,
    camera_id: str,
    score: int,
    level: str,
    levels: list[str],
    local: datetime,
    mode: str,
    seen: list[Seen],
    camera_ids: set[str],
    zone_names: dict[str, set[str]],
) -> Match:
    """`levels` from the lowest up; `camera_ids` the rule's cameras; `zone_names` the
    rule's zones by camera id. Object conditions (class, zone, confidence) must hold for
    one and the same detection."""
    reasons: list[str] = []

    def fail(why: str) -> Match:
        return Match(ok=False, reasons=reasons, failed=why)

    if score < rule.min_risk_score:
        return fail(f"risk score {score} is below {rule.min_risk_score}")
    if rule.min_risk_score:
        reasons.append(f"risk score {score} ≥ {rule.min_risk_score}")
    if rule.min_level:
        if rule.min_level not in levels:
            return fail(f"minimum level {rule.min_level!r} is not in the severity table")
        if level not in levels or levels.index(level) < levels.index(rule.min_level):
            return fail(f"level {level} is below {rule.min_level}")
        reasons.append(f"level {level} ≥ {rule.min_level}")
    if camera_ids:
        if camera_id not in camera_ids:
            return fail(f"camera {camera_id} is not one of the rule's")
        reasons.append(f"camera {camera_id}")
    if rule.days or rule.start_time or rule.end_time:
        window = window_label(rule.days, rule.start_time, rule.end_time)
        when = f"{WEEKDAYS[local.weekday()]} {local:%H:%M} ({local.tzinfo})"
        if not in_window(local, days=rule.days, start=rule.start_time, end=rule.end_time):
            return fail(f"{when} is outside {window}")
        reasons.append(f"{when} within {window}")
    if rule.modes:
        if mode not in rule.modes:
            return fail(f"the household is in mode {mode}, not {'/'.join(rule.modes)}")
        reasons.append(f"mode {mode}")
    candidates = seen
    if rule.classes:
        candidates = [s for s in candidates if s.label in rule.classes]
        if not candidates:
            saw = ", ".join(sorted({s.label for s in seen})) or "nothing"
            return fail(f"no {'/'.join(rule.classes)} seen (saw {saw})")
    if zone_names:
        names = zone_names.get(camera_id, set())
        if not names:
            return fail(f"none of the rule's zones is on camera {camera_id}")
        candidates = [s for s in candidates if names & set(s.zones)]
        if not candidates:
            return fail(f"nothing {'/'.join(rule.classes) + ' ' if rule.classes else ''}in {', '.join(sorted(names))}")
    if rule.min_confidence is not None:
        best = max((s.confidence for s in candidates), default=0.0)
        candidates = [s for s in candidates if s.confidence >= rule.min_confidence]
        if not candidates:
            return fail(f"best matching confidence {best:.2f} is below {rule.min_confidence:.2f}")
    label = ""
    if rule.classes or zone_names or rule.min_confidence is not None:
        top = max(candidates, key=lambda s: s.confidence)
        where = f" in {', '.join(sorted(set(top.zones) & zone_names.get(camera_id, set())))}" if zone_names else ""
        reasons.append(f"{top.label} {top.confidence:.2f}{where}")
        label = top.label
    if not reasons:
        reasons.append("the rule has no conditions: every assessed event matches")
    return Match(ok=True, reasons=reasons, label=label or (seen[0].label if seen else ""))
