"""What every detector backend returns, and the three ways a call can fail."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import numpy as np


@dataclass(frozen=True)
class Box:
    """One object, in pixels of the frame that was given to the detector."""

    label: str
    confidence: float
    x: int
    y: int
    width: int
    height: int


@dataclass
class DetectorResult:
    boxes: list[Box] = field(default_factory=list)
    inference_ms: float = 0.0


class DetectorError(Exception):
    """Base of detector failures."""


class DetectorOutage(DetectorError):
    """The detector is not there (refused, timed out, 5xx): wait for it, do not use up tries."""


class DetectorBadAnswer(DetectorError):
    """The detector answered, but not in its wire format: a try is used up."""


class DetectorRejected(DetectorError):
    """The detector refuses this very file: retrying cannot help."""


class Detector:
    name = "base"
    remote = False

    def detect(self, frame: np.ndarray, *, encoded: bytes | None = None) -> DetectorResult:
        """`frame` is BGR; `encoded` is the same image as JPEG/PNG bytes when at hand."""
        raise NotImplementedError


def clamp_box(label: str, confidence: float, x0: float, y0: float, x1: float, y1: float, w: int, h: int) -> Box | None:
    """A box from corner coordinates, clipped to the frame; None when nothing is left."""
    left, top = max(0, int(round(x0))), max(0, int(round(y0)))
    right, bottom = min(w, int(round(x1))), min(h, int(round(y1)))
    if right <= left or bottom <= top:
        return None
    return Box(label, float(min(1.0, max(0.0, confidence))), left, top, right - left, bottom - top)
