"""The rules analyzer, table-driven: facts in, score and level out, every rule named."""

from datetime import UTC, datetime, timedelta

import pytest

from cameras.models import Camera
from events.analyzers.rules import WEIGHTS, Facts, assess
from events.assessment import event_assess
from events.models import Event, SeverityLevel
from events.selectors import risk_level_for

WEEK = 30.0  # days of history: enough to know the usual activity


def facts(classes, *, conf=0.85, hour=12, zones=(), dwell_min=0.0, history=WEEK, hour_count=5):
    return Facts(
        classes=classes,
        max_confidence=conf,
        local_hour=hour,
        zone_kinds=set(zones),
        dwell_s=dwell_min * 60,
        history_days=history,
        hour_count=hour_count,
    )


SCENARIOS = [
    ("a cat at noon", facts({"cat": 1}), "low"),
    ("a dog in the yard in the afternoon", facts({"dog": 2}, hour=15, zones=["yard"]), "low"),
    ("a bird at dawn", facts({"bird": 1}, hour=5), "low"),
    ("a car on the street at 17:00", facts({"car": 1}, hour=17, zones=["sidewalk"]), "low"),
    ("a car in the driveway at 14:00", facts({"car": 1}, hour=14, zones=["driveway"]), "low"),
    ("a truck in the driveway at 02:00", facts({"truck": 1}, hour=2, zones=["driveway"]), "medium"),
    ("a bicycle on the sidewalk at noon", facts({"bicycle": 1}, zones=["sidewalk"]), "low"),
    ("a person walking past on the sidewalk at noon", facts({"person": 1}, zones=["sidewalk"]), "low"),
    ("a person at the door at noon", facts({"person": 1}, zones=["entry"]), "medium"),
    ("a person at the door at 19:00", facts({"person": 1}, hour=19, zones=["entry"]), "medium"),
    ("a person at 03:00 in an entry zone", facts({"person": 1}, hour=3, zones=["entry"]), "high"),
    ("a person at 03:00 in a restricted zone", facts({"person": 1}, hour=3, zones=["restricted"]), "high"),
    ("three people at 03:00 at the door", facts({"person": 3}, hour=3, zones=["entry"]), "high"),
    (
        "a person at 23:00 in the yard, rarely active then",
        facts({"person": 1}, hour=23, zones=["yard"], hour_count=0),
        "high",
    ),
    ("a person in the garden at noon, a busy hour", facts({"person": 1}, zones=["yard"], hour_count=40), "low"),
    ("a vague person at 01:00", facts({"person": 1}, hour=1, conf=0.52), "medium"),
    (
        "a person lingering 3 minutes at noon by the fence",
        facts({"person": 1}, zones=["perimeter"], dwell_min=3),
        "medium",
    ),
    ("a person lingering 6 minutes at night", facts({"person": 1}, hour=1, dwell_min=6), "high"),
    (
        "a person present for 10 minutes of back-to-back events at night",
        facts({"person": 1}, hour=2, dwell_min=10.5),
        "critical",
    ),
    ("the same, at the door", facts({"person": 1}, hour=2, zones=["entry"], dwell_min=11), "critical"),
    ("a person at night on a new camera (no history yet)", facts({"person": 1}, hour=3, history=2), "medium"),
    (
        "a car at night in the driveway, rarely seen then",
        facts({"car": 1}, hour=4, zones=["driveway"], hour_count=1),
        "medium",
    ),
]


@pytest.mark.django_db
@pytest.mark.parametrize(("name", "given", "level"), SCENARIOS, ids=[s[0] for s in SCENARIOS])
def test_rules_scenarios_give_the_expected_level(name, given, level):
    verdict = assess(given)
    assert risk_level_for(verdict.score) == level, (verdict.score, verdict.reasoning)
    assert 0 <= verdict.score <= 100
    assert sum(points for _, points in verdict.fired) == verdict.score or verdict.score in (0, 100)


def test_the_reasoning_names_every_rule_with_its_points():
    verdict = assess(facts({"person": 2}, hour=3, zones=["entry"], dwell_min=6))
    assert verdict.reasoning == (
        "person: +25; each_extra_person: +5; night_person: +25; zone_entry: +20; dwell_5_min: +20"
    )
    assert verdict.score == 95


def test_without_a_week_of_history_it_says_so():
    verdict = assess(facts({"person": 1}, history=2.5, hour_count=0))
    assert "unusual_hour" not in verdict.reasoning
    assert "usual activity not used: only 2.5 of 7 days of history" in verdict.reasoning


def test_the_weights_are_one_table():
    assert all(isinstance(v, int) for v in WEIGHTS.values())


@pytest.mark.django_db
def test_an_assessment_stores_score_level_reasoning_and_provenance_and_the_table_decides_new_levels():
    camera = Camera.objects.create(id="door", name="Door", folder="door", time_zone="Europe/Berlin")
    at = datetime(2026, 11, 24, 2, 0, tzinfo=UTC)  # 03:00 in Berlin
    event = Event.objects.create(
        camera=camera,
        started_at=at,
        last_detection_at=at,
        chain_started_at=at,
        detection_count=1,
        classes={"person": 1},
        max_confidence=0.9,
        status="closed",
    )
    first = event_assess(event_id=event.pk)
    assert (first.analyzer, first.assessment_state, first.risk_score, first.risk_level) == (
        "rules",
        "assessed",
        50,
        "medium",
    )
    assert "night_person: +25" in first.reasoning and first.provenance["analyzer"] == "rules"
    SeverityLevel.objects.filter(name="high").update(min_score=45)  # the operator edits the table
    later = Event.objects.create(
        camera=camera,
        started_at=at + timedelta(hours=1),
        last_detection_at=at,
        chain_started_at=at,
        detection_count=1,
        classes={"person": 1},
        max_confidence=0.9,
    )
    assert event_assess(event_id=later.pk).risk_level == "high"
    assert Event.objects.get(pk=event.pk).risk_level == "medium"  # stored ones keep theirs
