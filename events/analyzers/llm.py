"""The LLM analyzer: any OpenAI-compatible `/v1/chat/completions` server (llama.cpp's
llama-server, vLLM, Ollama, OpenAI).

It asks for a JSON-schema answer and also accepts `<think>` blocks or prose around the
JSON; the score is clamped, and an answer without a score is refused. A malformed answer
gets one immediate retry at temperature 0; a server that refuses `response_format` (older
ones answer 400) is asked again without it. Providers (HOMESEC_LLM_PROVIDERS) are tried in
order, each behind its own circuit breaker. When none gives a usable answer the caller
falls back to the rules analyzer: no score is ever invented here.
"""

from __future__ import annotations

import json
import re
import time
from dataclasses import dataclass
from urllib.parse import urlsplit

import httpx
from django.conf import settings

from homesec.core.breaker import BreakerPolicy, breaker_allow, breaker_failure, breaker_success
from monitoring.metrics import metric_inc, metric_observe

SCHEMA = {
    "type": "object",
    "properties": {
        "risk_score": {"type": "integer", "minimum": 0, "maximum": 100},
        "summary": {"type": "string"},
        "reasoning": {"type": "string"},
        "recommended_action": {"type": "string"},
        "risk_factors": {"type": "array", "items": {"type": "string"}},
    },
    "required": ["risk_score", "summary", "reasoning", "recommended_action", "risk_factors"],
    "additionalProperties": False,
}
THINK = re.compile(r"<think>.*?(</think>|$)", re.S | re.I)


class LlmError(Exception):
    """No usable answer from this provider."""


@dataclass(frozen=True)
class Provider:
    url: str
    model: str
    key: str = ""


@dataclass
class Answer:
    fields: dict
    provenance: dict


def providers() -> list[Provider]:
    return [Provider(*p) for p in settings.LLM_PROVIDERS]


def provider_label(provider: Provider) -> str:
    """The provider as metrics name it: host, port and model, never a key or credentials."""
    parts = urlsplit(provider.url)
    host = f"{parts.hostname}:{parts.port}" if parts.port else parts.hostname or ""
    return f"{host}/{provider.model}"


def parse_answer(text: str) -> dict:
    """The first JSON object in the text that carries a risk score, cleaned up."""
    text = THINK.sub("", text or "")
    decoder = json.JSONDecoder()
    for start in (m.start() for m in re.finditer(r"\{", text)):
        try:
            value, _ = decoder.raw_decode(text, start)
        except ValueError:
            continue
        if isinstance(value, dict) and "risk_score" in value:
            try:
                score = round(float(value["risk_score"]))
            except (TypeError, ValueError):
                raise LlmError(f"risk_score is not a number: {value['risk_score']!r}") from None
            return {
                "risk_score": max(0, min(100, score)),
                "summary": str(value.get("summary", ""))[:2000],
                "reasoning": str(value.get("reasoning", ""))[:8000],
                "recommended_action": str(value.get("recommended_action", ""))[:2000],
                "risk_factors": [str(f)[:200] for f in value.get("risk_factors", []) if f][:20],
            }
    raise LlmError("the answer holds no JSON object with a risk_score")


def _post(
    client: httpx.Client, provider: Provider, messages: list[dict], *, temperature: float, schema: bool
) -> httpx.Response:
    body = {"model": provider.model, "messages": messages, "temperature": temperature}
    if schema:
        body["response_format"] = {
            "type": "json_schema",
            "json_schema": {"name": "risk_assessment", "schema": SCHEMA, "strict": True},
        }
    headers = {"Authorization": f"Bearer {provider.key}"} if provider.key else {}
    try:
        return client.post(provider.url.rstrip("/") + "/v1/chat/completions", json=body, headers=headers)
    except httpx.TimeoutException as exc:
        raise LlmError(f"timed out after {settings.LLM_TIMEOUT_S} s") from exc
    except httpx.TransportError as exc:
        raise LlmError(f"unreachable: {exc.__class__.__name__}") from exc


def _content(response: httpx.Response) -> tuple[str, dict]:
    try:
        body = response.json()
        return body["choices"][0]["message"]["content"] or "", body.get("usage") or {}
    except (ValueError, KeyError, IndexError, TypeError) as exc:
        raise LlmError("the server's reply is not a chat completion") from exc


def _ask_one(client: httpx.Client, provider: Provider, messages: list[dict]) -> Answer:
    started = time.perf_counter()
    schema, temperature, raw = True, settings.LLM_TEMPERATURE, ""
    usage: dict = {}
    for attempt in (1, 2):
        response = _post(client, provider, messages, temperature=temperature, schema=schema)
        if response.status_code == 400 and schema:
            schema = False  # an older server that does not know response_format
            response = _post(client, provider, messages, temperature=temperature, schema=False)
        if response.status_code >= 400:
            raise LlmError(f"HTTP {response.status_code}")
        raw, usage = _content(response)
        try:
            fields = parse_answer(raw)
            break
        except LlmError:
            if attempt == 2:
                raise
            temperature = 0.0  # one immediate retry, as deterministic as the server can be
    return Answer(
        fields,
        {
            "analyzer": "llm",
            "provider": provider.url,
            "model": provider.model,
            "json_schema": schema,
            "tokens_in": usage.get("prompt_tokens"),
            "tokens_out": usage.get("completion_tokens"),
            "latency_ms": round((time.perf_counter() - started) * 1000, 1),
            "attempts": attempt,
            "raw": raw[:20000],
        },
    )


def analyze(messages: list[dict]) -> Answer:
    """Ask each provider in turn; raise LlmError when none gives a usable answer."""
    errors = []
    policy = BreakerPolicy(cooldown_s=settings.LLM_COOLDOWN_S)
    with httpx.Client(timeout=settings.LLM_TIMEOUT_S) as client:
        for provider in providers():
            breaker = f"llm:{provider.url}"
            if not breaker_allow(breaker, policy):
                errors.append(f"{provider.url}: circuit breaker open")
                continue
            started = time.perf_counter()
            try:
                answer = _ask_one(client, provider, messages)
            except LlmError as exc:
                metric_inc("homesec_llm_errors_total", {"provider": provider_label(provider)})
                breaker_failure(breaker, str(exc), policy)
                errors.append(f"{provider.url}: {exc}")
                continue
            metric_observe("homesec_llm_seconds", {"provider": provider_label(provider)}, time.perf_counter() - started)
            breaker_success(breaker)
            return answer
    raise LlmError("; ".join(errors) or "no LLM provider is configured")
