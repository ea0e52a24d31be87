"""Prompt versions (edit, activate, roll back, replay without changing events), review and
feedback, and `manage.py reassess`."""

import pytest
from django.core.management import call_command

from events.assessment import (
    active_prompt,
    event_assess,
    prompt_replay_run,
    prompt_replay_start,
    prompt_version_activate,
    prompt_version_roll_back,
    prompt_version_save,
)
from events.models import Event, PromptReplay, PromptVersion

pytestmark = pytest.mark.django_db(transaction=True)


def test_editing_a_prompt_in_the_console_makes_a_new_version(admin_client):
    admin_client.post("/admin/events/promptversion/add/", {"system_prompt": "Be careful.", "note": "first"})
    first = PromptVersion.objects.get()
    admin_client.post(f"/admin/events/promptversion/{first.pk}/change/", {"system_prompt": "Be calm.", "note": "2"})
    assert list(PromptVersion.objects.order_by("version").values_list("version", "system_prompt")) == [
        (1, "Be careful."),
        (2, "Be calm."),
    ]


def test_one_version_is_active_and_rolling_back_activates_the_one_before():
    v1, v2 = prompt_version_save(text="one"), prompt_version_save(text="two")
    assert active_prompt()[1] is None  # the built-in prompt until one is activated
    prompt_version_activate(prompt=v1)
    prompt_version_activate(prompt=v2)
    assert list(PromptVersion.objects.filter(active=True)) == [v2]
    assert prompt_version_roll_back() == v1 and active_prompt() == ("one", 1)


def test_the_active_prompt_is_sent_and_named_in_the_provenance(llm, event):
    prompt_version_activate(prompt=prompt_version_save(text="You are strict."))
    assessed = event_assess(event_id=event.pk)
    assert llm.requests[0]["body"]["messages"][0] == {"role": "system", "content": "You are strict."}
    assert assessed.provenance["prompt_version"] == 1


def test_a_replay_scores_stored_events_side_by_side_without_changing_them(llm, event):
    event_assess(event_id=event.pk)
    Event.objects.filter(pk=event.pk).update(risk_score=10, risk_level="low")  # what it had before
    replay = prompt_replay_start(prompt=prompt_version_save(text="Be strict."), event_ids=[event.pk])
    done = prompt_replay_run(replay_id=replay.pk)
    assert done.status == "done"
    assert done.results == [
        {
            "event": event.pk,
            "camera": "Front Door",
            "old_score": 10,
            "old_level": "low",
            "old_analyzer": "llm",
            "new_score": 72,
            "new_level": "high",
        }
    ]
    assert Event.objects.get(pk=event.pk).risk_score == 10  # unchanged
    assert prompt_replay_run(replay_id=replay.pk) is None  # running it twice does nothing


def test_the_replay_page_shows_old_and_new(admin_client, llm, event):
    replay = prompt_replay_start(prompt=prompt_version_save(text="x"), event_ids=[event.pk])
    prompt_replay_run(replay_id=replay.pk)
    page = admin_client.get(f"/admin/events/promptreplay/{PromptReplay.objects.get().pk}/change/")
    assert b"<th>old</th><th>new</th>" in page.content and b"72 high" in page.content


def test_an_event_can_be_reviewed_with_feedback_but_its_record_cannot_be_edited(admin_client, event):
    admin_client.post(
        f"/admin/events/event/{event.pk}/change/",
        {
            "reviewed": "on",
            "review_notes": "the postman",
            "feedback": "severity_wrong",
            "expected_level": "low",
            "risk_score": 5,
        },
    )
    event.refresh_from_db()
    assert (event.reviewed, event.review_notes, event.feedback, event.expected_level) == (
        True,
        "the postman",
        "severity_wrong",
        "low",
    )
    assert event.risk_score is None  # the assessment is the system's record


def test_reassess_by_id_and_fallbacks_only(capsys, event):
    call_command("reassess", str(event.pk))
    assert "Re-assessed 1 event(s); 1 got a different score." in capsys.readouterr().out
    call_command("reassess", "--fallbacks")
    assert "Re-assessed 0 event(s)" in capsys.readouterr().out
    with pytest.raises(Exception, match="say which events"):
        call_command("reassess")
