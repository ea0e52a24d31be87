"""Analyzers turn an event's facts into a risk assessment: `rules` (built in, transparent)
and `llm` (any OpenAI-compatible server); events/assessment.py decides which one answers."""
