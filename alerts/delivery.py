"""Sending notifications, at least once.

A Notification row is claimed before its one attempt and the attempt is recorded after,
so a worker killed mid-send leaves a stale claim that the clock's sweep sends again,
with the same id: the idempotency key the receiver sees. Transient failures retry with
backoff (HOMESEC_NOTIFY_TRIES tries); a 429 waits as long as Retry-After says without
using a try; a permanent failure disables the channel with the reason. Work that failed
for good becomes a dead letter the operator can replay.
"""

from __future__ import annotations

import logging
import time
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import F, Min, Q
from django.utils import timezone

from alerts.messages import message_for
from alerts.models import Alert, Channel, MemberProfile, Notification, NotificationAttempt
from alerts.selectors import ALERT_OPEN_STATES
from alerts.transports import DeliveryError, PermanentError, TransientError, get_transport, short
from events.selectors import event_first_arrival
from homesec.core.deadletters import dead_letter_clear, dead_letter_record
from homesec.core.durable import abandoned, needs_resend, resend
from homesec.core.retry import backoff_delay
from monitoring.metrics import MetricBatch, metric_inc

logger = logging.getLogger(__name__)

NOTIFY_TASK = "alerts.tasks.notifications_send"
REPLAY_TASK = "alerts.tasks.notification_replay"


def channel_config(channel: Channel) -> dict[str, Any]:
    """A member's email channel without addresses of its own goes to the member."""
    config = dict(channel.config)
    if channel.kind == Channel.Kind.EMAIL and channel.owner_id and not config.get("to"):
        profile = MemberProfile.objects.filter(user_id=channel.owner_id).first()
        address = (profile.email if profile else "") or (channel.owner.email if channel.owner else "")
        config["to"] = [address] if address else []
    return config


def channel_problems(*, kind: str, config: dict[str, Any], owner: Any, secret: str) -> list[str]:
    """What the transport finds wrong with a channel's config and secret, in words (the
    console's form and the API both ask before saving); empty when it can be used."""
    return get_transport(kind).validate(channel_config(Channel(kind=kind, config=config, owner=owner)), secret)


def notifications_send(*, notification_ids: list[int], now: datetime | None = None) -> dict[str, int]:
    counts: dict[str, int] = {}
    for pk in notification_ids:
        outcome = notification_send(notification_id=pk, now=now)
        counts[outcome] = counts.get(outcome, 0) + 1
    return counts


def notification_send(*, notification_id: int, now: datetime | None = None) -> str:
    """One attempt, if the notification is due and nobody else is at it. A worker that
    died mid-send used up a try (the receiver may have had it: the same id goes again)."""
    now = now or timezone.now()
    row = Notification.objects.filter(pk=notification_id)
    sending = Notification.Status.SENDING
    due = Q(Q(next_attempt_at__isnull=True) | Q(next_attempt_at__lte=now), status=Notification.Status.PENDING)
    died = abandoned(now, working=sending, stale_s=settings.NOTIFY_STALE_S)
    taken = row.filter(due).update(status=sending, claimed_at=now, next_attempt_at=None) or row.filter(died).update(
        status=sending, claimed_at=now, next_attempt_at=None, attempts=F("attempts") + 1
    )
    if not taken:
        return "not due"
    notification = Notification.objects.select_related("alert__event", "alert__camera", "channel__owner").get(
        pk=notification_id
    )
    channel = notification.channel
    if notification.attempts >= settings.NOTIFY_TRIES:
        outcome = _give_up(notification, "the worker died while sending it, every try", None)
        alert_refresh_state(alert_id=notification.alert_id)
        return outcome
    if not channel.enabled and not notification.test:  # a test may check a channel before enabling it
        outcome = _give_up(notification, f"channel disabled: {channel.disabled_reason or 'by the operator'}", None)
        alert_refresh_state(alert_id=notification.alert_id)
        return outcome
    started = time.perf_counter()
    try:
        get_transport(channel.kind).send(
            channel_config(channel), channel.secrets.get("secret", ""), message_for(notification)
        )
    except DeliveryError as exc:
        outcome = _failed_attempt(notification, exc, _ms(started), now)
    except Exception as exc:  # noqa: BLE001 - a surprise is recorded and retried like an outage
        logger.exception(
            "notification %s via %s failed unexpectedly", notification.pk, channel.name, extra=_log_ids(notification)
        )
        outcome = _failed_attempt(notification, TransientError(f"{exc.__class__.__name__}: {exc}"), _ms(started), now)
    else:
        outcome = _delivered(notification, _ms(started), now)
    if outcome != "delivered" and not notification.test:  # delivered: counted with its row
        metric_inc("homesec_notifications_total", {"channel": channel.kind, "outcome": outcome})
    if notification.alert_id:
        alert_refresh_state(alert_id=notification.alert_id)
    return outcome


