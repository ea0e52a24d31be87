"""A YOLO model file the household points to (HOMESEC_DETECTOR_MODEL=/path/yolo.onnx).

Supported output layouts:
  * YOLOv5: 1 x N x (5 + classes), rows of [cx, cy, w, h, objectness, class scores...]
  * YOLOv8 / YOLO11: 1 x (4 + classes) x N, columns of [cx, cy, w, h, class scores...]
Coordinates are in the letterboxed input's pixels; they are mapped back to the frame.
Runs on onnxruntime when installed (onnxruntime-gpu uses the GPU), else OpenCV's dnn.
"""

from __future__ import annotations

import time
from pathlib import Path

import cv2
import numpy as np
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

from detections.backends.base import Box, Detector, DetectorResult, clamp_box
from detections.backends.opencv import non_max_suppression

COCO = (
    "person bicycle car motorcycle airplane bus train truck boat traffic_light fire_hydrant stop_sign parking_meter "
    "bench bird cat dog horse sheep cow elephant bear zebra giraffe backpack umbrella handbag tie suitcase frisbee "
    "skis snowboard sports_ball kite baseball_bat baseball_glove skateboard surfboard tennis_racket bottle wine_glass "
    "cup fork knife spoon bowl banana apple sandwich orange broccoli carrot hot_dog pizza donut cake chair couch "
    "potted_plant bed dining_table toilet tv laptop mouse remote keyboard cell_phone microwave oven toaster sink "
    "refrigerator book clock vase scissors teddy_bear hair_drier toothbrush"
).split()
LETTERBOX_FILL = 114


def letterbox(frame: np.ndarray, size: int) -> tuple[np.ndarray, float, float, float]:
    """Resize keeping the aspect ratio, pad to size x size. Returns (image, scale, pad_x, pad_y)."""
    height, width = frame.shape[:2]
    scale = min(size / width, size / height)
    new_w, new_h = round(width * scale), round(height * scale)
    resized = cv2.resize(frame, (new_w, new_h), interpolation=cv2.INTER_LINEAR)
    pad_x, pad_y = (size - new_w) / 2, (size - new_h) / 2
    top, left = int(round(pad_y - 0.1)), int(round(pad_x - 0.1))
    canvas = cv2.copyMakeBorder(
        resized, top, size - new_h - top, left, size - new_w - left, cv2.BORDER_CONSTANT, value=(LETTERBOX_FILL,) * 3
    )
    return canvas, scale, float(left), float(top)


def decode_output(output: np.ndarray, *, min_confidence: float) -> list[tuple[str, float, float, float, float, float]]:
    """(label, confidence, cx, cy, w, h) in input pixels, for either layout."""
    out = np.squeeze(np.asarray(output), axis=0) if output.ndim == 3 else np.asarray(output)
    if out.ndim != 2:
        raise ValueError(f"unsupported YOLO output shape {output.shape}")
    rows, cols = out.shape
    if rows == 4 + len(COCO):
        out = out.T  # YOLOv8/11: one column per candidate
        scores, boxes = out[:, 4:], out[:, :4]
    elif cols == 5 + len(COCO):
        scores = out[:, 5:] * out[:, 4:5]  # YOLOv5: class score x objectness
        boxes = out[:, :4]
    elif cols == 4 + len(COCO):
        scores, boxes = out[:, 4:], out[:, :4]
    else:
        raise ValueError(f"unsupported YOLO output shape {output.shape}: expected 1xNx85 or 1x84xN")
    classes = scores.argmax(axis=1)
    confidences = scores[np.arange(len(scores)), classes]
    keep = confidences >= min_confidence
    return [
        (COCO[c], float(p), float(b[0]), float(b[1]), float(b[2]), float(b[3]))
        for c, p, b in zip(classes[keep], confidences[keep], boxes[keep], strict=True)
    ]


class OnnxDetector(Detector):
    name = "onnx"

    def __init__(self, model: str | None = None, size: int | None = None, runtime: str | None = None) -> None:
        path = Path(model or settings.DETECTOR_MODEL)
        if not path.is_file():
            raise ImproperlyConfigured(f"HOMESEC_DETECTOR_MODEL={str(path)!r} is not a readable .onnx file")
        self.size = size or settings.DETECTOR_INPUT_SIZE
        runtime = runtime or settings.DETECTOR_RUNTIME
        self.session = None
        if runtime in ("auto", "onnxruntime"):
            try:
                import onnxruntime

                providers = [
                    p
                    for p in ("CUDAExecutionProvider", "CPUExecutionProvider")
                    if p in onnxruntime.get_available_providers()
                ]
                self.session = onnxruntime.InferenceSession(str(path), providers=providers)
                self.input_name = self.session.get_inputs()[0].name
            except ImportError:
                if runtime == "onnxruntime":
                    raise ImproperlyConfigured("HOMESEC_DETECTOR_RUNTIME=onnxruntime but it is not installed") from None
        if self.session is None:
            self.net = cv2.dnn.readNetFromONNX(str(path))

    def _infer(self, blob: np.ndarray) -> np.ndarray:
        if self.session is not None:
            return self.session.run(None, {self.input_name: blob})[0]
        self.net.setInput(blob)
        return self.net.forward()

    def detect(self, frame: np.ndarray, *, encoded: bytes | None = None) -> DetectorResult:
        started = time.perf_counter()
        height, width = frame.shape[:2]
        image, scale, pad_x, pad_y = letterbox(frame, self.size)
        blob = cv2.dnn.blobFromImage(image, 1 / 255.0, swapRB=True).astype(np.float32)
        candidates = decode_output(self._infer(blob), min_confidence=min(0.25, settings.DETECT_MIN_CONFIDENCE))
        boxes: list[Box] = []
        for label, confidence, cx, cy, w, h in candidates:
            x0, y0 = (cx - w / 2 - pad_x) / scale, (cy - h / 2 - pad_y) / scale
            x1, y1 = (cx + w / 2 - pad_x) / scale, (cy + h / 2 - pad_y) / scale
            box = clamp_box(label, confidence, x0, y0, x1, y1, width, height)
            if box:
                boxes.append(box)
        return DetectorResult(non_max_suppression(boxes), (time.perf_counter() - started) * 1000)
