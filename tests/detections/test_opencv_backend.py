"""The embedded opencv backend on real, labelled photos."""

import json
from pathlib import Path

import cv2
import pytest

from detections.backends.opencv import CALIBRATION, OpenCVDetector

PHOTOS = Path(__file__).parent / "photos"
LABELS = json.loads((PHOTOS / "labels.json").read_text())


@pytest.fixture(scope="module")
def detector():
    return OpenCVDetector()


def persons(detector, name):
    result = detector.detect(cv2.imread(str(PHOTOS / name)))
    return [b for b in result.boxes if b.label == "person" and b.confidence >= 0.5]


def test_it_finds_the_person_in_a_portrait(detector):
    found = persons(detector, "astronaut.jpg")
    assert found
    (px, py, pw, ph) = LABELS["astronaut.jpg"]["persons"][0]
    best = found[0]
    assert px <= best.x + best.width / 2 <= px + pw and py <= best.y + best.height / 2 <= py + ph


def test_it_finds_nobody_in_a_photo_of_a_cup(detector):
    assert persons(detector, "coffee.jpg") == []


def test_boxes_are_in_the_pixels_of_the_original_frame(detector):
    image = cv2.imread(str(PHOTOS / "astronaut.jpg"))
    big = cv2.resize(image, (1280, 1280))  # scaled down to 640 inside, boxes scaled back up
    small_box = persons(detector, "astronaut.jpg")[0]
    big_box = [b for b in detector.detect(big).boxes if b.label == "person"][0]
    assert abs(big_box.x - 2.5 * small_box.x) < 40 and abs(big_box.width - 2.5 * small_box.width) < 40


@pytest.mark.parametrize("source", sorted(CALIBRATION))
def test_confidence_is_a_probability_that_rises_with_the_margin(source):
    curve = CALIBRATION[source]
    values = [curve(m / 2) for m in range(-4, 20)]
    assert all(0 < v < 1 for v in values)
    assert values == sorted(values)
