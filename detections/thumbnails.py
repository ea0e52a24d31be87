"""Stills per analysed frame: a thumbnail with every kept box and its label drawn in (the
notifications attach it), and a clean preview without boxes (the pages draw the boxes over
it as SVG, from the detection's box, so they stay sharp and can be labelled and zoned)."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING

from detections.backends.base import Box

if TYPE_CHECKING:
    import numpy as np

# OpenCV and NumPy are imported in the functions that use them: the web process imports
# this module (through the admin and the API) but, unless it draws, never loads them.

THUMB_MAX_SIDE = 640
PREVIEW_MAX_SIDE = 960
COLOURS = {
    "person": (60, 60, 255),
    "car": (255, 160, 40),
    "truck": (255, 160, 40),
    "bus": (255, 160, 40),
    "motorcycle": (255, 160, 40),
    "bicycle": (255, 200, 80),
    "dog": (80, 220, 80),
    "cat": (80, 220, 80),
    "bird": (80, 220, 220),
}


def _downscaled(frame: np.ndarray, max_side: int) -> tuple[np.ndarray, float]:
    import cv2

    height, width = frame.shape[:2]
    scale = min(1.0, max_side / max(height, width))
    if scale == 1.0:
        return frame.copy(), scale
    return cv2.resize(frame, (round(width * scale), round(height * scale)), interpolation=cv2.INTER_AREA), scale


def _write_jpeg(image: np.ndarray, target: Path, quality: int) -> None:
    import cv2

    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(target.name + ".part")
    ok, data = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, quality])
    partial.write_bytes(data.tobytes())
    partial.replace(target)


def write_thumbnail(frame: np.ndarray, boxes: Iterable[Box], target: Path) -> None:
    """`boxes`: objects with label, confidence, x, y, width, height in frame pixels."""
    import cv2

    image, scale = _downscaled(frame, THUMB_MAX_SIDE)
    thickness = 2
    for box in boxes:
        colour = COLOURS.get(box.label, (200, 200, 200))
        x0, y0 = round(box.x * scale), round(box.y * scale)
        x1, y1 = round((box.x + box.width) * scale), round((box.y + box.height) * scale)
        cv2.rectangle(image, (x0, y0), (x1, y1), colour, thickness)
        text = f"{box.label} {box.confidence:.0%}"
        (tw, th), _ = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, 0.5, 1)
        top = max(0, y0 - th - 6)
        cv2.rectangle(image, (x0, top), (x0 + tw + 6, top + th + 6), colour, -1)
        cv2.putText(image, text, (x0 + 3, top + th + 2), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (255, 255, 255), 1, cv2.LINE_AA)
    _write_jpeg(image, target, 85)


def write_preview(frame: np.ndarray, target: Path) -> None:
    """The frame as it was, downscaled to PREVIEW_MAX_SIDE: no box, no label. Boxes are in
    frame pixels; the pages scale them with the frame size (an SVG viewBox of the frame)."""
    image, _ = _downscaled(frame, PREVIEW_MAX_SIDE)
    _write_jpeg(image, target, 82)
