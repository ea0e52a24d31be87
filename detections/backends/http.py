"""A remote detection server, in either wire format.

`reference`: POST {url}/detect, multipart `file` ->
  {"detections": [{"class", "confidence", "bbox": {"x", "y", "width", "height"}}],
   "inference_time_ms", "image_width", "image_height"}
`deepstack` (DeepStack, CodeProject.AI): POST {url}/v1/vision/detection, multipart `image`
  and `min_confidence` -> {"success": true, "predictions": [{"label", "confidence",
  "x_min", "y_min", "x_max", "y_max"}]}
"""

from __future__ import annotations

import time

import cv2
import httpx
import numpy as np
from django.conf import settings

from detections.backends.base import (
    Box,
    Detector,
    DetectorBadAnswer,
    DetectorOutage,
    DetectorRejected,
    DetectorResult,
    clamp_box,
)

API_PATHS = {"reference": "/detect", "deepstack": "/v1/vision/detection"}


class HttpDetector(Detector):
    name = "http"
    remote = True

    def __init__(self, url: str | None = None, api: str | None = None, timeout_s: float | None = None) -> None:
        self.url = (url or settings.DETECTOR_URL).rstrip("/")
        self.api = api or settings.DETECTOR_API
        self.timeout = httpx.Timeout(timeout_s or settings.DETECTOR_TIMEOUT_S)
        self.client = httpx.Client(timeout=self.timeout, headers={"User-Agent": "homesec"})

    def detect(self, frame: np.ndarray, *, encoded: bytes | None = None) -> DetectorResult:
        if encoded is None:
            ok, buffer = cv2.imencode(".jpg", frame, [cv2.IMWRITE_JPEG_QUALITY, 90])
            encoded = buffer.tobytes()
        height, width = frame.shape[:2]
        started = time.perf_counter()
        try:
            if self.api == "deepstack":
                response = self.client.post(
                    self.url + API_PATHS["deepstack"],
                    files={"image": ("frame.jpg", encoded, "image/jpeg")},
                    data={"min_confidence": str(settings.DETECT_MIN_CONFIDENCE)},
                )
            else:
                response = self.client.post(
                    self.url + API_PATHS["reference"], files={"file": ("frame.jpg", encoded, "image/jpeg")}
                )
        except httpx.TimeoutException as exc:
            raise DetectorOutage(f"detector timed out after {self.timeout.read} s") from exc
        except httpx.TransportError as exc:
            raise DetectorOutage(f"detector unreachable: {exc.__class__.__name__}: {exc}") from exc
        elapsed_ms = (time.perf_counter() - started) * 1000
        if response.status_code >= 500 or response.status_code in (408, 429):
            raise DetectorOutage(f"detector answered HTTP {response.status_code}")
        if response.status_code >= 400:
            raise DetectorRejected(f"detector refused the image: HTTP {response.status_code} {response.text[:200]}")
        try:
            body = response.json()
        except ValueError as exc:
            raise DetectorBadAnswer(f"detector answer is not JSON: {response.text[:100]!r}") from exc
        if not isinstance(body, dict):
            raise DetectorBadAnswer("detector answer is not a JSON object")
        if self.api == "deepstack":
            return self._deepstack(body, width, height, elapsed_ms)
        return self._reference(body, width, height, elapsed_ms)

    def _reference(self, body: dict, width: int, height: int, elapsed_ms: float) -> DetectorResult:
        items = body.get("detections")
        if not isinstance(items, list):
            raise DetectorBadAnswer("detector answer has no 'detections' list")
        # Boxes are in the pixels of the image the server decoded; scale if it differs.
        sx = width / float(body.get("image_width") or width)
        sy = height / float(body.get("image_height") or height)
        boxes: list[Box] = []
        try:
            for item in items:
                b = item["bbox"]
                x, y, w, h = float(b["x"]) * sx, float(b["y"]) * sy, float(b["width"]) * sx, float(b["height"]) * sy
                box = clamp_box(str(item["class"]), float(item["confidence"]), x, y, x + w, y + h, width, height)
                if box:
                    boxes.append(box)
        except (KeyError, TypeError, ValueError) as exc:
            raise DetectorBadAnswer(f"detector answer has a malformed detection: {exc!r}") from exc
        return DetectorResult(boxes, float(body.get("inference_time_ms") or elapsed_ms))

    def _deepstack(self, body: dict, width: int, height: int, elapsed_ms: float) -> DetectorResult:
        if body.get("success") is not True:
            error = str(body.get("error") or "success is false")
            raise DetectorRejected(f"detector refused the image: {error[:200]}")
        items = body.get("predictions")
        if not isinstance(items, list):
            raise DetectorBadAnswer("detector answer has no 'predictions' list")
        boxes: list[Box] = []
        try:
            for item in items:
                box = clamp_box(
                    str(item["label"]),
                    float(item["confidence"]),
                    float(item["x_min"]),
                    float(item["y_min"]),
                    float(item["x_max"]),
                    float(item["y_max"]),
                    width,
                    height,
                )
                if box:
                    boxes.append(box)
        except (KeyError, TypeError, ValueError) as exc:
            raise DetectorBadAnswer(f"detector answer has a malformed prediction: {exc!r}") from exc
        return DetectorResult(boxes, float(body.get("inferenceMs") or elapsed_ms))