def _log_ids(notification: Notification) -> dict[str, object]:
    """The event and camera a notification's log line is about (a test has neither)."""
    alert = notification.alert
    return {"event": alert.event_id, "camera": alert.camera_id} if alert is not None else {}


def _ms(started: float) -> float:
    return round((time.perf_counter() - started) * 1000, 2)


def _attempt(
    notification: Notification, *, ok: bool, latency: float, now: datetime, exc: DeliveryError | None = None
) -> None:
    NotificationAttempt.objects.create(
        notification=notification,
        number=notification.attempt_log.count() + 1,
        ok=ok,
        error=short(exc, 500) if exc else "",
        status_code=exc.status_code if exc else None,
        latency_ms=latency,
        at=now,
    )


def _delivered(notification: Notification, latency: float, now: datetime) -> str:
    """`now` is when the attempt began (claimed_at keeps it); delivered_at is when the
    receiver took it."""
    with transaction.atomic():
        _attempt(notification, ok=True, latency=latency, now=now)
        Notification.objects.filter(pk=notification.pk).update(
            status=Notification.Status.DELIVERED,
            attempts=F("attempts") + 1,
            error="",
            latency_ms=latency,
            delivered_at=timezone.now(),
        )
        Channel.objects.filter(pk=notification.channel_id).update(last_success_at=now)
        dead_letter_clear(key=f"notification:{notification.pk}")
        if not notification.test:
            _count_delivered(notification)
    return "delivered"


def _count_delivered(notification: Notification) -> None:
    """Counted with the delivered row; an event's first round also its time from its first
    file's arrival (one observation per notification: per channel)."""
    batch = MetricBatch()
    batch.inc("homesec_notifications_total", {"channel": notification.channel.kind, "outcome": "delivered"})
    event_id = notification.alert.event_id if notification.alert else None
    if event_id and notification.round == 0:
        batch.stage_reached("notified", event_first_arrival(event_id=event_id))
    batch.write()


def _failed_attempt(notification: Notification, exc: DeliveryError, latency: float, now: datetime) -> str:
    _attempt(notification, ok=False, latency=latency, now=now, exc=exc)
    error = short(exc, 500)
    Channel.objects.filter(pk=notification.channel_id).update(last_error=error, last_error_at=now)
    row = Notification.objects.filter(pk=notification.pk)
    if notification.test:  # a test from the console reports at once: no retry, no disabling
        row.update(status=Notification.Status.FAILED, attempts=F("attempts") + 1, error=error, latency_ms=latency)
        return "failed"
    if isinstance(exc, PermanentError):
        if notification.channel.enabled:
            reason = f"{error} (notification {notification.pk}, {timezone.localtime(now):%Y-%m-%d %H:%M})"
            Channel.objects.filter(pk=notification.channel_id).update(enabled=False, disabled_reason=reason[:500])
            logger.warning("channel %s disabled: %s", notification.channel.name, error, extra=_log_ids(notification))
        return _give_up(notification, error, latency)
    if isinstance(exc, TransientError) and exc.status_code == 429:
        wait = exc.retry_after if exc.retry_after is not None else backoff_delay(notification.deferrals + 1)
        if notification.deferred_s + wait > settings.NOTIFY_MAX_WAIT_MIN * 60:
            return _give_up(notification, f"still rate-limited after {notification.deferred_s:.0f} s: {error}", latency)
        row.update(
            status=Notification.Status.PENDING,
            deferrals=F("deferrals") + 1,
            deferred_s=F("deferred_s") + wait,
            next_attempt_at=now + timedelta(seconds=wait),
            error=error,
            latency_ms=latency,
        )
        return "deferred"
    tries = notification.attempts + 1
    if tries >= settings.NOTIFY_TRIES:
        return _give_up(notification, error, latency)
    wait = max(backoff_delay(tries), (exc.retry_after if isinstance(exc, TransientError) else None) or 0)
    row.update(
        status=Notification.Status.PENDING,
        attempts=tries,
        next_attempt_at=now + timedelta(seconds=wait),
        error=error,
        latency_ms=latency,
    )
    return "retry"


