"""Retry timing shared by every stage: exponential backoff with jitter, capped."""

from __future__ import annotations

import random
from types import ModuleType

MAX_TRIES = 3
BACKOFF_CAP_S = 30.0


def backoff_delay(
    attempt: int, *, base_s: float = 1.0, cap_s: float = BACKOFF_CAP_S, rng: random.Random | ModuleType = random
) -> float:
    """Delay before try number `attempt + 1` (attempt counts from 1).

    Half fixed, half random ("equal jitter"): retries of many items that failed
    together spread out instead of hitting a recovering server at the same instant.
    """
    ceiling = min(cap_s, base_s * 2 ** max(0, attempt - 1))
    return ceiling / 2 + rng.uniform(0, ceiling / 2)
