"""What the rule engine decides, case by case: every condition alone and combined,
overnight schedules in a camera's time zone, cooldown, dedup, escalation, disabled rules
and channels, quiet hours, modes, late events, fallbacks and a 429.

Each case builds its rule, runs its steps (new events or re-assessments, each checked by
the engine at its own moment) and says what the last check decided for the rule, and
what became of the notification."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import time, timedelta

import pytest

from alerts.delivery import notification_send
from alerts.engine import alerts_evaluate
from alerts.models import Alert, AlertCheck, AlertRule, Channel, MemberProfile, ModeScheduleEntry, Notification
from alerts.services import household_set_mode
from tests.alerts.factory import FRIDAY_NOON, assessed_event, reassess, webhook_channel, zone

pytestmark = pytest.mark.django_db


@dataclass
class Case:
    id: str
    rule: dict = field(default_factory=dict)
    # Each step: a new event (keys of assessed_event, plus "after": seconds after FRIDAY_NOON),
    # or {"reassess": score, "state": ..., "after": s} for the previous step's event.
    steps: list[dict] = field(default_factory=lambda: [{}])
    expect: str = "fired"  # fired | no match | suppressed | not checked | off
    why: str = ""
    mode: str = ""  # set by hand just before the steps
    schedule: list[tuple[list[int], str, str]] = field(default_factory=list)  # (days, "HH:MM", mode)
    channel: dict = field(default_factory=dict)  # overrides for the household channel
    member: dict | None = None  # the channel belongs to a member with this profile
    notification: tuple[str, str] | None = None  # (status, error substring) of the last alert's notification
    escalation: bool = False
    answers: list = field(default_factory=list)  # what the receiver answers when the notification is sent


# Camera front_door is in Berlin (UTC+1 in November); FRIDAY_NOON is 13:00 there.
BERLIN_SAT_0130 = FRIDAY_NOON + timedelta(hours=11, minutes=30)  # Sat 00:30 UTC = 01:30 Berlin
CASES = [
    # --- each condition alone
    Case("no conditions: every assessed event", rule={}),
    Case("min score met", rule={"min_risk_score": 70}, steps=[{"score": 72}]),
    Case("min score not met", rule={"min_risk_score": 80}, steps=[{"score": 72}], expect="no match", why="below 80"),
    Case("min level met", rule={"min_level": "high"}, steps=[{"score": 60}]),
    Case("min level not met", rule={"min_level": "high"}, steps=[{"score": 59}], expect="no match", why="medium"),
    Case("camera listed", rule={"cameras": ["front_door"]}),
    Case("camera not listed", rule={"cameras": ["garden"]}, expect="no match", why="front_door is not one of the rule"),
    Case("zone: the object stands in it", rule={"zones": [("front_door", "driveway")]}),
    Case(
        "zone: nothing in it",
        rule={"zones": [("front_door", "porch")]},
        expect="no match",
        why="nothing in porch",
    ),
    Case(
        "zone of another camera only",
        rule={"zones": [("garden", "driveway")]},
        expect="no match",
        why="none of the rule's zones is on camera front_door",
    ),
    Case("class seen", rule={"classes": ["person", "car"]}),
    Case(
        "class not seen",
        rule={"classes": ["car"]},
        steps=[{"seen": (("dog", 0.9, ()),)}],
        expect="no match",
        why="no car seen (saw dog)",
    ),
    Case("min confidence met", rule={"min_confidence": 0.9}),
    Case("min confidence not met", rule={"min_confidence": 0.95}, expect="no match", why="0.93 is below 0.95"),
    # --- combined: all must hold for one and the same object
    Case(
        "combined: person in the driveway, sure, score and camera",
        rule={
            "classes": ["person"],
            "zones": [("front_door", "driveway")],
            "min_confidence": 0.8,
            "min_risk_score": 50,
            "cameras": ["front_door"],
        },
    ),
    Case(
        "combined: the sure person is not the one in the zone",
        rule={"classes": ["person"], "zones": [("front_door", "driveway")], "min_confidence": 0.8},
        steps=[{"seen": (("person", 0.95, ("porch",)), ("person", 0.6, ("driveway",)), ("car", 0.99, ("driveway",)))}],
        expect="no match",
        why="best matching confidence 0.60 is below 0.80",
    ),
    Case(
        "combined: one condition of several fails",
        rule={"classes": ["person"], "min_risk_score": 90, "cameras": ["front_door"]},
        expect="no match",
        why="below 90",
    ),
    # --- schedules, in the camera's time zone
    Case("same-day window holds", rule={"days": [4], "start_time": time(12), "end_time": time(14)}),
    Case(
        "same-day window: in UTC it would hold, in Berlin it does not",
        rule={"days": [4], "start_time": time(11, 30), "end_time": time(12, 30)},
        expect="no match",
        why="Fri 13:00 (Europe/Berlin) is outside Fri 11:30-12:30",
    ),
    Case(
        "overnight Fri 22:00-06:00 holds at Sat 01:30 in Berlin",
        rule={"days": [4], "start_time": time(22), "end_time": time(6)},
        steps=[{"at": BERLIN_SAT_0130}],
    ),
    Case(
        "overnight window belongs to the day it starts: Fri 01:30 is Thursday night's",
        rule={"days": [4], "start_time": time(22), "end_time": time(6)},
        steps=[{"at": FRIDAY_NOON - timedelta(hours=11, minutes=30)}],
        expect="no match",
        why="outside Fri 22:00-06:00",
    ),
    Case(
        "overnight window in New York: 23:00 local is 04:00 UTC the next day",
        rule={"days": [4], "start_time": time(22), "end_time": time(6)},
        steps=[{"at": FRIDAY_NOON + timedelta(hours=16), "tz": "America/New_York"}],
    ),
    Case(
        "overnight window: before it starts",
        rule={"start_time": time(22), "end_time": time(6)},
        expect="no match",
        why="13:00 (Europe/Berlin) is outside every day 22:00-06:00",
    ),
    # --- modes
    Case("mode listed, household away", rule={"modes": ["away"]}, mode="away"),
    Case("mode not listed", rule={"modes": ["away", "night"]}, mode="home", expect="no match", why="in mode home"),
    Case(
        "mode from the weekly schedule",
        rule={"modes": ["night"]},
        schedule=[([], "11:30", "night"), ([], "07:00", "home")],  # household time zone: UTC here
    ),
    Case(
        "a mode set by hand holds until the schedule's next switch",
        rule={"modes": ["night"]},
        schedule=[([], "11:00", "night")],
        mode="home",
        expect="no match",
        why="in mode home",
    ),
    # --- repeats: cooldown, dedup, escalation, running twice
    Case(
        "cooldown: a second event of the camera within 300 s",
        steps=[{}, {"after": 120}],
        expect="suppressed",
        why="cooldown",
    ),
    Case("after the cooldown it fires again", steps=[{}, {"after": 400}]),
    Case("dedup key per camera: another camera is not held back", steps=[{}, {"after": 60, "cam": "garden"}]),
    Case(
        "dedup key {rule}: one alert for all cameras within the cooldown",
        rule={"dedup_key": "{rule}"},
        steps=[{}, {"after": 60, "cam": "garden"}],
        expect="suppressed",
        why="cooldown",
    ),
    Case(
        "escalation: a re-assessment to a higher level alerts inside the cooldown",
        steps=[{"score": 65}, {"reassess": 90, "after": 30}],
        escalation=True,
    ),
    Case(
        "re-assessment at the same level never alerts again",
        steps=[{"score": 65}, {"reassess": 70, "after": 600}],
        expect="suppressed",
        why="alerted already for this event at high",
    ),
    Case(
        "re-assessment to a lower level never alerts",
        steps=[{"score": 90}, {"reassess": 65, "after": 600}],
        expect="suppressed",
        why="alerted already for this event at critical",
    ),
    Case(
        "a higher level on the next event breaks through the cooldown",
        steps=[{"score": 65}, {"after": 60, "score": 95}],
        escalation=True,
    ),
    # --- what is never checked, and what is off
    Case("late event never alerts", steps=[{"late": True}], expect="not checked", why="late event"),
    Case(
        # The fallback was held back by the cooldown; once that is over, the model's
        # re-assessment at the same level still may not page.
        "fallback re-assessment that does not escalate",
        steps=[{}, {"after": 60, "state": "fallback"}, {"reassess": 72, "after": 400}],
        expect="not checked",
        why="did not raise the level (high → high)",
    ),
    Case(
        "fallback re-assessment that escalates",
        rule={"min_level": "high"},
        steps=[{"score": 40, "state": "fallback"}, {"reassess": 75, "after": 120}],
    ),
    Case("disabled rule", rule={"enabled": False}, expect="off", why="the rule is disabled"),
    # --- channels and household members
    Case(
        "disabled channel: the alert is kept, the notification skipped with the reason",
        channel={"enabled": False, "disabled_reason": "HTTP 410 Gone"},
        notification=("skipped", "channel disabled: HTTP 410 Gone"),
    ),
    Case(
        "quiet hours hold a high alert back",
        steps=[{"score": 70}],
        member={"quiet_hours": ["12:30-14:00"], "time_zone": "Europe/Berlin"},
        notification=("skipped", "quiet hours (12:30-14:00)"),
    ),
    Case(
        "quiet hours across midnight, critical breaks through",
        steps=[{"score": 95, "at": BERLIN_SAT_0130}],
        member={"quiet_hours": ["22:00-07:00"], "time_zone": "Europe/Berlin"},
        notification=("pending", ""),
    ),
    Case(
        "quiet hours, critical held back when the member turned break-through off",
        steps=[{"score": 95, "at": BERLIN_SAT_0130}],
        member={"quiet_hours": ["22:00-07:00"], "critical_breaks_through": False, "time_zone": "Europe/Berlin"},
        notification=("skipped", "quiet hours (22:00-07:00)"),
    ),
    Case(
        "a member's minimum risk for the camera",
        steps=[{"score": 72}],
        member={"camera_min_risk": {"front_door": 80}},
        notification=("skipped", "below member's minimum for front_door (72 < 80)"),
    ),
    Case(
        "429: the notification waits as long as Retry-After says, without using a try",
        answers=[(429, {"Retry-After": "120"})],
        notification=("pending", "HTTP 429"),
    ),
]


def _run(case: Case, receiver, request) -> tuple[Alert | None, dict]:
    rule = AlertRule.objects.create(
        name="rule", **{k: v for k, v in case.rule.items() if k not in ("cameras", "zones")}
    )
    zone("front_door", "driveway", "driveway")
    zone("front_door", "porch", "entry")
    zone("garden", "driveway", "driveway")
    rule.cameras.set(case.rule.get("cameras", []))
    rule.zones.set([zone(cam, name) for cam, name in case.rule.get("zones", [])])
    owner = None
    if case.member is not None:
        owner = request.getfixturevalue("member")
        MemberProfile.objects.filter(user=owner).update(**case.member)
    channel = webhook_channel(receiver.url, owner=owner, **case.channel)
    rule.channels.set([channel])
    for days, at, mode in case.schedule:
        ModeScheduleEntry.objects.create(days=days, at=time.fromisoformat(at), mode=mode)
    if case.mode:
        household_set_mode(mode=case.mode, now=FRIDAY_NOON - timedelta(minutes=10))
    event, alerts = None, []
    for step in case.steps:
        step = dict(step)
        after = step.pop("after", 0)
        if "reassess" in step:
            moment = event.last_detection_at + timedelta(seconds=after)
            event = reassess(event, score=step["reassess"], state=step.get("state", "assessed"), at=moment)
        else:
            moment = step.pop("at", FRIDAY_NOON) + timedelta(seconds=after)
            event = assessed_event(at=moment, **step)
        alerts = alerts_evaluate(event_id=event.pk, now=moment + timedelta(seconds=1))
    check = AlertCheck.objects.get(event=event, seq=event.assessment_seq)
    decision = next(d for d in check.decisions if d["rule"] in ("rule", ""))
    return (alerts[0] if alerts else None), decision


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_rule_semantics(case: Case, receiver, settings, request):
    settings.TIME_ZONE = "UTC"
    receiver.script = list(case.answers)
    alert, decision = _run(case, receiver, request)
    assert decision["result"] == case.expect, decision
    assert case.why in decision["why"], decision
    assert (alert is not None) == (case.expect == "fired")
    if alert is None:
        return
    assert alert.escalation == case.escalation
    notification = Notification.objects.get(alert=alert)
    if case.answers:
        sent_at = alert.created_at
        assert notification_send(notification_id=notification.pk, now=sent_at) == "deferred"
        notification.refresh_from_db()
        assert notification.next_attempt_at == sent_at + timedelta(seconds=120)
        assert (notification.attempts, notification.deferrals) == (0, 1)
        assert len(receiver.requests) == 1
    if case.notification:
        status, error = case.notification
        assert notification.status == status and error in notification.error, notification.error


def test_the_table_is_big_enough():
    assert len(CASES) >= 25


def test_checking_one_assessment_twice_creates_nothing_new(receiver):
    rule = AlertRule.objects.create(name="rule")
    rule.channels.set([webhook_channel(receiver.url)])
    event = assessed_event()
    now = FRIDAY_NOON + timedelta(seconds=1)
    assert len(alerts_evaluate(event_id=event.pk, now=now)) == 1
    assert alerts_evaluate(event_id=event.pk, now=now + timedelta(hours=1)) == []
    assert (Alert.objects.count(), Notification.objects.count(), AlertCheck.objects.count()) == (1, 1, 1)


def test_an_event_without_an_assessment_is_not_checked():
    AlertRule.objects.create(name="rule")
    event = assessed_event()
    from events.models import Event

    Event.objects.filter(pk=event.pk).update(risk_score=None, assessment_seq=0)
    assert alerts_evaluate(event_id=event.pk, now=FRIDAY_NOON) == []
    assert not AlertCheck.objects.exists()


def test_an_old_event_reassessed_by_the_operator_never_pages(receiver):
    AlertRule.objects.create(name="rule", all_channels=True)
    webhook_channel(receiver.url)
    event = assessed_event()
    assert alerts_evaluate(event_id=event.pk, now=FRIDAY_NOON + timedelta(days=3)) == []
    assert "more than 6 h ago" in AlertCheck.objects.get().outcome


def test_a_rule_for_all_channels_reaches_channels_added_later(receiver):
    AlertRule.objects.create(name="rule", all_channels=True)
    webhook_channel(receiver.url, name="first")
    alerts_evaluate(event_id=assessed_event().pk, now=FRIDAY_NOON)
    webhook_channel(receiver.url, name="second")
    alerts_evaluate(event_id=assessed_event(cam="garden").pk, now=FRIDAY_NOON)
    assert sorted(Channel.objects.filter(notifications__isnull=False).values_list("name", flat=True)) == [
        "first",
        "first",
        "second",
    ]
