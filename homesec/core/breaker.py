"""Circuit breakers in front of remote services (the detector, the LLM).

Closed: calls go through. Five failures within sixty seconds open it: calls are not made,
and work waits (deferred, not failed). After the cool-down one caller wins the half-open
probe; its success closes the breaker, its failure opens it again. The state is a row, so
every worker process sees the same breaker.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db import transaction
from django.utils import timezone

from homesec.core.models import Breaker


@dataclass(frozen=True)
class BreakerPolicy:
    failures: int = 5
    window_s: float = 60.0
    cooldown_s: float = 30.0
    probe_timeout_s: float = 60.0


def _row(name: str) -> Breaker:
    return Breaker.objects.get_or_create(name=name)[0]


def breaker_allow(name: str, policy: BreakerPolicy = BreakerPolicy()) -> bool:
    """May a call be made now? In the open state, True only for the one probe caller."""
    row = _row(name)
    if row.state == Breaker.State.CLOSED:
        return True
    now = timezone.now()
    if row.state == Breaker.State.OPEN:
        # An open row always has opened_at; one without is taken as due for its probe.
        if row.opened_at is not None and now < row.opened_at + timedelta(seconds=policy.cooldown_s):
            return False
        claimed = Breaker.objects.filter(name=name, state=Breaker.State.OPEN, opened_at=row.opened_at).update(
            state=Breaker.State.HALF_OPEN, probe_until=now + timedelta(seconds=policy.probe_timeout_s)
        )
        return bool(claimed)
    # Half-open: a probe is out. If its caller died, the next caller takes over the probe.
    claimed = Breaker.objects.filter(name=name, state=Breaker.State.HALF_OPEN, probe_until__lt=now).update(
        probe_until=now + timedelta(seconds=policy.probe_timeout_s)
    )
    return bool(claimed)


def breaker_retry_at(name: str, policy: BreakerPolicy = BreakerPolicy()) -> datetime:
    """When deferred work should look again."""
    row = _row(name)
    if row.state == Breaker.State.OPEN and row.opened_at:
        return row.opened_at + timedelta(seconds=policy.cooldown_s)
    if row.state == Breaker.State.HALF_OPEN and row.probe_until:
        return min(row.probe_until, timezone.now() + timedelta(seconds=5))
    return timezone.now()


def breaker_success(name: str) -> None:
    Breaker.objects.filter(name=name).exclude(state=Breaker.State.CLOSED, failures=[]).update(
        state=Breaker.State.CLOSED, failures=[], opened_at=None, probe_until=None
    )


def breaker_failure(name: str, error: str, policy: BreakerPolicy = BreakerPolicy()) -> bool:
    """Record a failure; returns True when the breaker is (now) open."""
    now = time.time()
    with transaction.atomic():
        _row(name)
        row = Breaker.objects.select_for_update().get(name=name)
        recent = [t for t in row.failures if now - t <= policy.window_s] + [now]
        row.failures = recent[-policy.failures * 2 :]
        row.last_error = error[:2000]
        if row.state == Breaker.State.HALF_OPEN or len(recent) >= policy.failures:
            if row.state != Breaker.State.OPEN:
                row.state, row.opened_at = Breaker.State.OPEN, timezone.now()
        row.save()
        return row.state == Breaker.State.OPEN


def breaker_lets_through(name: str, policy: BreakerPolicy = BreakerPolicy()) -> bool:
    """Would a call go through now (closed, or open and due for a probe)? Unlike
    breaker_allow this takes nothing: it only looks."""
    row = _row(name)
    now = timezone.now()
    if row.state == Breaker.State.CLOSED:
        return True
    if row.state == Breaker.State.OPEN:
        return row.opened_at is None or now >= row.opened_at + timedelta(seconds=policy.cooldown_s)
    return row.probe_until is None or row.probe_until < now
