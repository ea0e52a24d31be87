"""The LLM analyzer against a local server speaking the chat-completions wire format."""

import pytest

from cameras.models import Ingest
from detections.models import Detection
from events.assessment import event_assess, event_facts, event_prompt, reassess_fallbacks
from tests.events.factory import AT
from tests.support.fake_llm import GOOD
from tests.support.processes import free_port

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.mark.parametrize("mode", ["json", "think", "prose"])
def test_schema_think_and_prose_answers_are_all_understood(llm, event, mode):
    llm.script = [mode]
    assessed = event_assess(event_id=event.pk)
    assert (assessed.analyzer, assessed.assessment_state, assessed.risk_score, assessed.risk_level) == (
        "llm",
        "assessed",
        72,
        "high",
    )
    assert assessed.summary == GOOD["summary"] and assessed.recommended_action == GOOD["recommended_action"]
    request = llm.requests[0]
    assert request["path"] == "/v1/chat/completions" and request["auth"] == "Bearer sk-local"
    assert request["body"]["model"] == "qwen3-8b"
    assert request["body"]["response_format"]["json_schema"]["schema"]["required"][0] == "risk_score"
    provenance = assessed.provenance
    assert (provenance["provider"], provenance["model"], provenance["tokens_in"], provenance["tokens_out"]) == (
        llm.url,
        "qwen3-8b",
        321,
        54,
    )
    assert provenance["latency_ms"] > 0 and provenance["raw"] and provenance["risk_factors"] == GOOD["risk_factors"]


def test_a_truncated_answer_is_retried_once_at_temperature_zero(llm, event):
    llm.script = ["truncated", "json"]
    assessed = event_assess(event_id=event.pk)
    assert (assessed.analyzer, assessed.provenance["attempts"]) == ("llm", 2)
    assert [r["body"]["temperature"] for r in llm.requests] == [0.2, 0.0]


def test_a_server_that_refuses_response_format_is_asked_without_it(llm, event):
    llm.script = ["no_schema", "json"]
    assessed = event_assess(event_id=event.pk)
    assert assessed.analyzer == "llm" and assessed.provenance["json_schema"] is False
    assert "response_format" not in llm.requests[1]["body"]


def test_the_score_is_clamped(llm, event):
    llm.script = ["too_high"]
    assert event_assess(event_id=event.pk).risk_score == 100


@pytest.mark.parametrize("script", [["error500"], ["truncated", "truncated"], ["no_score", "no_score"], ["slow"]])
def test_no_usable_answer_falls_back_to_the_rules_and_says_so(llm, event, script):
    llm.script = list(script)
    assessed = event_assess(event_id=event.pk)
    assert (assessed.analyzer, assessed.assessment_state) == ("rules", "fallback")
    assert assessed.risk_score == 70  # the rules' own score: person, night, entry
    assert assessed.provenance["llm_error"]


def test_a_slow_answer_within_the_timeout_is_used(llm, event, settings):
    settings.LLM_TIMEOUT_S = 3.0
    llm.script, llm.slow_s = ["slow"], 0.5
    assert event_assess(event_id=event.pk).analyzer == "llm"


def test_a_provider_chain_uses_the_next_when_the_first_is_down(llm, event, settings):
    settings.LLM_PROVIDERS = [(f"http://127.0.0.1:{free_port()}", "down-model", ""), (llm.url, "qwen3-8b", "")]
    assessed = event_assess(event_id=event.pk)
    assert (assessed.analyzer, assessed.provenance["provider"]) == ("llm", llm.url)
    assert llm.requests[0]["auth"] is None


def test_fallbacks_are_reassessed_by_the_llm_once_it_answers_again(llm, event, settings):
    from events import tasks

    settings.REASSESS_MAX_AGE_H = 24 * 365  # the fixture's event is from last week
    llm.script = ["error500"]  # down for this one request, back afterwards
    assert event_assess(event_id=event.pk).assessment_state == "fallback"
    assert reassess_fallbacks() == 1
    assert reassess_fallbacks() == 0  # not re-sent again within a minute
    tasks.assessment_llm_run(event.pk)  # the task the clock's job sent
    event.refresh_from_db()
    assert (event.analyzer, event.assessment_state, event.risk_score) == ("llm", "assessed", 72)


def test_the_prompt_carries_the_facts_and_stays_within_its_budget(event):
    for n in range(200):
        Detection.objects.create(
            camera=event.camera,
            ingest=Ingest.objects.get(),
            captured_at=AT,
            label="person",
            confidence=0.5 + n / 1000,
            x=n,
            y=0,
            width=5,
            height=5,
            frame_width=640,
            frame_height=360,
        )
    event.detections.add(*Detection.objects.all())
    messages = event_prompt(event, event_facts(event), budget=2000)
    text = messages[1]["content"]
    assert "Camera: Front Door" in text and "Local time: Tuesday 2026-11-24 03:00 (Europe/Berlin)" in text
    assert "Usual activity: unknown" in text and "more detections left out" in text
    assert sum(len(m["content"]) for m in messages) <= 2000


def test_with_vision_the_key_frames_go_along_as_data_uri_images(llm, event, settings, tmp_path):
    import cv2
    import numpy as np

    settings.LLM_VISION, settings.MEDIA_ROOT = True, tmp_path
    (tmp_path / "thumbs").mkdir()
    cv2.imwrite(str(tmp_path / "thumbs" / "a.jpg"), np.full((360, 640, 3), 80, np.uint8))
    Detection.objects.update(thumbnail="thumbs/a.jpg")
    assert event_assess(event_id=event.pk).analyzer == "llm"
    parts = llm.requests[0]["body"]["messages"][1]["content"]
    assert parts[0]["type"] == "text" and "Camera: Front Door" in parts[0]["text"]
    assert len(parts) == 2 and parts[1]["image_url"]["url"].startswith("data:image/jpeg;base64,")
