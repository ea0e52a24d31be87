"""Detector backends, one module each, chosen by HOMESEC_DETECTOR. `DETECTORS` is the one
list of them: the setting's choices are read from it (this module imports nothing heavy, so
the settings can)."""

from __future__ import annotations

from functools import cache
from typing import TYPE_CHECKING

from django.conf import settings
from django.utils.module_loading import import_string

if TYPE_CHECKING:
    from detections.backends.base import Detector

# HOMESEC_DETECTOR value -> the backend's class. A new backend is a module and a line here.
DETECTORS: dict[str, str] = {
    "opencv": "detections.backends.opencv.OpenCVDetector",
    "onnx": "detections.backends.onnx.OnnxDetector",
    "http": "detections.backends.http.HttpDetector",
}


@cache
def get_detector(name: str | None = None) -> Detector:
    """One detector per process: models and HTTP connections are loaded once."""
    detector: Detector = import_string(DETECTORS[name or settings.DETECTOR])()
    return detector
