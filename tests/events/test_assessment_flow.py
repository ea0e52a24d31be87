"""How assessments are asked for and run: one per event in flight, coalesced while one runs,
the language model within a budget on the alert path, the closed event's verdict last, and
fallbacks re-assessed only once the model is back. Real database, real task queues, a local
server speaking the chat-completions wire format."""

from __future__ import annotations

import threading
from datetime import timedelta
from itertools import count

import pytest
from django.db import connection
from django.utils import timezone

from alerts.models import AlertCheck
from cameras.models import Camera, Ingest
from detections.models import Detection
from events.assessment import (
    assessment_deadlines_due,
    assessment_llm_run,
    assessment_rules_due,
    event_assess,
    reassess_fallbacks,
)
from events.grouping import event_add_detections, event_close, event_sweep
from events.models import Event
from homesec.core.breaker import breaker_failure
from homesec.core.models import LiveMessage
from tests.support.fake_llm import GOOD
from tests.support.processes import wait_for

pytestmark = pytest.mark.django_db(transaction=True)
ASSESS, ASSESS_LLM, CHECK = (
    "events.tasks.assessment_rules_due",
    "events.tasks.assessment_llm_run",
    "alerts.tasks.alerts_evaluate",
)
_n = count(1)


@pytest.fixture
def llm(llm, settings):
    """The local model server of tests/events/conftest.py, without a key, with a longer
    timeout, a long cool-down and the fast path's budget."""
    settings.LLM_PROVIDERS = [(llm.url, "qwen3-8b", "")]
    settings.LLM_TIMEOUT_S, settings.LLM_COOLDOWN_S = 3.0, 30.0
    settings.FAST_PATH_LLM_BUDGET_S = 5.0
    return llm


def sure_person(*, cam: str = "door", at=None) -> int:
    """An upload with a person at 0.95 (the fast path), grouped as the detection stage hands it on."""
    at = at or timezone.now()
    camera = Camera.objects.get_or_create(pk=cam, defaults={"name": cam.title(), "folder": cam})[0]
    n = next(_n)
    ingest = Ingest.objects.create(
        camera=camera, path=f"{cam}/{n}.jpg", size=1, mtime_ns=n, status="done", arrived_at=at, queued_at=at
    )
    Detection.objects.create(
        camera=camera,
        ingest=ingest,
        captured_at=at,
        label="person",
        confidence=0.95,
        x=10,
        y=20,
        width=30,
        height=60,
        frame_width=640,
        frame_height=360,
    )
    [event_id] = event_add_detections(ingest_ids=[ingest.pk], now=at)
    return event_id


def test_thirty_uploads_of_one_scene_queue_one_assessment_on_the_alert_lane(queues):
    ids = {sure_person() for _ in range(30)}
    [event_id] = ids
    assert queues.queued("alerts") == [(ASSESS, (event_id,))]
    assert queues.queued("slow") == [] and Event.objects.get().detection_count == 30


def test_an_assessment_without_a_language_model_is_checked_against_the_rules_on_the_alert_lane(queues):
    event_id = sure_person()
    queues.purge()
    event = assessment_rules_due(event_id=event_id)
    assert (event.analyzer, event.assessment_state, event.assessment_seq) == ("rules", "assessed", 1)
    assert queues.queued("alerts") == [(CHECK, (event_id,))]


def test_with_a_language_model_thirty_uploads_make_one_llm_call_and_the_rules_step_in_at_the_budget(llm, queues):
    start = timezone.now()
    ids = {sure_person(at=start) for _ in range(30)}
    [event_id] = ids
    assert queues.queued("slow") == [(ASSESS_LLM, (event_id,))]
    assert queues.queued("alerts") == []  # nothing to do on the alert lane until the budget is spent
    queues.purge()

    assert assessment_deadlines_due(now=start + timedelta(seconds=4)) == []
    assert assessment_deadlines_due(now=start + timedelta(seconds=6)) == [event_id]
    assert queues.queued("alerts") == [(ASSESS, (event_id,))]
    queues.purge()
    event = assessment_rules_due(event_id=event_id, now=start + timedelta(seconds=6))
    assert (event.analyzer, event.assessment_state, event.assessment_seq) == ("rules", "fallback", 1)
    assert "within 5 s" in event.provenance["llm_error"]
    assert queues.queued("alerts") == [(CHECK, (event_id,))]  # alerted on at once

    # The model's answer, when it comes, assesses the event again.
    event = assessment_llm_run(event_id=event_id)
    assert (event.analyzer, event.assessment_state, event.assessment_seq, event.risk_score) == (
        "llm",
        "assessed",
        2,
        GOOD["risk_score"],
    )
    assert len(llm.requests) == 1


def test_an_answer_within_the_budget_is_the_only_assessment(llm, queues):
    start = timezone.now()
    event_id = sure_person(at=start)
    assessment_llm_run(event_id=event_id)
    assert assessment_deadlines_due(now=start + timedelta(seconds=60)) == []
    event = Event.objects.get()
    assert (event.analyzer, event.assessment_seq) == ("llm", 1)


