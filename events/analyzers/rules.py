"""The rules analyzer: deterministic, explainable risk scores.

Every rule that fires adds (or removes) the points in WEIGHTS and is named in the
reasoning with its points, so a household can see exactly why a score is what it is.
It is the embedded default, and the fallback when a language model is unavailable.
"""

from __future__ import annotations

from dataclasses import dataclass, field

VEHICLES = {"car", "truck", "bus", "motorcycle"}
ANIMALS = {"dog", "cat", "bird"}

# The one table of weights (points), documented here and in the README.
WEIGHTS = {
    "person": 25,  # a person is what a household most wants to know about
    "vehicle": 10,
    "bicycle": 8,
    "animal": 3,
    "each_extra_person": 5,  # up to two extra people count
    "low_confidence": -10,  # best detection below 0.6: the detector is unsure
    "night_person": 25,  # 22:00-06:00 local time
    "night_other": 10,
    "evening_person": 5,  # 18:00-22:00
    "zone_restricted": 25,
    "zone_entry": 20,
    "zone_perimeter": 15,
    "zone_driveway": 10,
    "zone_yard": 10,
    "zone_sidewalk_only": -5,  # passers-by on the street
    "dwell_2_min": 10,  # a person present this long, across back-to-back events
    "dwell_5_min": 20,
    "dwell_10_min": 35,
    "unusual_hour": 10,  # this camera rarely sees anything at this hour of the week
    "usual_hour": -10,  # ... or often does
}
ZONE_RULES = ("restricted", "entry", "perimeter", "driveway", "yard")


@dataclass(frozen=True)
class Facts:
    classes: dict[str, int]  # detections per class
    max_confidence: float
    local_hour: int
    zone_kinds: set[str]
    dwell_s: float  # how long the activity has lasted, across the chain of events
    history_days: float  # how long this camera has been counting activity
    hour_count: int  # activity seen by this camera in this hour of the week


@dataclass
class Verdict:
    score: int
    fired: list[tuple[str, int]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def reasoning(self) -> str:
        lines = [f"{name}: {points:+d}" for name, points in self.fired] + self.notes
        return "; ".join(lines) if lines else "no rule fired"


def assess(facts: Facts) -> Verdict:
    fired: list[tuple[str, int]] = []
    notes: list[str] = []
    persons = facts.classes.get("person", 0)
    kinds = set(facts.classes)

    def rule(name: str) -> None:
        fired.append((name, WEIGHTS[name]))

    if persons:
        rule("person")
        fired += [("each_extra_person", WEIGHTS["each_extra_person"])] * min(2, max(0, persons - 1))
    elif kinds & VEHICLES:
        rule("vehicle")
    elif "bicycle" in kinds:
        rule("bicycle")
    elif kinds & ANIMALS:
        rule("animal")
    if facts.max_confidence < 0.6:
        rule("low_confidence")
    night = facts.local_hour >= 22 or facts.local_hour < 6
    if night:
        rule("night_person" if persons else "night_other")
    elif persons and facts.local_hour >= 18:
        rule("evening_person")
    for kind in ZONE_RULES:
        if kind in facts.zone_kinds:
            rule(f"zone_{kind}")
            break
    else:
        if facts.zone_kinds == {"sidewalk"}:
            rule("zone_sidewalk_only")
    if persons:
        for minutes in (10, 5, 2):
            if facts.dwell_s >= minutes * 60:
                rule(f"dwell_{minutes}_min")
                break
    if facts.history_days >= 7:
        if facts.hour_count <= 1:
            rule("unusual_hour")
        elif facts.hour_count >= 20:
            rule("usual_hour")
    else:
        notes.append(f"usual activity not used: only {facts.history_days:.1f} of 7 days of history")
    score = max(0, min(100, sum(points for _, points in fired)))
    return Verdict(score=score, fired=fired, notes=notes)
