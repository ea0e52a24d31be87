"""bench/ingest: how fast uploads become Ingest rows, and what each one costs.

Run with `bash bench/run.sh ingest` (throwaway PostgreSQL + Redis, like `make test`),
or directly against whatever DATABASE_URL / REDIS_URL point at.

Part 1, in process: CPU ms per file for the ingest pipeline (register: stat + row;
process: checks, hash, rows, hand-off), the reduced-scale JPEG decode check on its own line.
Part 2, real processes: the watcher and one worker, 1,000 files moved into a camera folder
as fast as possible: ingests per second, and file-closed -> ingest-row latency p50/p95.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
from bench.common import percentile, start, stop  # noqa: E402


def make_photos(folder: Path, n: int, tag: str = "frame") -> list[Path]:
    import cv2
    import numpy as np

    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    base = cv2.GaussianBlur(rng.integers(0, 255, (720, 1280, 3), dtype=np.uint8), (0, 0), 3)
    paths = []
    for i in range(n):
        frame = base.copy()
        cv2.putText(frame, f"{tag} {i}", (40, 100 + i % 500), cv2.FONT_HERSHEY_SIMPLEX, 2, (255, 255, 255), 3)
        ok, data = cv2.imencode(".jpg", frame, [cv2.IMWRITE_JPEG_QUALITY, 85])
        path = folder / f"MDAlarm_20260101-{i // 3600 % 24:02d}{i // 60 % 60:02d}{i % 60:02d}_{i:04d}.jpg"
        path.write_bytes(data.tobytes())
        paths.append(path)
    return paths


def part_in_process(photos: list[Path], root: Path, batch: int) -> None:
    from django.conf import settings

    from cameras.ingest import ingest_process, ingest_register
    from cameras.models import Ingest
    from cameras.validation import inspect_upload

    folder = root / "bench_cpu"
    folder.mkdir(parents=True, exist_ok=True)
    copies = []
    for p in photos:
        target = folder / p.name
        shutil.copyfile(p, target)
        copies.append(target)
    Ingest.objects.all().delete()
    start_cpu, start_wall = time.process_time(), time.perf_counter()
    for i in range(0, len(copies), batch):
        ids = ingest_register(paths=copies[i : i + batch])
        ingest_process(ingest_ids=ids)
    cpu_ms = (time.process_time() - start_cpu) * 1000 / len(copies)
    wall_ms = (time.perf_counter() - start_wall) * 1000 / len(copies)
    assert Ingest.objects.filter(status="done").count() == len(copies), "every bench file must be ingested"

    decode = []
    for p in copies[:200]:
        decode.append(
            inspect_upload(p, camera_root=folder, max_bytes=10**9, max_pixels=settings.MAX_IMAGE_PIXELS).decode_ms
        )
    decode_ms = statistics.mean(decode)
    print(
        f"in-process pipeline, batches of {batch}: {cpu_ms:.2f} CPU ms/file, {wall_ms:.2f} wall ms/file "
        f"({1000 / wall_ms:.0f} files/s on one core)"
    )
    print(f"  of which reduced-scale JPEG decode check: {decode_ms:.2f} ms/file")
    print(f"  pipeline overhead without the decode: {cpu_ms - decode_ms:.2f} CPU ms/file")
    profile_top(copies[:200], folder, batch)
    shutil.rmtree(folder)  # so the live part's start-up scan finds nothing left over
    Ingest.objects.all().delete()


def profile_top(copies: list[Path], folder: Path, batch: int) -> None:
    import cProfile
    import pstats

    from cameras.ingest import ingest_process, ingest_register
    from cameras.models import Ingest

    Ingest.objects.all().delete()
    profiler = cProfile.Profile()
    profiler.enable()
    for i in range(0, len(copies), batch):
        ingest_process(ingest_ids=ingest_register(paths=copies[i : i + batch]))
    profiler.disable()
    stats = pstats.Stats(profiler)
    total = sum(v[2] for v in stats.stats.values())  # own time, all functions
    print("  where the time goes (own time, top 8):")
    rows = sorted(stats.stats.items(), key=lambda kv: kv[1][2], reverse=True)[:8]
    for (file, line, name), (_, _, tottime, _, _) in rows:
        print(f"    {tottime / total * 100:5.1f}%  {name} ({Path(file).name}:{line})")


def part_processes(photos: list[Path], root: Path, env: dict[str, str]) -> None:
    folder = root / "bench_live"
    folder.mkdir(parents=True, exist_ok=True)
    staging = root.parent / "staging"
    staging.mkdir(exist_ok=True)
    for p in photos:
        shutil.copyfile(p, staging / p.name)
    procs = start(["watch_cameras", "worker"], env)
    try:
        time.sleep(4)
        payloads = [(p.name, (staging / p.name).read_bytes()) for p in photos]
        burst(folder, payloads, "burst: every file written at once")
        others = make_photos(root.parent / "steady", 300, tag="steady")
        steady = [(f"steady_{p.name}", p.read_bytes()) for p in others]
        burst(folder, steady, "steady: 50 files/s, one every 20 ms", gap_s=0.02)
    finally:
        stop(procs)


def burst(folder: Path, payloads: list[tuple[str, bytes]], label: str, gap_s: float = 0.0) -> None:
    from cameras.models import Ingest

    Ingest.objects.all().delete()
    closed = {}
    started = time.time()
    for name, data in payloads:
        # Written and closed in the camera folder, as an FTP server does.
        with open(folder / name, "wb") as handle:
            handle.write(data)
        closed[f"{folder.name}/{name}"] = time.time()
        if gap_s:
            time.sleep(gap_s)
    deadline = time.time() + 300
    while Ingest.objects.filter(status="done").count() < len(payloads) and time.time() < deadline:
        time.sleep(0.1)
    rows = list(Ingest.objects.values_list("path", "arrived_at", "processed_at", "status"))
    done = [r for r in rows if r[3] == "done"]
    last = max(r[2] for r in done).timestamp()
    latency = [(r[1].timestamp() - closed[r[0]]) * 1000 for r in rows]
    to_done = [(r[2].timestamp() - closed[r[0]]) * 1000 for r in done]
    print(
        f"{label}: {len(done)}/{len(payloads)} done in {last - started:.2f} s = {len(done) / (last - started):.0f}"
        " ingests/s"
    )
    print(f"  file closed -> ingest row: p50 {percentile(latency, 50):.1f} ms, p95 {percentile(latency, 95):.1f} ms")
    print(f"  file closed -> ingest done: p50 {percentile(to_done, 50):.1f} ms, p95 {percentile(to_done, 95):.1f} ms")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--files", type=int, default=1000)
    parser.add_argument("--batch", type=int, default=100)
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="homesec-bench-"))
    os.environ.setdefault("HOMESEC_DATA_DIR", str(work / "var"))
    os.environ["HOMESEC_CAMERA_ROOT"] = str(work / "var" / "cameras")
    os.environ.setdefault("HOMESEC_ENV_FILE", "/dev/null")
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "homesec.settings")
    # The next stage is a stand-in that takes each ingest (the real claim) and logs it, so
    # the hand-off is measured but object detection, which is bench/detect's, is not.
    os.environ["HOMESEC_INGEST_NEXT_STAGE"] = "tests.support.stage_stub.record"
    os.environ["HOMESEC_TEST_STAGE_LOG"] = str(work / "stage.log")
    import django

    django.setup()
    from django.conf import settings
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    print(
        f"database {settings.DATABASES['default']['ENGINE'].rsplit('.', 1)[1]}, "
        f"broker {'redis' if settings.REDIS_URL else 'orm'}, {os.cpu_count()} cores, {args.files} 1280x720 JPEGs"
    )
    photos = make_photos(work / "photos", args.files)
    print(f"mean file size {statistics.mean(p.stat().st_size for p in photos) / 1024:.0f} KiB")
    part_in_process(photos, settings.CAMERA_ROOT, args.batch)
    env = {**os.environ, "HOMESEC_SECRET_KEY": settings.SECRET_KEY, "PYTHONUNBUFFERED": "1"}
    part_processes(photos, settings.CAMERA_ROOT, env)
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
