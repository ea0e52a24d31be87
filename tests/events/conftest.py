"""Fixtures for the events tests: a local language model server and one closed event."""

import pytest

from tests.events.factory import closed_event
from tests.support.fake_llm import FakeLLM


@pytest.fixture
def llm(settings):
    """A local server speaking the chat-completions wire format, the only provider."""
    server = FakeLLM().start()
    settings.LLM_PROVIDERS = [(server.url, "qwen3-8b", "sk-local")]
    settings.LLM_TIMEOUT_S, settings.LLM_COOLDOWN_S = 1.0, 0.2
    yield server
    server.stop()


@pytest.fixture
def event():
    """A closed event at the front door at night: one person in the entry zone (factory.py)."""
    return closed_event()