def _give_up(notification: Notification, error: str, latency: float | None) -> str:
    """The last try failed (or none can succeed): a dead letter the operator can replay."""
    tries = 1 if latency is not None else 0  # no try when nothing was sent
    Notification.objects.filter(pk=notification.pk).update(
        status=Notification.Status.FAILED, attempts=F("attempts") + tries, error=error[:500], latency_ms=latency
    )
    dead_letter_record(
        key=f"notification:{notification.pk}",
        task=REPLAY_TASK,
        payload={"notification_ids": [notification.pk]},
        error=f"{notification.channel.name}: {error}",
        attempts=notification.attempts + tries,
    )
    return "failed"


def alert_refresh_state(*, alert_id: int | None) -> None:
    """Delivered once any channel delivered; failed when none can (every one failed, or
    there was nobody to notify); pending while any is still trying. An acknowledged or
    dismissed alert keeps its state. A console test has no alert (None): nothing to do."""
    if alert_id is None:
        return
    rows = list(Notification.objects.filter(alert_id=alert_id).values_list("status", "error"))
    statuses = {status for status, _ in rows}
    if Notification.Status.DELIVERED in statuses:
        state, reason = Alert.State.DELIVERED, ""
    elif statuses & {Notification.Status.PENDING, Notification.Status.SENDING}:
        state, reason = Alert.State.PENDING, ""
    elif Notification.Status.FAILED in statuses:
        state, reason = Alert.State.FAILED, "every channel failed"
    else:
        skipped = sorted({error for status, error in rows if status == Notification.Status.SKIPPED})
        state, reason = Alert.State.FAILED, "nobody to notify" + (f": {'; '.join(skipped)}" if skipped else "")
    delivered_at = Notification.objects.filter(alert_id=alert_id, status=Notification.Status.DELIVERED).aggregate(
        Min("delivered_at")
    )
    Alert.objects.filter(pk=alert_id, state__in=ALERT_OPEN_STATES).update(
        state=state, state_reason=reason[:500], delivered_at=delivered_at["delivered_at__min"]
    )


def notification_sweep(*, now: datetime | None = None) -> int:
    """A clock job: send again what is due (retries, waits that ended), what nobody took,
    and what a dead worker left half-sent."""
    now = now or timezone.now()
    query = needs_resend(
        now, waiting=Notification.Status.PENDING, working=Notification.Status.SENDING, stale_s=settings.NOTIFY_STALE_S
    )
    ids = list(Notification.objects.filter(query, test=False).values_list("pk", flat=True)[:1000])
    resend(Notification, ids, task=NOTIFY_TASK, now=now, batch=1)
    return len(ids)


def notification_replay(*, notification_ids: list[int], now: datetime | None = None) -> dict[str, int]:
    """The operator's replay of failed notifications: fresh tries, the same ids (and so the
    same idempotency keys). Rows that did not fail are left alone."""
    now = now or timezone.now()
    Notification.objects.filter(pk__in=notification_ids, status=Notification.Status.FAILED, test=False).update(
        status=Notification.Status.PENDING,
        attempts=0,
        deferrals=0,
        deferred_s=0,
        next_attempt_at=None,
        claimed_at=None,
        queued_at=now,
    )
    return notifications_send(notification_ids=notification_ids, now=now)


def channel_send_test(*, channel: Channel, now: datetime | None = None) -> Notification:
    """The console's "send a test": one attempt, now, recorded like any other."""
    now = now or timezone.now()
    notification = Notification.objects.create(channel=channel, test=True, queued_at=now, created_at=now)
    notification_send(notification_id=notification.pk, now=now)
    notification.refresh_from_db()
    return notification
