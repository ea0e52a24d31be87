"""Task names follow the services they call; what was stored or configured under the old
names keeps working after an upgrade."""

from __future__ import annotations

import subprocess
import sys

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.utils.module_loading import import_string

from tests.support.processes import REPO, process_env

OLD_TO_NEW = {
    "detections.tasks.detect_ingests": "detections.tasks.detection_accept",
    "detections.tasks.detect_runs": "detections.tasks.detection_process",
    "detections.tasks.detect_replay": "detections.tasks.detection_replay",
    "events.tasks.events_add": "events.tasks.event_add_detections",
    "events.tasks.event_assess": "events.tasks.assessment_rules_due",
    "events.tasks.event_assess_llm": "events.tasks.assessment_llm_run",
    "events.tasks.prompt_replay": "events.tasks.prompt_replay_run",
}


@pytest.mark.parametrize(("old", "new"), OLD_TO_NEW.items())
def test_an_old_task_path_in_a_queued_message_still_runs_the_same_task(old, new):
    assert import_string(old) is import_string(new)


@pytest.mark.django_db(transaction=True)
def test_dead_letters_stored_under_old_task_names_are_rewritten_by_the_upgrade():
    executor = MigrationExecutor(connection)
    executor.migrate([("core", "0005_role_groups")])
    old_apps = executor.loader.project_state([("core", "0005_role_groups")]).apps
    letters = old_apps.get_model("core", "DeadLetter")
    for n, task in enumerate((*OLD_TO_NEW, "detections.tasks.clip_transcode", "cameras.tasks.ingest_replay")):
        letters.objects.create(key=f"k{n}", task=task, payload={}, error="x", last_failed_at="2026-12-01T00:00Z")
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(executor.loader.graph.leaf_nodes())
    from homesec.core.models import DeadLetter

    tasks = set(DeadLetter.objects.values_list("task", flat=True))
    assert tasks == {*OLD_TO_NEW.values(), "detections.tasks.clip_transcode_replay", "cameras.tasks.ingest_replay"}
    assert all(import_string(task) for task in tasks)


@pytest.mark.parametrize(
    ("variable", "old", "new"),
    [
        ("HOMESEC_INGEST_NEXT_STAGE", "detections.tasks.detect_ingests", "detections.tasks.detection_accept"),
        ("HOMESEC_DETECT_NEXT_STAGE", "events.tasks.events_add", "events.tasks.event_add_detections"),
    ],
)
def test_an_old_stage_name_in_the_env_file_is_used_with_a_deprecation_message(tmp_path, variable, old, new):
    setting = variable.removeprefix("HOMESEC_")
    done = subprocess.run(
        [sys.executable, "-c", f"from django.conf import settings; print(settings.{setting})"],
        env={**process_env(tmp_path / "var"), variable: old, "DJANGO_SETTINGS_MODULE": "homesec.settings"},
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == new
    assert variable in done.stderr and "old name" in done.stderr and new in done.stderr
