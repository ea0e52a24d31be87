"""`manage.py worker --all-lanes`: every lane's cluster forked from one process, as
`manage.py run` starts them, with real processes."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys

import pytest
from django.utils import timezone

from homesec.core.models import Heartbeat
from tests.support.processes import REPO, pipeline_env, process_env, wait_for

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]

CONF = (
    "import json, os, django; django.setup()\n"
    "from django_q.conf import Conf\n"
    "from homesec.core.management.commands.worker import use_lane\n"
    "if os.environ.get('LANE'): use_lane(os.environ['LANE'])\n"
    "print(json.dumps({k: str(v) for k, v in vars(Conf).items() if k.isupper() and k != 'SIGNAL_NAMES'}))\n"
)


def conf_of(env: dict[str, str]) -> dict[str, str]:
    done = subprocess.run([sys.executable, "-c", CONF], env=env, cwd=REPO, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("lane", ["alerts", "slow"])
def test_a_lane_switched_in_a_running_process_has_the_settings_of_a_worker_started_for_it(tmp_path, lane):
    env = process_env(tmp_path / "var", HOMESEC_ALERT_WORKERS="3", HOMESEC_SLOW_TASK_TIMEOUT_S="77")
    started_for_it = conf_of({**env, "Q_CLUSTER_NAME": lane})
    switched = conf_of({**env, "LANE": lane})
    assert switched == started_for_it
    assert switched["CLUSTER_NAME"] == lane
    assert switched != conf_of(env)  # the main queue's differ: the switch did something


def beats(role: str) -> list[Heartbeat]:
    recent = timezone.now() - timezone.timedelta(seconds=3)
    return list(Heartbeat.objects.filter(role=role, beat_at__gte=recent))


def lane_pid(role: str) -> int:
    return wait_for(lambda: beats(role) and beats(role)[0].pid, timeout=30, what=f"a heartbeat of {role}")


def ancestors(pid: int) -> list[int]:
    chain = []
    while pid > 1:
        with open(f"/proc/{pid}/stat") as handle:
            pid = int(handle.read().rsplit(")", 1)[1].split()[1])
        chain.append(pid)
    return chain


def test_every_lane_runs_its_own_queue_and_a_killed_lane_comes_back_alone(tmp_path, spawn):
    from django_q.tasks import async_task, result

    env, _ = pipeline_env(tmp_path)
    proc = spawn([sys.executable, str(REPO / "manage.py"), "worker", "--all-lanes"], env, name="workers")
    pids = {role: lane_pid(role) for role in ("worker", "alert-worker", "slow-worker")}
    assert len(set(pids.values())) == 3
    for lane, role in ((None, "worker"), ("alerts", "alert-worker"), ("slow", "slow-worker")):
        task = async_task("os.getpid", **({"cluster": lane} if lane else {}))
        ran_in = result(task, wait=20_000)
        assert ran_in and pids[role] in ancestors(ran_in), f"{lane or 'main'}: {proc.output()}"

    # A lane killed outright (its whole group) is forked again; the others go on untouched.
    os.killpg(pids["alert-worker"], signal.SIGKILL)
    wait_for(
        lambda: any(b.pid != pids["alert-worker"] for b in beats("alert-worker")),
        timeout=20,
        what=proc.output,
    )
    assert [b.pid for b in beats("worker")] == [pids["worker"]]
    assert [b.pid for b in beats("slow-worker")] == [pids["slow-worker"]]
    assert "alert-worker exited" in proc.output()

    # SIGTERM stops every lane before the parent exits.
    lanes = [b.pid for role in pids for b in beats(role)]
    proc.popen.terminate()
    assert proc.popen.wait(timeout=30) == 0
    assert not [pid for pid in lanes if os.path.exists(f"/proc/{pid}")]
