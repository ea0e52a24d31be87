"""Task queues (lanes): the alert path has one that heavy work cannot fill."""

from __future__ import annotations

import pytest
from django.conf import settings

from homesec.core.management.commands.run import process_specs
from homesec.core.management.commands.worker import LANES
from monitoring.selectors import process_roles

ALERT_PATH = (
    "events.tasks.assessment_rules_due",  # the fast path's assessment (rules, or the model within its budget)
    "alerts.tasks.alerts_evaluate",  # the rule check
    "alerts.tasks.notifications_send",
    "alerts.tasks.notification_replay",
)
HEAVY = ("events.tasks.assessment_llm_run", "events.tasks.prompt_replay_run", "detections.tasks.clip_transcode")


@pytest.mark.parametrize("task", ALERT_PATH)
def test_the_alert_path_runs_on_its_own_lane(task):
    assert settings.TASK_LANES[task] == "alerts"


@pytest.mark.parametrize("task", HEAVY)
def test_language_model_calls_and_transcodes_run_on_the_slow_lane(task):
    assert settings.TASK_LANES[task] == "slow"


def test_every_lane_has_workers_that_homesec_starts_and_watches():
    lanes = set(settings.TASK_LANES.values())
    assert lanes <= set(settings.Q_CLUSTER["ALT_CLUSTERS"])
    started = [spec.argv for spec in process_specs()]
    assert any(argv[2:4] == ["worker", "--all-lanes"] for argv in started), started
    assert lanes <= {lane for _, lane in LANES}  # what `worker --all-lanes` forks
    # Every lane it forks has a heartbeat /ready watches.
    assert {role for role, _ in LANES} <= set(process_roles())


def test_each_lanes_stale_period_outlasts_its_longest_task():
    for lane, stale in (("slow", settings.SLOW_STALE_S), ("alerts", settings.ALERT_STALE_S)):
        assert stale > settings.Q_CLUSTER["ALT_CLUSTERS"][lane]["timeout"]
    assert settings.INGEST_STALE_S > settings.Q_CLUSTER["timeout"]
