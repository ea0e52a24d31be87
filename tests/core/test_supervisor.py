"""The supervisor, with real child processes."""

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

from homesec.core.supervisor import ProcessSpec, Supervisor, restart_delay
from tests.support.processes import wait_for


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie nobody reaps still answers kill(0); read its state instead.
    try:
        with open(f"/proc/{pid}/stat") as handle:
            return handle.read().split(") ")[1][0] != "Z"
    except FileNotFoundError:
        return False


def test_restart_delay_backs_off_and_is_capped():
    assert [restart_delay(n) for n in range(8)] == [0.5, 1, 2, 4, 8, 16, 30, 30]


def test_a_dead_child_has_its_whole_group_ended_and_is_restarted(tmp_path):
    # The child leaves a grandchild behind (as qcluster's workers outlive their parent),
    # writes the grandchild's pid, then dies.
    script = (
        "import os, subprocess, sys, time\n"
        f"p = subprocess.Popen([{sys.executable!r}, '-c', 'import time; time.sleep(60)'])\n"
        f"open({str(tmp_path)!r} + f'/orphan-{{os.getpid()}}', 'w').write(str(p.pid))\n"
        "time.sleep(0.3)\n"
        "sys.exit(3)\n"
    )
    supervisor = Supervisor([ProcessSpec("flaky", [sys.executable, "-c", script])], poll_s=0.05)
    runner = threading.Thread(target=supervisor.supervise, daemon=True)
    runner.start()
    try:
        orphans = wait_for(
            lambda: sorted(tmp_path.glob("orphan-*")) if len(list(tmp_path.glob("orphan-*"))) >= 2 else None,
            timeout=10,
            what="two runs of the child",
        )
        first_orphan = int(orphans[0].read_text())
        wait_for(lambda: not alive(first_orphan), timeout=5, what="the first run's orphan to be killed")
        assert len(supervisor.children[0].restarts) >= 1
    finally:
        supervisor.stopping = True
        runner.join(timeout=20)


def test_stop_ends_every_child(tmp_path):
    supervisor = Supervisor(
        [ProcessSpec(f"sleeper{i}", [sys.executable, "-c", "import time; time.sleep(60)"]) for i in range(2)],
        poll_s=0.05,
    )
    runner = threading.Thread(target=supervisor.supervise, daemon=True)
    runner.start()
    wait_for(lambda: all(c.popen is not None for c in supervisor.children), timeout=5, what="children")
    pids = [c.popen.pid for c in supervisor.children]
    started = time.monotonic()
    supervisor.request_stop(signal.SIGTERM, None)
    runner.join(timeout=20)
    assert not runner.is_alive() and time.monotonic() - started < 10
    assert not any(alive(pid) for pid in pids)


def test_a_supervisor_killed_outright_takes_its_children_with_it(tmp_path):
    """SIGKILL (or the OOM killer) gives the supervisor no time to stop anyone: its children,
    each in a session of its own, must still not run on without it."""
    child = "import os, time; open(os.environ['PIDFILE'], 'w').write(str(os.getpid())); time.sleep(60)"
    boss = (
        "import os, sys\n"
        "from homesec.core.supervisor import ProcessSpec, Supervisor\n"
        f"spec = ProcessSpec('sleeper', [sys.executable, '-c', {child!r}],"
        f" env={{'PIDFILE': {str(tmp_path / 'pid')!r}}})\n"
        "Supervisor([spec], poll_s=0.05).supervise()\n"
    )
    supervisor = subprocess.Popen([sys.executable, "-c", boss], cwd=Path(__file__).resolve().parents[2])
    try:
        pid = int(wait_for(lambda: (tmp_path / "pid").exists() and (tmp_path / "pid").read_text(), timeout=20))
        supervisor.kill()
        supervisor.wait(5)
        wait_for(lambda: not alive(pid), timeout=5, what="the child to end with its supervisor")
    finally:
        supervisor.kill()
