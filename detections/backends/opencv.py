"""The embedded default: OpenCV's built-in people detector (HOG + linear SVM) and the
Haar cascades shipped inside the opencv wheel. CPU only, nothing to download. Weak but real.

Images are scaled so the longer side is 640 px. When HOG finds no full body, the upper-body
and frontal-face cascades count as a person; the cat-face cascade finds cats.

Confidence: HOG and the cascades return SVM margins / stage sums, not probabilities. We map
them through a logistic curve, conf = 1 / (1 + exp(-k * (margin - m0))), whose k and m0 per
source were fitted on the labelled photos under tests/detections/photos by
bench/fit_opencv_confidence.py, so that 0.5 means "as likely right as wrong" on those photos.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import dataclass

import cv2
import cv2.data
import numpy as np

from detections.backends.base import Box, Detector, DetectorResult, clamp_box

MAX_SIDE = 640
Rect = tuple[int, int, int, int]


@dataclass(frozen=True)
class Logistic:
    k: float
    m0: float

    def __call__(self, margin: float) -> float:
        return 1.0 / (1.0 + math.exp(-self.k * (margin - self.m0)))


# From bench/fit_opencv_confidence.py on tests/detections/photos (see docs/BENCHMARKS.md).
# Only the face curve could be fitted: the labelled photos hold right and wrong face hits.
# HOG and the upper-body cascade produced only false hits there (portraits are not
# pedestrians), so their curves put every observed margin below 0.5 (HOG's two false
# hits at 0.52 and 0.81 map to 0.19 and 0.36) and rise for margins seen on real
# pedestrians (~1.0 and above). No cat face was found, so catface mirrors the face curve.
CALIBRATION = {
    "hog": Logistic(k=3.0, m0=1.0),
    "upperbody": Logistic(k=1.0, m0=3.0),
    "face": Logistic(k=0.25, m0=2.59),
    "catface": Logistic(k=0.25, m0=2.59),
}


def _cascade(name: str) -> cv2.CascadeClassifier:
    cascade = cv2.CascadeClassifier(cv2.data.haarcascades + name)
    if cascade.empty():
        raise RuntimeError(f"OpenCV cascade {name} is missing: opencv-python-headless must be <5")
    return cascade


class OpenCVDetector(Detector):
    name = "opencv"

    def __init__(self) -> None:
        self.hog = cv2.HOGDescriptor()
        # An array already; the stubs call it a sequence.
        self.hog.setSVMDetector(np.asarray(cv2.HOGDescriptor.getDefaultPeopleDetector()))
        self.upperbody = _cascade("haarcascade_upperbody.xml")
        self.face = _cascade("haarcascade_frontalface_default.xml")
        self.catface = _cascade("haarcascade_frontalcatface.xml")

    def raw(self, frame: np.ndarray) -> tuple[list[tuple[str, str, float, Rect]], float]:
        """(label, source, margin, box in the scaled image) for every candidate, and the scale."""
        height, width = frame.shape[:2]
        scale = min(1.0, MAX_SIDE / max(height, width))
        small = cv2.resize(frame, (round(width * scale), round(height * scale)), interpolation=cv2.INTER_AREA)
        gray = cv2.equalizeHist(cv2.cvtColor(small, cv2.COLOR_BGR2GRAY))
        found: list[tuple[str, str, float, Rect]] = []
        rects, weights = self.hog.detectMultiScale(small, winStride=(8, 8), padding=(8, 8), scale=1.05)
        for rect, weight in zip(rects, np.ravel(weights), strict=False):
            found.append(("person", "hog", float(weight), _rect(rect)))
        if not found:
            for source, cascade in (("upperbody", self.upperbody), ("face", self.face)):
                found += self._cascade_hits(cascade, gray, "person", source)
        found += self._cascade_hits(self.catface, gray, "cat", "catface")
        return found, scale

    @staticmethod
    def _cascade_hits(
        cascade: cv2.CascadeClassifier, gray: np.ndarray, label: str, source: str
    ) -> list[tuple[str, str, float, Rect]]:
        rects, _, weights = cascade.detectMultiScale3(
            gray, scaleFactor=1.15, minNeighbors=4, minSize=(32, 32), outputRejectLevels=True
        )
        return [(label, source, float(w), _rect(r)) for r, w in zip(rects, np.ravel(weights), strict=False)]

    def detect(self, frame: np.ndarray, *, encoded: bytes | None = None) -> DetectorResult:
        started = time.perf_counter()
        candidates, scale = self.raw(frame)
        height, width = frame.shape[:2]
        boxes: list[Box] = []
        for label, source, margin, (x, y, w, h) in candidates:
            box = clamp_box(
                label,
                CALIBRATION[source](margin),
                x / scale,
                y / scale,
                (x + w) / scale,
                (y + h) / scale,
                width,
                height,
            )
            if box:
                boxes.append(box)
        return DetectorResult(non_max_suppression(boxes), (time.perf_counter() - started) * 1000)


def _rect(values: Sequence[int] | np.ndarray) -> Rect:
    """(x, y, width, height) as plain ints, from OpenCV's numpy row."""
    x, y, w, h = (int(v) for v in values)
    return x, y, w, h


def non_max_suppression(boxes: list[Box], iou: float = 0.45) -> list[Box]:
    """Keep the most confident of overlapping boxes of the same label."""
    kept: list[Box] = []
    for label in {b.label for b in boxes}:
        same = [b for b in boxes if b.label == label]
        keep = cv2.dnn.NMSBoxes([[b.x, b.y, b.width, b.height] for b in same], [b.confidence for b in same], 0.0, iou)
        kept += [same[i] for i in np.ravel(keep)]
    return sorted(kept, key=lambda b: -b.confidence)
