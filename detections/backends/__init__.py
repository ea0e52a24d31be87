"""Detector backends, one module each, chosen by HOMESEC_DETECTOR."""

from __future__ import annotations

from functools import cache

from django.conf import settings
from django.utils.module_loading import import_string

from detections.backends.base import Detector

REGISTRY = {
    "opencv": "detections.backends.opencv.OpenCVDetector",
    "onnx": "detections.backends.onnx.OnnxDetector",
    "http": "detections.backends.http.HttpDetector",
}


@cache
def get_detector(name: str | None = None) -> Detector:
    """One detector per process: models and HTTP connections are loaded once."""
    return import_string(REGISTRY[name or settings.DETECTOR])()
