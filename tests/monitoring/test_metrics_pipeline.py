"""/metrics after photos go through the real processes (watcher, worker, alert worker): each
stage's latency histogram counts every file, and a worker killed by SIGKILL and started
again leaves every counter where it was or higher."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from alerts.models import Notification
from cameras.models import Ingest
from detections.models import DetectionRun
from tests.cameras.corpus import jpeg_bytes
from tests.monitoring.test_metrics import promtool
from tests.support.fake_detector import FakeDetector
from tests.support.processes import ALERT_WORKER, pipeline_env, start_manage, wait_for

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]
TOKEN = "scrape-token-0123456789abcdef"
STAGES = ("ingested", "detected", "assessed", "alerted", "notified")


def scrape(client) -> str:
    response = client.get("/metrics", HTTP_AUTHORIZATION=f"Bearer {TOKEN}")
    assert response.status_code == 200
    return response.content.decode()


def counts(client) -> dict[tuple[str, tuple], float]:
    """homesec's counter and histogram samples, as Prometheus parses the scrape."""
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(scrape(client))
        if family.name.startswith("homesec_") and family.type in ("counter", "histogram")
        for sample in family.samples
    }


def stage_counts(scraped: dict) -> dict[str, float]:
    return {stage: scraped.get(("homesec_stage_latency_seconds_count", (("stage", stage),)), 0) for stage in STAGES}


def drop(root, cameras: range) -> None:
    """One photo (a person, to the fake detector) on each camera: one event, alert and
    notification per camera."""
    for n in cameras:
        (root / f"cam{n}" / "snapshot.jpg").write_bytes(jpeg_bytes(seed=n))


def main_workers(data_dir: Path) -> list[int]:
    """Every live process of this test's main-lane worker (the command, its cluster, the
    sentinel and its task processes), found by command line and data folder."""
    pids = []
    for proc in Path("/proc").iterdir():
        try:
            argv = (proc / "cmdline").read_bytes().split(b"\0")
            env = (proc / "environ").read_bytes().split(b"\0")
            state = (proc / "stat").read_text().rsplit(") ", 1)[1][0]
        except (OSError, IndexError, ValueError):
            continue
        if b"worker" in argv and b"--cluster" not in argv and f"HOMESEC_DATA_DIR={data_dir}".encode() in env:
            if state != "Z":  # dead, not yet reaped
                pids.append(int(proc.name))
    return pids


def kill_worker(data_dir: Path) -> None:
    """SIGKILL the main lane's worker and all its processes at once, as the kernel's OOM
    killer or a crash would leave it."""
    pids = main_workers(data_dir)
    assert pids
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    wait_for(lambda: not main_workers(data_dir), timeout=10, what="the worker's processes to die")


def test_stage_histograms_count_every_file_and_a_killed_worker_sets_no_counter_back(
    tmp_path, spawn, receiver, client, settings
):
    settings.METRICS_TOKEN = TOKEN
    detector = FakeDetector().start()  # a person at 0.93: assessed at once (the fast path)
    try:
        env, root = pipeline_env(
            tmp_path,
            HOMESEC_DETECTOR="http",
            HOMESEC_DETECTOR_URL=detector.url,
            HOMESEC_EVENT_IDLE_S="1",
            HOMESEC_ALERT_MIN_LEVEL="low",  # every event alerts
            HOMESEC_NOTIFY_WEBHOOK_URL=receiver.url + "/hook",
            HOMESEC_NOTIFY_WEBHOOK_SECRET="metrics-secret",
        )
        for n in range(5):  # the cameras' folders, there before the watcher (as a camera's are)
            (root / f"cam{n}").mkdir()
        start_manage(spawn, env, ["watch_cameras"], ["worker"], ALERT_WORKER)
        drop(root, range(3))
        wait_for(
            lambda: stage_counts(counts(client)) == dict.fromkeys(STAGES, 3),
            timeout=60,
            what=lambda: (stage_counts(counts(client)), list(Notification.objects.values("status", "error"))),
        )
        before = counts(client)
        assert before[("homesec_ingests_total", (("outcome", "done"),))] == 3
        assert before[("homesec_detector_seconds_count", (("backend", "http"),))] == 3
        assert before[("homesec_notifications_total", (("channel", "webhook"), ("outcome", "delivered")))] == 3
        assert sum(v for (name, _), v in before.items() if name == "homesec_alerts_total") == 3
        assert len(receiver.requests) == 3

        kill_worker(tmp_path / "var")
        [restarted] = start_manage(spawn, env, ["worker"])
        drop(root, range(3, 5))
        wait_for(
            lambda: stage_counts(counts(client)) == dict.fromkeys(STAGES, 5),
            timeout=60,
            what=lambda: (
                stage_counts(counts(client)),
                list(Ingest.objects.values("path", "status", "arrived_at", "queued_at", "claimed_at")),
                list(DetectionRun.objects.values("ingest__path", "status", "claimed_at")),
                restarted.output()[-3000:],
            ),
        )
        after = counts(client)
        went_back = {key: (value, after.get(key)) for key, value in before.items() if after.get(key, 0) < value}
        assert not went_back
        assert after[("homesec_ingests_total", (("outcome", "done"),))] == 5
        assert after[("homesec_notifications_total", (("channel", "webhook"), ("outcome", "delivered")))] == 5
        checked = subprocess.run([promtool(), "check", "metrics"], input=scrape(client), capture_output=True, text=True)
        assert (checked.returncode, checked.stdout, checked.stderr) == (0, "", "")
    finally:
        detector.stop()
