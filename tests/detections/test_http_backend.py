"""The http backend against a local server speaking the real wire formats."""

import cv2
import numpy as np
import pytest

from detections.backends.base import DetectorBadAnswer, DetectorOutage, DetectorRejected
from detections.backends.http import HttpDetector

FRAME = np.full((360, 640, 3), 128, np.uint8)


@pytest.mark.parametrize("api", ["reference", "deepstack"])
def test_both_wire_formats_give_boxes_in_frame_pixels(server, api, settings):
    settings.DETECT_MIN_CONFIDENCE = 0.5
    result = HttpDetector(url=server.url, api=api).detect(FRAME)
    person = [b for b in result.boxes if b.label == "person"][0]
    assert (person.x, person.y, person.width, person.height, person.confidence) == (213, 120, 213, 180, 0.93)
    request = server.requests[-1]
    if api == "deepstack":
        assert request["path"] == "/v1/vision/detection"
        assert b'name="image"' in request["body"] and b'name="min_confidence"\r\n\r\n0.5' in request["body"]
    else:
        assert request["path"] == "/detect" and b'name="file"' in request["body"]
    assert request["type"].startswith("multipart/form-data")


def test_the_original_file_bytes_are_sent_when_at_hand(server):
    encoded = cv2.imencode(".png", FRAME)[1].tobytes()
    HttpDetector(url=server.url, api="reference").detect(FRAME, encoded=encoded)
    assert encoded in server.requests[-1]["body"]


def test_a_5xx_is_an_outage(server):
    server.mode = "error500"
    with pytest.raises(DetectorOutage, match="HTTP 500"):
        HttpDetector(url=server.url).detect(FRAME)


def test_a_timeout_is_an_outage(server):
    server.mode, server.slow_s = "slow", 2
    with pytest.raises(DetectorOutage, match="timed out"):
        HttpDetector(url=server.url, timeout_s=0.3).detect(FRAME)


def test_a_server_that_is_down_is_an_outage(server):
    url = server.url
    server.stop()
    with pytest.raises(DetectorOutage, match="unreachable"):
        HttpDetector(url=url).detect(FRAME)


def test_garbage_json_is_a_bad_answer(server):
    server.mode = "garbage"
    with pytest.raises(DetectorBadAnswer, match="not JSON"):
        HttpDetector(url=server.url).detect(FRAME)


@pytest.mark.parametrize("api", ["reference", "deepstack"])
def test_a_file_the_server_refuses_is_rejected(server, api):
    server.mode = "reject"
    with pytest.raises(DetectorRejected, match="refused the image"):
        HttpDetector(url=server.url, api=api).detect(FRAME)
