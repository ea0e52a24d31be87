"""Delivery faults against a real HTTP receiver: retries with backoff, a receiver down for
good, a permanent refusal, replays, and the sweep that picks up a half-sent notification."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from alerts.delivery import notification_replay, notification_send, notification_sweep
from alerts.engine import alerts_evaluate
from alerts.models import Alert, AlertRule, Channel, Notification, NotificationAttempt
from homesec.core.models import DeadLetter
from tests.alerts.factory import FRIDAY_NOON, assessed_event, webhook_channel
from tests.support.processes import free_port

pytestmark = pytest.mark.django_db


def _alert(url: str) -> tuple[Alert, Notification, Channel]:
    channel = webhook_channel(url)
    AlertRule.objects.create(name="rule", all_channels=True)
    [alert] = alerts_evaluate(event_id=assessed_event().pk, now=FRIDAY_NOON)
    return alert, Notification.objects.get(alert=alert), channel


def _send_until_settled(notification: Notification, *, start, limit: int = 10) -> list[str]:
    """Send, and again each time a retry falls due (as the clock's sweep would)."""
    outcomes, now = [], start
    for _ in range(limit):
        outcomes.append(notification_send(notification_id=notification.pk, now=now))
        notification.refresh_from_db()
        if notification.status != "pending":
            break
        now = notification.next_attempt_at
    return outcomes


def test_500_twice_then_200_is_one_delivered_alert_and_three_recorded_attempts(receiver):
    receiver.script = [500, 503]
    alert, notification, channel = _alert(receiver.url)
    assert _send_until_settled(notification, start=FRIDAY_NOON) == ["retry", "retry", "delivered"]
    alert.refresh_from_db()
    assert alert.state == "delivered" and alert.delivered_at is not None
    attempts = list(NotificationAttempt.objects.filter(notification=notification).values_list("ok", "status_code"))
    assert attempts == [(False, 500), (False, 503), (True, None)]
    assert len(receiver.requests) == 3
    # Every attempt carried the same idempotency key: the notification's id.
    keys = {r["headers"]["X-Homesec-Idempotency-Key"] for r in receiver.requests}
    assert keys == {str(notification.pk)}
    channel.refresh_from_db()
    assert channel.enabled and channel.last_success_at is not None
    assert not DeadLetter.objects.exists()


def test_retries_back_off(receiver):
    receiver.script = [500, 500]
    _, notification, _ = _alert(receiver.url)
    notification_send(notification_id=notification.pk, now=FRIDAY_NOON)
    notification.refresh_from_db()
    first = (notification.next_attempt_at - FRIDAY_NOON).total_seconds()
    assert notification_send(notification_id=notification.pk, now=FRIDAY_NOON) == "not due"
    notification_send(notification_id=notification.pk, now=notification.next_attempt_at)
    sent_second = notification.next_attempt_at
    notification.refresh_from_db()
    second = (notification.next_attempt_at - sent_second).total_seconds()
    assert 0.5 <= first <= 1.0 and 1.0 <= second <= 2.0


def test_a_receiver_down_for_good_fails_the_alert_leaves_a_dead_letter_and_keeps_the_channel():
    url = f"http://127.0.0.1:{free_port()}/hook"  # nothing listens there
    alert, notification, channel = _alert(url)
    assert _send_until_settled(notification, start=FRIDAY_NOON) == ["retry", "retry", "failed"]
    alert.refresh_from_db()
    assert (alert.state, alert.state_reason) == ("failed", "every channel failed")
    letter = DeadLetter.objects.get()
    assert letter.key == f"notification:{notification.pk}" and letter.payload == {"notification_ids": [notification.pk]}
    assert "could not reach the receiver" in letter.error and letter.attempts == 3
    channel.refresh_from_db()
    assert channel.enabled and "could not reach" in channel.last_error


def test_a_410_disables_the_channel_with_the_reason(receiver):
    receiver.script = [410]
    alert, notification, channel = _alert(receiver.url)
    assert notification_send(notification_id=notification.pk, now=FRIDAY_NOON) == "failed"
    channel.refresh_from_db()
    assert not channel.enabled and channel.disabled_reason.startswith("HTTP 410 Gone")
    assert f"notification {notification.pk}" in channel.disabled_reason
    alert.refresh_from_db()
    assert alert.state == "failed" and len(receiver.requests) == 1
    # The next alert does not try the disabled channel; it says why.
    [later] = alerts_evaluate(event_id=assessed_event(cam="garden").pk, now=FRIDAY_NOON)
    skipped = Notification.objects.get(alert=later)
    assert skipped.status == "skipped" and "HTTP 410 Gone" in skipped.error


def test_other_4xx_is_permanent_and_429_is_a_wait(receiver):
    receiver.script = [(429, {"Retry-After": "30"}), (429, {}), 400]
    _, notification, channel = _alert(receiver.url)
    assert notification_send(notification_id=notification.pk, now=FRIDAY_NOON) == "deferred"
    notification.refresh_from_db()
    assert notification.next_attempt_at == FRIDAY_NOON + timedelta(seconds=30)
    assert notification_send(notification_id=notification.pk, now=notification.next_attempt_at) == "deferred"
    notification.refresh_from_db()
    assert (notification.attempts, notification.deferrals) == (0, 2)
    assert notification_send(notification_id=notification.pk, now=notification.next_attempt_at) == "failed"
    channel.refresh_from_db()
    assert not channel.enabled and "HTTP 400" in channel.disabled_reason


def test_a_receiver_that_keeps_saying_429_is_given_up_on_after_the_longest_wait(receiver, settings):
    settings.NOTIFY_MAX_WAIT_MIN = 1
    receiver.script = [(429, {"Retry-After": "40"})] * 2
    alert, notification, _ = _alert(receiver.url)
    assert _send_until_settled(notification, start=FRIDAY_NOON) == ["deferred", "failed"]
    assert "still rate-limited" in Notification.objects.get().error
    assert DeadLetter.objects.filter(key=f"notification:{notification.pk}").exists()


def test_replaying_a_dead_letter_sends_the_same_notification_again(receiver):
    receiver.script = [500, 500, 500]
    alert, notification, _ = _alert(receiver.url)
    _send_until_settled(notification, start=FRIDAY_NOON)
    assert Notification.objects.get().status == "failed"
    assert notification_replay(notification_ids=[notification.pk], now=FRIDAY_NOON + timedelta(hours=1)) == {
        "delivered": 1
    }
    alert.refresh_from_db()
    assert alert.state == "delivered" and not DeadLetter.objects.exists()
    assert {r["headers"]["X-Homesec-Idempotency-Key"] for r in receiver.requests} == {str(notification.pk)}
    # A replay of delivered work changes nothing.
    assert notification_replay(notification_ids=[notification.pk]) == {"not due": 1}
    assert len(receiver.requests) == 4


def test_the_sweep_resends_a_half_sent_notification_and_due_retries(
    receiver, settings, django_capture_on_commit_callbacks
):
    _, notification, _ = _alert(receiver.url)
    # A worker claimed it and died before recording anything.
    Notification.objects.filter(pk=notification.pk).update(status="sending", claimed_at=FRIDAY_NOON)
    stale = FRIDAY_NOON + timedelta(seconds=settings.NOTIFY_STALE_S + 1)
    assert notification_send(notification_id=notification.pk, now=FRIDAY_NOON + timedelta(seconds=5)) == "not due"
    with django_capture_on_commit_callbacks() as callbacks:
        assert notification_sweep(now=stale) == 1
    assert len(callbacks) == 1  # its task is sent again
    assert notification_sweep(now=stale) == 0  # ... once per stale period
    assert notification_send(notification_id=notification.pk, now=stale) == "delivered"


def test_an_alert_with_no_channel_is_kept_and_says_nobody_was_notified():
    AlertRule.objects.create(name="rule")
    [alert] = alerts_evaluate(event_id=assessed_event().pk, now=FRIDAY_NOON)
    alert.refresh_from_db()
    assert (alert.state, alert.state_reason) == ("failed", "nobody to notify")


def test_a_channel_disabled_while_a_notification_waits_is_not_tried_and_leaves_a_dead_letter(receiver):
    alert, notification, channel = _alert(receiver.url)
    Channel.objects.filter(pk=channel.pk).update(enabled=False, disabled_reason="HTTP 410 Gone")
    assert notification_send(notification_id=notification.pk, now=FRIDAY_NOON) == "failed"
    notification.refresh_from_db()
    assert (notification.attempts, notification.error) == (0, "channel disabled: HTTP 410 Gone")
    assert receiver.requests == [] and not NotificationAttempt.objects.exists()
    assert DeadLetter.objects.filter(key=f"notification:{notification.pk}").exists()
    channel.refresh_from_db()
    assert channel.last_error == ""  # nothing was sent, so nothing went wrong on the wire


def test_delivered_at_is_when_the_receiver_took_it_and_claimed_at_when_the_send_began(receiver):
    receiver.script = [("hold", 1.0)]  # a slow receiver
    alert, notification, _ = _alert(receiver.url)
    began = timezone.now()
    assert notification_send(notification_id=notification.pk, now=began) == "delivered"
    notification.refresh_from_db()
    assert notification.claimed_at == began
    assert (notification.delivered_at - began).total_seconds() >= 1.0
