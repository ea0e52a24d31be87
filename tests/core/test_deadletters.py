"""Dead letters in the operator console: inspect, replay one / the selected / all, discard."""

import pytest

from homesec.core.deadletters import dead_letter_record, dead_letter_replay
from homesec.core.models import DeadLetter

pytestmark = pytest.mark.django_db


@pytest.fixture
def letters():
    return [
        dead_letter_record(
            key=f"ingest:{n}",
            task="cameras.tasks.ingest_replay",
            payload={"ingest_ids": [n]},
            error=f"OSError: disk error {n}",
        )
        for n in (1, 2, 3)
    ]


def sent(monkeypatch):
    """What replay hands to the broker (the edge: django-q2's async_task)."""
    calls = []
    monkeypatch.setattr("django_q.tasks.async_task", lambda func, *args, **kw: calls.append((func, args)))
    return calls


def test_recording_the_same_failure_again_counts_attempts_on_one_row(letters):
    dead_letter_record(
        key="ingest:1", task="cameras.tasks.ingest_replay", payload={"ingest_ids": [1]}, error="OSError: again"
    )
    letter = DeadLetter.objects.get(key="ingest:1")
    assert (letter.attempts, letter.error) == (2, "OSError: again")
    assert DeadLetter.objects.count() == 3


def test_the_console_lists_and_shows_a_dead_letter(admin_client, letters):
    page = admin_client.get("/admin/core/deadletter/")
    assert page.status_code == 200 and b"ingest:2" in page.content and b"Replay all" in page.content
    detail = admin_client.get(f"/admin/core/deadletter/{letters[0].pk}/change/")
    assert b"disk error 1" in detail.content


def test_replaying_the_selected_sends_their_payloads(
    admin_client, letters, monkeypatch, django_capture_on_commit_callbacks
):
    calls = sent(monkeypatch)
    with django_capture_on_commit_callbacks(execute=True):
        admin_client.post("/admin/core/deadletter/", {"action": "replay_selected", "_selected_action": [letters[1].pk]})
    assert calls == [("cameras.tasks.ingest_replay", ({"ingest_ids": [2]},))]
    assert DeadLetter.objects.get(pk=letters[1].pk).replay_count == 1


def test_replay_all_and_discard(admin_client, letters, monkeypatch, django_capture_on_commit_callbacks):
    calls = sent(monkeypatch)
    with django_capture_on_commit_callbacks(execute=True):
        admin_client.post("/admin/core/deadletter/replay-all/")
    assert sorted(args[0]["ingest_ids"][0] for _, args in calls) == [1, 2, 3]
    admin_client.post("/admin/core/deadletter/", {"action": "discard_selected", "_selected_action": [letters[0].pk]})
    assert sorted(DeadLetter.objects.values_list("key", flat=True)) == ["ingest:2", "ingest:3"]


def test_viewers_cannot_reach_failed_work(viewer_client, letters):
    assert viewer_client.post("/admin/core/deadletter/replay-all/").status_code == 302
    assert not dead_letter_replay(letters=[])
