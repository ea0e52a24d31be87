"""A local server speaking the OpenAI chat-completions wire format, with scripted answers."""

from __future__ import annotations

import json
import time

from tests.support.servers import LocalServer

GOOD = {
    "risk_score": 72,
    "summary": "A person at the front door at night.",
    "reasoning": "Night, entry zone.",
    "recommended_action": "Check the camera.",
    "risk_factors": ["night", "entry zone"],
}


class FakeLLM(LocalServer):
    def __init__(self) -> None:
        super().__init__()
        self.script: list[str] = []  # one mode per request; "json" once the script is used up
        self.slow_s = 2.0

    def handle(self, handler, body: bytes) -> None:
        request = json.loads(body)
        self.requests.append({"path": handler.path, "body": request, "auth": handler.headers.get("Authorization")})
        self.answer(handler, request)

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
            return self.send_json(handler, 500, {"error": {"message": "model crashed"}})
        if mode == "no_schema" and "response_format" in body:
            return self.send_json(handler, 400, {"error": {"message": "response_format is not supported"}})
        if mode == "slow":
            time.sleep(self.slow_s)
        content = content or json.dumps(GOOD)
        self.send_json(
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
