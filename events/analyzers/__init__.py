"""Analyzers turn an event into a risk assessment: `rules` (built in) and, later, `llm`."""
