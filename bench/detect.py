"""bench/detect: detector speed per backend, and file-closed -> detection-stored latency.

    bash bench/run.sh detect            # throwaway PostgreSQL + Redis, like make test

Backends, ms per image at 640x360 and 1280x720 (median of N runs, one process):
  opencv  the embedded default (HOG + cascades, images scaled to 640 px)
  http    a local server speaking the reference wire format (so: homesec's own
          encode + multipart + parse overhead; the remote model's time is not in it)
  onnx    two models built here: a constant-output YOLO-shaped model (the backend's own
          letterbox + decode + NMS overhead) and a random-weight conv net of 0.6 GFLOPs at
          320 px (a quarter of YOLOv8n's 2.2 at 320): a floor for a small real model on CPU
Then the real watcher + one worker with `opencv`: photos dropped one every 1.5 s, latency
from the file being closed to its DetectionRun being done, p50 / p95.
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

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
from bench.common import percentile, start, stop  # noqa: E402

PHOTOS = REPO / "tests" / "detections" / "photos"


def frame(w: int, h: int) -> np.ndarray:
    import cv2

    return cv2.resize(cv2.imread(str(PHOTOS / "astronaut.jpg")), (w, h))


def timed(detector, image, runs: int) -> float:
    detector.detect(image)  # warm-up
    samples = []
    for _ in range(runs):
        started = time.perf_counter()
        detector.detect(image)
        samples.append((time.perf_counter() - started) * 1000)
    return statistics.median(samples)


def conv_net(path: Path, size: int = 320) -> None:
    """Random-weight strided conv stack, ~0.6 GFLOPs at 320 px, with an 84xN head."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(0)
    nodes, inits, channels, name = [], [], 3, "images"
    for i, out in enumerate([16, 32, 64, 64, 128, 128, 256, 256]):
        stride = 2 if i in (0, 1, 2, 4, 6) else 1
        w = numpy_helper.from_array((rng.standard_normal((out, channels, 3, 3)) * 0.05).astype(np.float32), f"w{i}")
        inits.append(w)
        nodes.append(helper.make_node("Conv", [name, f"w{i}"], [f"c{i}"], pads=[1, 1, 1, 1], strides=[stride] * 2))
        nodes.append(helper.make_node("Relu", [f"c{i}"], [f"r{i}"]))
        name, channels = f"r{i}", out
    inits.append(numpy_helper.from_array((rng.standard_normal((84, channels, 1, 1)) * 0.05).astype(np.float32), "head"))
    nodes.append(helper.make_node("Conv", [name, "head"], ["h"]))
    inits.append(numpy_helper.from_array(np.array([1, 84, -1], np.int64), "shape"))
    nodes.append(helper.make_node("Reshape", ["h", "shape"], ["output0"]))
    graph = helper.make_graph(
        nodes,
        "convnet",
        [helper.make_tensor_value_info("images", TensorProto.FLOAT, [1, 3, size, size])],
        [helper.make_tensor_value_info("output0", TensorProto.FLOAT, [1, 84, (size // 32) ** 2])],
        initializer=inits,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    onnx.save(model, path)


def backends(work: Path, runs: int) -> None:
    from detections.backends.http import HttpDetector
    from detections.backends.onnx import OnnxDetector
    from detections.backends.opencv import OpenCVDetector
    from tests.detections.test_onnx_backend import build_model
    from tests.support.fake_detector import FakeDetector

    server = FakeDetector().start()
    constant, convnet = work / "constant.onnx", work / "convnet.onnx"
    build_model(constant, "v8")
    conv_net(convnet)
    detectors = {
        "opencv": OpenCVDetector(),
        "http (local reference server)": HttpDetector(url=server.url, api="reference"),
        "onnx, constant model (pipeline only), onnxruntime": OnnxDetector(
            model=str(constant), size=320, runtime="onnxruntime"
        ),
        "onnx, conv net 0.6 GFLOPs @320, onnxruntime": OnnxDetector(
            model=str(convnet), size=320, runtime="onnxruntime"
        ),
        "onnx, conv net 0.6 GFLOPs @320, opencv dnn": OnnxDetector(model=str(convnet), size=320, runtime="opencv"),
    }
    print(f"{'backend':52s} {'640x360':>10s} {'1280x720':>10s}   (median ms per image, {runs} runs)")
    for name, detector in detectors.items():
        small, large = timed(detector, frame(640, 360), runs), timed(detector, frame(1280, 720), runs)
        print(f"{name:52s} {small:10.1f} {large:10.1f}")
    server.stop()


def accuracy(threshold: float = 0.5) -> None:
    """Person precision / recall of the opencv backend on the labelled photos.

    A detection is right when its centre lies in a labelled person box; a labelled person
    is found when some right detection lies in it.
    """
    import json

    import cv2

    from detections.backends.opencv import OpenCVDetector

    detector = OpenCVDetector()
    labels = {k: v for k, v in json.loads((PHOTOS / "labels.json").read_text()).items() if not k.startswith("_")}
    right = wrong = found = persons = 0
    for name, label in labels.items():
        boxes = [
            b
            for b in detector.detect(cv2.imread(str(PHOTOS / name))).boxes
            if b.label == "person" and b.confidence >= threshold
        ]
        truth = label["persons"]
        persons += len(truth)

        def inside(b, t):
            return t[0] <= b.x + b.width / 2 <= t[0] + t[2] and t[1] <= b.y + b.height / 2 <= t[1] + t[3]

        for box in boxes:
            if any(inside(box, t) for t in truth):
                right += 1
            else:
                wrong += 1
        found += sum(1 for t in truth if any(inside(b, t) for b in boxes))
        print(f"  {name:18s} persons {len(truth)}  detections " + ", ".join(f"{b.confidence:.2f}" for b in boxes))
    precision = right / (right + wrong) if right + wrong else float("nan")
    print(
        f"opencv person detection on {len(labels)} labelled photos at confidence >= {threshold}: "
        f"precision {precision:.2f} ({right}/{right + wrong}), recall {found / persons:.2f} ({found}/{persons})"
    )


def latency(work: Path, count: int, env: dict[str, str]) -> None:
    from detections.models import DetectionRun

    root = Path(env["HOMESEC_CAMERA_ROOT"])
    folder = root / "bench_latency"
    folder.mkdir(parents=True, exist_ok=True)
    procs = start(["watch_cameras", "worker"], env)
    try:
        time.sleep(5)
        import cv2

        portrait = cv2.imread(str(PHOTOS / "astronaut.jpg"))
        closed = {}
        for i in range(count):
            image = portrait.copy()
            cv2.putText(image, str(i), (8, 500), cv2.FONT_HERSHEY_SIMPLEX, 0.6, (255, 255, 255), 1)  # unique bytes
            data = cv2.imencode(".jpg", image)[1].tobytes()
            path = folder / f"MDAlarm_20260101-1710{i:02d}.jpg"
            with open(path, "wb") as handle:
                handle.write(data)
            closed[f"bench_latency/{path.name}"] = time.time()
            time.sleep(1.5)
        deadline = time.time() + 120
        while DetectionRun.objects.filter(status="done").count() < count and time.time() < deadline:
            time.sleep(0.2)
        rows = DetectionRun.objects.filter(status="done").values_list("ingest__path", "finished_at")
        values = sorted((done.timestamp() - closed[path]) * 1000 for path, done in rows)
        p95 = percentile(values, 95)
        print(
            f"closed -> detection stored, opencv, real watcher + 1 worker, {len(values)}/{count} photos "
            f"(512x512, one every 1.5 s): p50 {statistics.median(values):.0f} ms, p95 {p95:.0f} ms"
        )
    finally:
        stop(procs)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--photos", type=int, default=30)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="homesec-bench-detect-"))
    os.environ.setdefault("HOMESEC_DATA_DIR", str(work / "var"))
    os.environ["HOMESEC_CAMERA_ROOT"] = str(work / "var" / "cameras")
    os.environ.setdefault("HOMESEC_ENV_FILE", "/dev/null")
    os.environ["HOMESEC_DETECTOR"] = "opencv"
    os.environ["HOMESEC_DETECT_NEXT_STAGE"] = ""
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "homesec.settings")
    import cv2
    import django

    django.setup()
    from django.conf import settings
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    print(f"{os.cpu_count()} cores, OpenCV {cv2.__version__}, {cv2.getNumThreads()} OpenCV threads")
    accuracy()
    backends(work, args.runs)
    env = {**os.environ, "HOMESEC_SECRET_KEY": settings.SECRET_KEY, "PYTHONUNBUFFERED": "1"}
    latency(work, args.photos, env)
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
