"""bench/footprint: the memory and CPU of every process of `make run`, idle and under load.

    .venv/bin/python bench/footprint.py [--idle-s 60] [--load-s 60] [--rate 10]   # make run's defaults
    bash bench/run.sh footprint                                                  # PostgreSQL + Redis

Starts homesec the way `make run` does (`manage.py run`: migrate, static files, an admin,
then the supervisor and its processes) in a throwaway data folder on a free port, waits for
/ready, lets the start-up settle, and then reads, for every process under the supervisor
(its children and theirs, from /proc):

* PSS from /proc/PID/smaps_rollup: a forked worker shares most of its pages with its
  parent, and PSS splits each shared page among its users, so the column adds up to what
  the processes really take (RSS counts a shared page once in every process);
* CPU as utime + stime from /proc/PID/stat over the window: the process's own CPU time,
  which other load on the machine slows but does not add to.

First idle (nothing to do, --idle-rounds windows), then under --rate photos a second
(640x360 JPEGs, each different, moved into one camera folder as an FTP upload lands) with
detection by the HTTP detector stand-in (tests/support/fake_detector.py, in this process:
the opencv detector cannot take 10 photos a second on 2 cores). The stand-in's CPU is this
process's, not homesec's.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import httpx

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
from tests.support.processes import free_port, wait_for  # noqa: E402

TICKS = os.sysconf("SC_CLK_TCK")
# The order in which `worker --all-lanes --with-watcher` forks its children.
LANES = ["worker", "alert-worker", "slow-worker", "watcher"]


@dataclass
class Sample:
    cmdline: str
    ppid: int
    cpu_ticks: int
    pss_kb: int
    rss_kb: int


def read_proc(pid: int) -> Sample | None:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace").strip()
        rollup = Path(f"/proc/{pid}/smaps_rollup").read_text()
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return None
    fields = stat[stat.rindex(")") + 2 :].split()  # after "pid (comm) ": state is field 3
    kb = {m[1]: int(m[2]) for m in re.finditer(r"^(\w+):\s+(\d+) kB", rollup, re.M)}
    return Sample(cmdline, int(fields[1]), int(fields[11]) + int(fields[12]), kb.get("Pss", 0), kb.get("Rss", 0))


def tree(root: int) -> dict[int, Sample]:
    """The root and every descendant, whatever session or group they are in."""
    samples = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit() and (sample := read_proc(int(entry))) is not None:
            samples[int(entry)] = sample
    found, todo = {}, [root]
    while todo:
        pid = todo.pop()
        if pid in samples:
            found[pid] = samples[pid]
            todo.extend(p for p, s in samples.items() if s.ppid == pid)
    return found


ROLES = (("daphne", "web"), ("watch_cameras", "watcher"), ("ftp_server", "ftp"))


def roles(root: int, procs: dict[int, Sample]) -> dict[int, str]:
    """A name for each process: the supervisor's children by their command, a worker
    cluster's processes by their place in it. `worker --all-lanes` forks the lanes in the
    order of homesec.core.management.commands.worker.LANES; a sentinel forks its workers
    first, then the monitor, then the pusher (a process forked again later, after one died,
    may be misnamed)."""
    names = {root: "supervisor (manage.py run)"}

    def children(pid: int) -> list[int]:
        return sorted(p for p, s in procs.items() if s.ppid == pid)

    def cluster(pid: int, role: str) -> None:
        names[pid] = role
        pool = children(pid)
        if len(pool) == 1:  # django-q2's Cluster: a process that only runs the sentinel
            names[pool[0]] = f"{role} › sentinel"
            pool = children(pool[0])
        kinds = [f"worker {n + 1}" for n in range(len(pool) - 2)] + ["monitor", "pusher"]
        for n, child in enumerate(pool):
            names[child] = f"{role} › {kinds[n] if len(pool) >= 2 else 'pool'}"

    for pid in children(root):
        cmd = procs[pid].cmdline
        role = next((name for key, name in ROLES if key in cmd), None)
        if "--all-lanes" in cmd:
            names[pid] = "workers (their parent)"
            for lane, lane_role in zip(children(pid), LANES, strict=False):
                cluster(lane, lane_role)
        elif role is not None:
            names[pid] = role
        else:
            found = re.search(r"--role (\S+)", cmd)
            cluster(pid, found[1] if found else "worker")
    for pid in procs:
        names.setdefault(pid, f"{names.get(procs[pid].ppid, '?')} › child")
    return names


def window(root: int, seconds: float) -> tuple[dict[int, Sample], dict[int, float]]:
    """PSS at the end and % of one core per process over `seconds`."""
    before = tree(root)
    start = time.monotonic()
    time.sleep(seconds)
    after = tree(root)
    elapsed = time.monotonic() - start
    cpu = {
        pid: 100.0 * (s.cpu_ticks - before[pid].cpu_ticks) / TICKS / elapsed
        for pid, s in after.items()
        if pid in before
    }
    return after, cpu


def photos(n: int) -> list[bytes]:
    import cv2
    import numpy as np

    rng = np.random.default_rng(0)
    base = cv2.GaussianBlur(rng.integers(0, 255, (360, 640, 3), dtype=np.uint8), (0, 0), 3)
    out = []
    for i in range(n):
        frame = base.copy()
        cv2.putText(frame, f"#{i}", (20 + i % 400, 60 + i % 250), cv2.FONT_HERSHEY_SIMPLEX, 1.5, (255, 255, 255), 2)
        out.append(cv2.imencode(".jpg", frame, [cv2.IMWRITE_JPEG_QUALITY, 85])[1].tobytes())
    return out


def table(names: dict[int, str], columns: list[tuple[str, dict[int, Sample], dict[int, float]]]) -> None:
    header = f"{'pid':>7}  {'process':<30}" + "".join(f"  {c[0] + ' PSS MB':>16}  {'CPU %':>6}" for c in columns)
    print(header)
    print("-" * len(header))
    pids = sorted({pid for _, procs, _ in columns for pid in procs}, key=lambda p: (names.get(p, "~"), p))
    for pid in pids:
        row = f"{pid:>7}  {names.get(pid, '(gone)')[:30]:<30}"
        for _, procs, cpu in columns:
            row += (
                f"  {procs[pid].pss_kb / 1024:>16.1f}  {cpu.get(pid, float('nan')):>6.2f}"
                if pid in procs
                else f"  {'-':>16}  {'-':>6}"
            )
        print(row)
    print("-" * len(header))
    row = f"{'':>7}  {'total':<30}"
    for _, procs, cpu in columns:
        row += f"  {sum(s.pss_kb for s in procs.values()) / 1024:>16.1f}  {sum(cpu.values()):>6.2f}"
    print(row)
    for label, procs, _ in columns:
        print(
            f"{label}: {len(procs)} processes, PSS {sum(s.pss_kb for s in procs.values()) / 1024:.0f} MB"
            f" (RSS would say {sum(s.rss_kb for s in procs.values()) / 1024:.0f} MB)"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--idle-s", type=float, default=60, help="length of an idle window")
    parser.add_argument("--idle-rounds", type=int, default=2, help="idle windows, one after the other")
    parser.add_argument("--settle-s", type=float, default=15, help="wait after /ready before measuring")
    parser.add_argument("--load-s", type=float, default=60, help="length of the window under load")
    parser.add_argument("--rate", type=float, default=10, help="photos a second under load")
    args = parser.parse_args()

    from tests.support.fake_detector import FakeDetector

    work = Path(tempfile.mkdtemp(prefix="homesec-footprint-"))
    data = Path(os.environ.get("HOMESEC_DATA_DIR") or work / "var")
    port = free_port()
    detector = FakeDetector().start()
    env = {
        **os.environ,
        "HOMESEC_ENV_FILE": os.environ.get("HOMESEC_ENV_FILE", "/dev/null"),
        "HOMESEC_DATA_DIR": str(data),
        "PORT": str(port),
        "HOMESEC_DETECTOR": "http",
        "HOMESEC_DETECTOR_URL": detector.url,
        "PYTHONUNBUFFERED": "1",
    }
    count = int(args.rate * args.load_s)
    print(
        f"database {'PostgreSQL' if env.get('DATABASE_URL') else 'SQLite'}, broker "
        f"{'Redis' if env.get('REDIS_URL') else 'the database (ORM)'}, {os.cpu_count()} cores; "
        f"idle {args.idle_rounds} x {args.idle_s:g} s after {args.settle_s:g} s; "
        f"{args.rate:g} photos/s (640x360) for {args.load_s:g} s, HTTP detector stand-in",
        flush=True,
    )
    images = photos(count + 1)
    log = (work / "run.log").open("wb")
    run = subprocess.Popen(
        [sys.executable, str(REPO / "manage.py"), "run"], env=env, cwd=REPO, stdout=log, stderr=subprocess.STDOUT
    )
    try:
        started = time.monotonic()

        def ready() -> bool:
            assert run.poll() is None, (work / "run.log").read_text()
            try:
                return httpx.get(f"http://127.0.0.1:{port}/ready", timeout=2).status_code == 200
            except httpx.HTTPError:
                return False

        wait_for(ready, timeout=120, interval=0.5, what="/ready")
        print(f"ready after {time.monotonic() - started:.1f} s", flush=True)
        time.sleep(args.settle_s)
        columns = []
        for n in range(args.idle_rounds):
            procs, cpu = window(run.pid, args.idle_s)
            columns.append((f"idle {n + 1}", procs, cpu))

        root = data / "cameras"
        staging = data / "staging"  # same file system: a rename lands the file whole
        staging.mkdir(parents=True, exist_ok=True)
        (root / "front").mkdir(parents=True, exist_ok=True)
        time.sleep(1)  # the new folder is watched
        _drop(staging, root / "front", images[0], "warmup.jpg")  # the camera's row is made
        time.sleep(3)
        before = tree(run.pid)
        t0 = time.monotonic()
        for i, image in enumerate(images[1:]):
            time.sleep(max(0.0, t0 + i / args.rate - time.monotonic()))
            _drop(staging, root / "front", image, f"snap_{i:05d}.jpg")
        after = tree(run.pid)
        elapsed = time.monotonic() - t0
        cpu = {
            pid: 100.0 * (s.cpu_ticks - before[pid].cpu_ticks) / TICKS / elapsed
            for pid, s in after.items()
            if pid in before
        }
        columns.append((f"{args.rate:g}/s", after, cpu))
        done = _detected(env, count + 1, timeout=120)
        print(
            f"under load: {count} photos in {elapsed:.1f} s; all detected {done:.1f} s after the last one"
            if done >= 0
            else f"under load: {count} photos in {elapsed:.1f} s; not all detected 120 s after the last one",
            flush=True,
        )
        # Named as they were when idle; a process forked later (a worker recycled after 500
        # tasks, one that died) by its place then.
        names = {**roles(run.pid, after), **roles(run.pid, columns[0][1])}
        print()
        table(names, columns)
    finally:
        run.send_signal(signal.SIGINT)
        try:
            run.wait(timeout=30)
        except subprocess.TimeoutExpired:
            run.kill()
        log.close()
        detector.stop()
        shutil.rmtree(work, ignore_errors=True)


def _drop(staging: Path, folder: Path, image: bytes, name: str) -> None:
    (staging / name).write_bytes(image)
    os.rename(staging / name, folder / name)


def _detected(env: dict[str, str], expected: int, *, timeout: float) -> float:
    """Seconds until every photo has its detection run stored (-1: not within timeout)."""
    script = (
        "import django,sys,time;django.setup();"
        "from detections.models import DetectionRun as R;"
        f"d=time.monotonic()+{timeout};"
        f"n=0\nwhile time.monotonic()<d and (n:=R.objects.filter(finished_at__isnull=False).count())<{expected}:"
        " time.sleep(0.5)\n"
        f"print(n)"
    )
    start = time.monotonic()
    out = subprocess.run(
        [sys.executable, "-c", script],
        env={**env, "DJANGO_SETTINGS_MODULE": "homesec.settings"},
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=timeout + 60,
    )
    got = int(out.stdout.strip().splitlines()[-1]) if out.returncode == 0 and out.stdout.strip() else -1
    if got < expected:
        print(f"detections stored: {got} of {expected}\n{out.stderr[-2000:]}", flush=True)
        return -1
    return time.monotonic() - start


if __name__ == "__main__":
    main()
