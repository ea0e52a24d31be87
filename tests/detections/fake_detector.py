"""A local detection server speaking both real wire formats, with switchable faults.

It decodes every uploaded image (so a non-image is refused as a real server would) and
"sees" one person in the middle third of the frame.
"""

from __future__ import annotations

import json
import re
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import cv2
import numpy as np


class FakeDetector:
    def __init__(self) -> None:
        self.mode = "ok"  # ok | error500 | slow | garbage | reject
        self.slow_s = 5.0
        self.requests: list[dict] = []
        self.server: ThreadingHTTPServer | None = None
        self.port = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, port: int = 0) -> FakeDetector:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_POST(self):  # noqa: N802 - the stdlib's name
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                fake.requests.append({"path": self.path, "body": body, "type": self.headers.get("Content-Type")})
                fake.answer(self, body)

        self.server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self.server:
            self.server.shutdown()
            self.server.server_close()
            self.server = None

    def answer(self, handler, body: bytes) -> None:
        deepstack = handler.path == "/v1/vision/detection"
        if handler.path not in ("/detect", "/v1/vision/detection"):
            return self._send(handler, 404, b"not found")
        if self.mode == "error500":
            return self._send(handler, 500, b"internal error")
        if self.mode == "slow":
            time.sleep(self.slow_s)
        if self.mode == "garbage":
            return self._send(handler, 200, b"{'detections': [oops", "application/json")
        field = b'name="image"' if deepstack else b'name="file"'
        match = re.search(field + rb".*?\r\n\r\n(.*)\r\n--", body, re.S)
        image = None
        if match:
            image = cv2.imdecode(np.frombuffer(match.group(1), np.uint8), cv2.IMREAD_COLOR)
        if image is None or self.mode == "reject":
            if deepstack:
                return self._json(handler, 200, {"success": False, "error": "invalid image file"})
            return self._json(handler, 400, {"detail": "cannot decode image"})
        h, w = image.shape[:2]
        x, y, bw, bh = w // 3, h // 3, w // 3, h // 2
        if deepstack:
            return self._json(
                handler,
                200,
                {
                    "success": True,
                    "predictions": [
                        {
                            "label": "person",
                            "confidence": 0.93,
                            "x_min": x,
                            "y_min": y,
                            "x_max": x + bw,
                            "y_max": y + bh,
                        },
                        {"label": "toothbrush", "confidence": 0.99, "x_min": 0, "y_min": 0, "x_max": 5, "y_max": 5},
                    ],
                    "inferenceMs": 12,
                },
            )
        return self._json(
            handler,
            200,
            {
                "detections": [
                    {"class": "person", "confidence": 0.93, "bbox": {"x": x, "y": y, "width": bw, "height": bh}},
                    {"class": "cat", "confidence": 0.2, "bbox": {"x": 0, "y": 0, "width": 10, "height": 10}},
                ],
                "inference_time_ms": 12.5,
                "image_width": w,
                "image_height": h,
            },
        )

    @staticmethod
    def _json(handler, status: int, payload: dict) -> None:
        FakeDetector._send(handler, status, json.dumps(payload).encode(), "application/json")

    @staticmethod
    def _send(handler, status: int, body: bytes, content_type: str = "text/plain") -> None:
        handler.send_response(status)
        handler.send_header("Content-Type", content_type)
        handler.send_header("Content-Length", str(len(body)))
        handler.end_headers()
        handler.wfile.write(body)
