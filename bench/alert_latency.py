"""bench/alert_latency: a sure person in a photo -> the webhook received, through the real
processes, with the rules analyzer (no language model) on 640x360 photos.

    bash bench/run.sh alert_latency [--photos 40] [--gap 1.5]   # PostgreSQL + Redis
    bash bench/run.sh alert_latency --heavy [--budget 5]        # heavy lane full, model hanging

The watcher, one worker cluster, the alert lane and the slow lane run as `make run` runs
them. Detection is a local stand-in for a remote detector (tests/support/fake_detector.py,
the reference wire format: it decodes the upload and "sees" a person at 0.93, so every
photo takes the fast path). Each photo goes to a camera folder of its own, so each makes
a new event and a new alert (one camera would be held back by the cooldown, by design).
Photos are written and closed one every --gap seconds, as an FTP server does; the
latency is from the close to the webhook receiver having read the request. Per hop (from
the rows' timestamps): ingest row, detection stored, alert raised (the fast-path
assessment and the rule check done), the notification taken by an alert worker.

--heavy: a language model is configured that never answers (a local chat-completions server
that holds every request), with HOMESEC_FAST_PATH_LLM_BUDGET_S=--budget, and before the first
photo full-HD clips are dropped on a camera that keeps none of their detections, enough for
both slow workers to transcode them for the whole run. Every alert then goes out on the
rules once the budget is spent (target p95 <= budget + 1 s), while the transcodes run.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
from bench.common import percentile, start, stop  # noqa: E402


def photo(n: int) -> bytes:
    import cv2

    image = cv2.imread(str(REPO / "tests" / "detections" / "photos" / "astronaut.jpg"))
    image = cv2.resize(image, (640, 360))
    cv2.putText(image, f"#{n}", (20, 40), cv2.FONT_HERSHEY_SIMPLEX, 1, (255, 255, 255), 2)
    return cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, 85])[1].tobytes()


def fill_the_slow_lane(root: Path, work: Path, count: int) -> None:
    """Full-HD clips on a camera that keeps none of their detections (so no event of theirs
    calls the model): only transcodes, until both slow workers are at one."""
    from cameras.models import Camera
    from detections.models import Clip
    from tests.cameras.corpus import heavy_clip

    Camera.objects.create(id="yard", name="Yard", folder="yard", filters={"person": {"min_confidence": 0.99}})
    (root / "yard").mkdir()
    clip = heavy_clip(work / "heavy.avi", frames=600).read_bytes()
    for n in range(count):
        (work / f"clip{n}.avi").write_bytes(clip + bytes([n]))  # different bytes: each one is copied
        os.rename(work / f"clip{n}.avi", root / "yard" / f"clip{n}.avi")
    # Their detection (the main lane) done first: what is measured is the alert path beside
    # a full slow lane, not the photos waiting behind the clips' frames on the main lane.
    deadline = time.time() + 300
    while time.time() < deadline and not (
        Clip.objects.count() == count and Clip.objects.filter(transcode="running").count() == 2
    ):
        time.sleep(0.2)
    running, waiting = (Clip.objects.filter(transcode=state).count() for state in ("running", "pending"))
    print(f"slow lane: {running} transcodes running, {waiting} waiting")


def line(label: str, values: list[float]) -> None:
    print(
        f"  {label:<34} p50 {percentile(values, 50):7.1f} ms   p95 {percentile(values, 95):7.1f} ms"
        f"   max {max(values):7.1f} ms"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--photos", type=int, default=40)
    parser.add_argument("--gap", type=float, default=1.5, help="seconds between photos")
    parser.add_argument("--heavy", action="store_true", help="slow lane full of transcodes, the model hanging")
    parser.add_argument("--budget", type=float, default=5.0, help="with --heavy: the model's budget (s)")
    parser.add_argument("--clips", type=int, default=12, help="with --heavy: full-HD clips to transcode")
    args = parser.parse_args()

    from tests.support.fake_detector import FakeDetector
    from tests.support.fake_llm import FakeLLM
    from tests.support.servers import Receiver

    work = Path(tempfile.mkdtemp(prefix="homesec-bench-"))
    detector, receiver = FakeDetector().start(), Receiver().start()
    llm = FakeLLM().start()
    llm.script, llm.slow_s = ["slow"] * 1000, 3600  # holds every request
    if args.heavy:
        os.environ.update(
            HOMESEC_LLM_URL=llm.url,
            HOMESEC_LLM_MODEL="never-answers",
            HOMESEC_FAST_PATH_LLM_BUDGET_S=str(args.budget),
        )
    os.environ.setdefault("HOMESEC_DATA_DIR", str(work / "var"))
    os.environ.update(
        HOMESEC_CAMERA_ROOT=str(work / "var" / "cameras"),
        HOMESEC_ENV_FILE=os.environ.get("HOMESEC_ENV_FILE", "/dev/null"),
        DJANGO_SETTINGS_MODULE="homesec.settings",
        HOMESEC_DETECTOR="http",
        HOMESEC_DETECTOR_URL=detector.url,
        HOMESEC_NOTIFY_WEBHOOK_URL=receiver.url + "/hook",
        HOMESEC_NOTIFY_WEBHOOK_SECRET="bench-secret",
        # The rules score a lone person by day below "high": let every event alert.
        HOMESEC_ALERT_MIN_LEVEL="low",
    )
    import django

    django.setup()
    from django.conf import settings
    from django.core.management import call_command

    from alerts.models import Alert, Notification
    from cameras.models import Ingest
    from detections.models import Clip, DetectionRun

    call_command("migrate", verbosity=0)
    print(
        f"database {settings.DATABASES['default']['ENGINE'].rsplit('.', 1)[1]}, "
        f"broker {'redis' if settings.REDIS_URL else 'orm'}, {os.cpu_count()} cores, "
        f"{args.photos} photos 640x360, one every {args.gap:g} s, "
        f"alert workers {settings.Q_CLUSTER['ALT_CLUSTERS']['alerts']['workers']}, "
        f"slow workers {settings.Q_CLUSTER['ALT_CLUSTERS']['slow']['workers']}"
        + (
            f"; heavy: {args.clips} clips to transcode, the model hanging, budget {args.budget:g} s"
            if args.heavy
            else ""
        )
    )
    env = {**os.environ, "HOMESEC_SECRET_KEY": settings.SECRET_KEY, "PYTHONUNBUFFERED": "1"}
    lanes = [
        ["worker", "--cluster", "alerts", "--role", "alert-worker"],
        ["worker", "--cluster", "slow", "--role", "slow-worker"],
    ]
    procs = start(["watch_cameras", "worker", *lanes], env)
    root = settings.CAMERA_ROOT
    closed: dict[str, float] = {}
    try:
        time.sleep(6)  # the processes start and the watcher has its watches in place
        if args.heavy:
            fill_the_slow_lane(root, work, args.clips)
        for n in range(args.photos + 1):  # the first one warms up and is not counted
            camera = f"cam_{n:03d}"
            (root / camera).mkdir()
            time.sleep(0.3)  # the new folder is watched
            with open(root / camera / "snap.jpg", "wb") as handle:
                handle.write(photo(n))
            closed[camera] = time.time()
            time.sleep(args.gap)
        deadline = time.time() + 60
        while len(receiver.requests) < len(closed) and time.time() < deadline:
            time.sleep(0.1)
        if args.heavy:
            running, done = (Clip.objects.filter(transcode=state).count() for state in ("running", "done"))
            print(f"after the last webhook: {running} transcodes running, {done} done")
    finally:
        stop(procs)
        detector.stop()
        receiver.stop()
        llm.stop()
    received = {json.loads(r["body"])["camera"]["id"]: r["at"] for r in receiver.requests}
    counted = [c for c in sorted(closed) if c != "cam_000"]
    missing = [c for c in counted if c not in received]
    print(f"webhooks received: {len(received)} of {len(closed)}" + (f"; missing {missing}" if missing else ""))

    hops: dict[str, list[float]] = {k: [] for k in ("ingest row", "detection stored", "alert raised", "send started")}
    total = []
    for camera in counted:
        if camera not in received:
            continue
        t0 = closed[camera]
        ingest = Ingest.objects.get(camera_id=camera)
        run = DetectionRun.objects.get(ingest=ingest)
        alert = Alert.objects.get(camera_id=camera)
        sending = Notification.objects.get(alert=alert).claimed_at  # an alert worker took it
        for key, moment in zip(hops, (ingest.arrived_at, run.finished_at, alert.created_at, sending), strict=True):
            hops[key].append((moment.timestamp() - t0) * 1000)
        total.append((received[camera] - t0) * 1000)
    print("file closed ->")
    for key, values in hops.items():
        line(key, values)
    target = (args.budget + 1) * 1000 if args.heavy else 1000
    line(f"webhook received (target p95 {target:.0f})", total)
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