def test_a_duplicate_llm_task_makes_no_second_call(llm, queues):
    event_id = sure_person()
    assessment_llm_run(event_id=event_id)
    assert assessment_llm_run(event_id=event_id) is None  # the broker delivered it twice
    assert len(llm.requests) == 1 and Event.objects.get().assessment_seq == 1


def test_detections_arriving_while_an_assessment_runs_cause_exactly_one_more(llm, queues):
    llm.script, llm.slow_s = ["slow"], 1.5
    event_id = sure_person()
    queues.purge()
    runner = threading.Thread(target=lambda: (assessment_llm_run(event_id=event_id), connection.close()))
    runner.start()
    wait_for(lambda: llm.requests, timeout=10, interval=0.01, what="the model's request")  # it is thinking
    for _ in range(5):
        sure_person()
    assert queues.queued("slow") == []  # nothing runs beside it
    runner.join()
    assert queues.queued("slow") == [(ASSESS_LLM, (event_id,))]  # one more, with the new detections
    event = assessment_llm_run(event_id=event_id)
    assert event.assessment_seq == 2 and len(llm.requests) == 2
    assert "6 more detections" not in llm.requests[1]["body"]["messages"][1]["content"]
    assert llm.requests[1]["body"]["messages"][1]["content"].count("- person") == 6


def test_the_closed_events_verdict_is_the_last_word(llm, queues):
    """A slow answer about the open event never replaces the one about the closed event."""
    llm.script, llm.slow_s = ["slow"], 1.5
    event_id = sure_person()
    runner = threading.Thread(target=lambda: (assessment_llm_run(event_id=event_id), connection.close()))
    runner.start()
    wait_for(lambda: llm.requests, timeout=10, interval=0.01, what="the model's request")
    event_close(event=Event.objects.get(), reason="idle", now=timezone.now())  # while the model thinks
    runner.join()
    assert Event.objects.get().assessment_final is False
    event = assessment_llm_run(event_id=event_id)  # the closed event's own assessment follows
    assert (event.assessment_final, event.assessment_seq) == (True, 2)
    assert assessment_llm_run(event_id=event_id) is None and Event.objects.get().assessment_seq == 2


def test_a_lost_final_assessment_is_sent_again_after_a_fast_path_one(queues, settings):
    settings.INGEST_STALE_S = 60
    event_id = sure_person()
    assessment_rules_due(event_id=event_id)  # the fast path's assessment
    long_ago = timezone.now() - timedelta(minutes=10)
    event_close(event=Event.objects.get(), reason="idle", now=long_ago)
    Event.objects.update(assess_queued_at=long_ago)
    queues.purge()  # its task was lost (a broker restart)
    assert event_sweep()["assessments"] == 1
    assert queues.queued("alerts") == [(ASSESS, (event_id,))]
    event = assessment_rules_due(event_id=event_id)
    assert (event.assessment_final, event.assessment_seq) == (True, 2)


def fallback_event(llm, *, ended_ago: timedelta = timedelta(minutes=5)) -> Event:
    llm.script = ["error500"]
    event_id = sure_person(at=timezone.now() - ended_ago)
    event_close(event=Event.objects.get(pk=event_id), reason="idle", now=timezone.now() - ended_ago)
    event = event_assess(event_id=event_id)
    assert event.assessment_state == "fallback"
    return event


def test_fallbacks_wait_for_the_language_models_breaker_to_close(llm, queues, settings):
    fallback_event(llm)
    for _ in range(5):
        breaker_failure(f"llm:{llm.url}", "HTTP 500")
    queues.purge()
    assert reassess_fallbacks() == 0 and queues.queued("slow") == []
    settings.LLM_COOLDOWN_S = 0  # the cool-down has passed: a probe may go (0.01 s had not, at times)
    assert reassess_fallbacks() == 1
    assert queues.queued("slow") == [(ASSESS_LLM, (Event.objects.get().pk,))]


def test_fallbacks_older_than_the_limit_are_left_as_they_are(llm, queues, settings):
    settings.REASSESS_MAX_AGE_H = 1
    fallback_event(llm, ended_ago=timedelta(hours=3))
    queues.purge()
    assert reassess_fallbacks() == 0


def test_fallback_reassessment_is_rate_limited(llm, queues, settings):
    settings.REASSESS_PER_MIN = 2
    for cam in ("a", "b", "c", "d"):
        llm.script = ["error500"]
        event_id = sure_person(cam=cam)
        event_close(event=Event.objects.get(pk=event_id), reason="idle", now=timezone.now())
        event_assess(event_id=event_id)
    queues.purge()
    assert reassess_fallbacks() == 2
    assert reassess_fallbacks() == 0  # within the same minute


def test_a_reassessment_that_would_be_the_same_fallback_again_writes_nothing(llm, queues):
    event = fallback_event(llm)
    queues.purge()
    checks, messages = AlertCheck.objects.count(), LiveMessage.objects.count()
    llm.script = ["error500"]  # still down
    reassess_fallbacks()
    assert assessment_llm_run(event_id=event.pk) is None
    event.refresh_from_db()
    assert (event.assessment_state, event.assessment_seq) == ("fallback", 1)
    assert (AlertCheck.objects.count(), LiveMessage.objects.count()) == (checks, messages)
    assert queues.queued("alerts") == []  # no rule check for an unchanged assessment
