"""A local server speaking the OpenAI chat-completions wire format, with scripted answers."""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

GOOD = {
    "risk_score": 72,
    "summary": "A person at the front door at night.",
    "reasoning": "Night, entry zone.",
    "recommended_action": "Check the camera.",
    "risk_factors": ["night", "entry zone"],
}


class FakeLLM:
    def __init__(self) -> None:
        self.script: list[str] = []  # one mode per request; "json" once the script is used up
        self.requests: list[dict] = []
        self.slow_s = 2.0
        self.server = None
        self.port = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> FakeLLM:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_POST(self):  # noqa: N802 - the stdlib's name
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                fake.requests.append({"path": self.path, "body": body, "auth": self.headers.get("Authorization")})
                fake.answer(self, body)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self.server:
            self.server.shutdown()
            self.server.server_close()

    def answer(self, handler, body: dict) -> None:
        mode = self.script.pop(0) if self.script else "json"
        content = {
            "json": json.dumps(GOOD),
            "think": "<think>The door, at 03:00... risky.</think>\n" + json.dumps(GOOD),
            "prose": "Here is my assessment:\n```json\n" + json.dumps(GOOD) + "\n```\nStay safe.",
            "truncated": json.dumps(GOOD)[:40],
            "no_score": json.dumps({k: v for k, v in GOOD.items() if k != "risk_score"}),
            "too_high": json.dumps({**GOOD, "risk_score": 150}),
        }.get(mode)
        if mode == "error500":
            return self._send(handler, 500, {"error": {"message": "model crashed"}})
        if mode == "no_schema" and "response_format" in body:
            return self._send(handler, 400, {"error": {"message": "response_format is not supported"}})
        if mode == "slow":
            time.sleep(self.slow_s)
        content = content or json.dumps(GOOD)
        self._send(
            handler,
            200,
            {
                "id": "chatcmpl-1",
                "object": "chat.completion",
                "model": body.get("model"),
                "choices": [
                    {"index": 0, "message": {"role": "assistant", "content": content}, "finish_reason": "stop"}
                ],
                "usage": {"prompt_tokens": 321, "completion_tokens": 54, "total_tokens": 375},
            },
        )

    @staticmethod
    def _send(handler, status: int, payload: dict) -> None:
        data = json.dumps(payload).encode()
        handler.send_response(status)
        handler.send_header("Content-Type", "application/json")
        handler.send_header("Content-Length", str(len(data)))
        handler.end_headers()
        handler.wfile.write(data)
