"""Acknowledge and dismiss, reminders for critical alerts, camera-offline and low-disk
alerts, the household's mode, and the first-run setup from the environment."""

from __future__ import annotations

from collections import namedtuple
from datetime import UTC, datetime, time, timedelta

import pytest

from alerts.engine import alert_sweep, alerts_evaluate
from alerts.models import Alert, AlertRule, Channel, Household, ModeScheduleEntry, Notification
from alerts.selectors import household_mode
from alerts.services import (
    alert_acknowledge,
    alert_dismiss,
    alert_renotify_due,
    household_set_mode,
    system_alerts_check,
)
from alerts.setup import alerts_setup, default_rule_ensure
from cameras.models import Camera
from tests.alerts.factory import FRIDAY_NOON, assessed_event, camera, webhook_channel

pytestmark = pytest.mark.django_db


@pytest.fixture
def critical(receiver, settings):
    settings.RENOTIFY_MINUTES, settings.RENOTIFY_MAX = 10, 3
    rule = AlertRule.objects.create(name="rule")
    rule.channels.set([webhook_channel(receiver.url)])
    [alert] = alerts_evaluate(event_id=assessed_event(score=95).pk, now=FRIDAY_NOON)
    Notification.objects.update(status="delivered")
    Alert.objects.update(state="delivered")
    return alert


def test_an_unacknowledged_critical_alert_is_sent_again_every_10_minutes_3_times(critical):
    assert alert_renotify_due(now=FRIDAY_NOON + timedelta(minutes=9)) == 0
    for n in range(1, 4):
        assert alert_renotify_due(now=FRIDAY_NOON + timedelta(minutes=10 * n)) == 1
        Notification.objects.update(status="delivered")
    assert alert_renotify_due(now=FRIDAY_NOON + timedelta(minutes=50)) == 0
    assert list(Notification.objects.order_by("round").values_list("round", flat=True)) == [0, 1, 2, 3]
    critical.refresh_from_db()
    assert critical.renotify_count == 3


def test_acknowledging_stops_the_reminders(critical, admin_user):
    assert alert_acknowledge(alert=critical, user=admin_user)
    critical.refresh_from_db()
    assert (critical.state, critical.handled_by) == ("acknowledged", admin_user)
    assert alert_renotify_due(now=FRIDAY_NOON + timedelta(hours=1)) == 0
    assert not alert_dismiss(alert=critical)  # handled already: stays acknowledged


def test_a_dismissed_alert_keeps_its_state_when_a_late_notification_lands(critical):
    from alerts.delivery import alert_refresh_state

    assert alert_dismiss(alert=critical)
    alert_refresh_state(alert_id=critical.pk)
    critical.refresh_from_db()
    assert critical.state == "dismissed" and critical.dismissed_at is not None


def test_high_alerts_get_no_reminders(receiver):
    rule = AlertRule.objects.create(name="rule")
    rule.channels.set([webhook_channel(receiver.url)])
    alerts_evaluate(event_id=assessed_event(score=70).pk, now=FRIDAY_NOON)
    Alert.objects.update(state="delivered")
    assert alert_renotify_due(now=FRIDAY_NOON + timedelta(hours=1)) == 0


def test_a_camera_going_offline_alerts_once_per_outage_through_the_default_rules_channels(receiver, settings):
    settings.MIN_FREE_GB = 0
    webhook_channel(receiver.url)
    default_rule_ensure()
    garage = camera("garage")
    Camera.objects.filter(pk="garage").update(
        status="offline", status_reason="no upload for 30 min", offline_after_min=30, last_seen_at=FRIDAY_NOON
    )
    [alert] = system_alerts_check(now=FRIDAY_NOON)
    assert (alert.kind, alert.camera_id, alert.title) == (
        "camera_offline",
        garage.pk,
        "Camera Garage is offline: no upload for 30 min",
    )
    assert Notification.objects.get(alert=alert).status == "pending"
    assert system_alerts_check(now=FRIDAY_NOON + timedelta(minutes=5)) == []  # the same outage
    # Back online, then silent again: a new outage, a new alert.
    Camera.objects.filter(pk="garage").update(last_seen_at=FRIDAY_NOON + timedelta(hours=2))
    assert len(system_alerts_check(now=FRIDAY_NOON + timedelta(hours=3))) == 1
    # Cameras without an offline limit never alert.
    camera("porch")
    Camera.objects.filter(pk="porch").update(status="offline")
    assert system_alerts_check(now=FRIDAY_NOON + timedelta(hours=4)) == []


def test_low_disk_alerts_once_a_day(receiver, settings, monkeypatch):
    import shutil

    webhook_channel(receiver.url)
    default_rule_ensure()
    settings.MIN_FREE_GB = 1.0
    usage = namedtuple("usage", "total used free")
    monkeypatch.setattr(shutil, "disk_usage", lambda path: usage(10 * 1024**3, 0, int(0.5 * 1024**3)))
    [alert] = system_alerts_check(now=FRIDAY_NOON)
    assert alert.kind == "disk_low" and "Only 0.50 GB free" in alert.title
    assert system_alerts_check(now=FRIDAY_NOON + timedelta(hours=1)) == []
    assert len(system_alerts_check(now=FRIDAY_NOON + timedelta(days=1))) == 1


def test_the_mode_set_by_hand_holds_until_the_next_scheduled_switch(settings, admin_user):
    settings.TIME_ZONE = "Europe/Berlin"
    ModeScheduleEntry.objects.create(days=[0, 1, 2, 3, 4], at=time(8, 0), mode="away")
    ModeScheduleEntry.objects.create(days=[], at=time(22, 30), mode="night")
    friday_0900_berlin = datetime(2026, 11, 27, 8, 0, tzinfo=UTC)
    assert household_mode(now=friday_0900_berlin).mode == "away"
    household_set_mode(mode="home", user=admin_user, now=friday_0900_berlin + timedelta(minutes=5))
    here = household_mode(now=friday_0900_berlin + timedelta(hours=1))
    assert (here.mode, here.source) == ("home", "set by hand by admin")
    assert household_mode(now=datetime(2026, 11, 27, 21, 45, tzinfo=UTC)).mode == "night"  # 22:45 in Berlin
    # Saturday: no weekday switch to away; the night holds until someone sets a mode.
    assert household_mode(now=datetime(2026, 11, 28, 10, 0, tzinfo=UTC)).mode == "night"


def test_channels_declared_in_the_environment_are_made_and_kept_in_step(settings):
    settings.NOTIFY_WEBHOOK_URL, settings.NOTIFY_WEBHOOK_SECRET = "https://ha.example/hook", "hook-secret"
    settings.NOTIFY_EMAIL_TO = ["me@example.org", "you@example.org"]
    settings.NOTIFY_MQTT_URL = "mqtt://homesec:broker%20pass@broker.lan:1884"
    settings.NOTIFY_NTFY_URL, settings.NOTIFY_NTFY_TOKEN = "https://ntfy.sh/homesec-abc", "tk_1"
    alerts_setup()
    channels = {c.name: c for c in Channel.objects.all()}
    assert channels["webhook (environment)"].secrets == {"secret": "hook-secret"}
    assert channels["email (environment)"].config == {"to": ["me@example.org", "you@example.org"]}
    mqtt = channels["mqtt (environment)"]
    assert mqtt.config == {"url": "mqtt://broker.lan:1884", "username": "homesec"}  # no password on show
    assert mqtt.secrets == {"secret": "broker pass"}
    assert channels["ntfy (environment)"].config == {"server": "https://ntfy.sh", "topic": "homesec-abc"}
    assert all(c.from_environment and c.owner_id is None for c in channels.values())
    # A channel disabled by a permanent error stays disabled while its settings stay the same ...
    Channel.objects.filter(name="webhook (environment)").update(enabled=False, disabled_reason="HTTP 410 Gone")
    alerts_setup()
    assert not Channel.objects.get(name="webhook (environment)").enabled
    # ... changed settings are a fix; a channel no longer declared is disabled, not deleted.
    settings.NOTIFY_WEBHOOK_URL = "https://ha.example/new-hook"
    settings.NOTIFY_NTFY_URL = ""
    alerts_setup()
    assert Channel.objects.get(name="webhook (environment)").enabled
    ntfy = Channel.objects.get(name="ntfy (environment)")
    assert not ntfy.enabled and ntfy.disabled_reason == "no longer declared in the environment"


def test_the_default_rule_follows_the_setting_until_the_operator_changes_or_deletes_it(settings, admin_client):
    settings.ALERT_MIN_LEVEL = "high"
    rule = default_rule_ensure()
    assert (rule.min_level, rule.all_channels, rule.managed) == ("high", True, True)
    settings.ALERT_MIN_LEVEL = "medium"
    assert default_rule_ensure().min_level == "medium"
    # The operator edits it in the console: it is theirs from now on.
    response = admin_client.post(
        f"/admin/alerts/alertrule/{rule.pk}/change/",
        {
            "name": "Anything medium",
            "enabled": "on",
            "severity": "",
            "min_risk_score": "0",
            "min_level": "medium",
            "cooldown_s": "600",
            "dedup_key": "{camera}:{rule}",
            "all_channels": "on",
        },
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    settings.ALERT_MIN_LEVEL = "critical"
    rule = default_rule_ensure()
    assert (rule.name, rule.min_level, rule.cooldown_s, rule.managed) == ("Anything medium", "medium", 600, False)
    # A level the severity table does not know changes nothing (and is logged).
    settings.ALERT_MIN_LEVEL = "severe"
    assert default_rule_ensure().min_level == "medium"
    # Deleted, it is not made again.
    settings.ALERT_MIN_LEVEL = "critical"
    admin_client.post(f"/admin/alerts/alertrule/{rule.pk}/delete/", {"post": "yes"})
    assert default_rule_ensure() is None and Household.objects.get().default_rule_removed
    assert not AlertRule.objects.exists()


def test_the_sweep_checks_assessments_whose_check_was_lost(django_capture_on_commit_callbacks):
    AlertRule.objects.create(name="rule")
    event = assessed_event(at=FRIDAY_NOON)
    with django_capture_on_commit_callbacks() as callbacks:
        assert alert_sweep(now=FRIDAY_NOON + timedelta(seconds=5)) == 0  # not stale yet
        assert alert_sweep(now=FRIDAY_NOON + timedelta(minutes=5)) == 1
        assert alert_sweep(now=FRIDAY_NOON + timedelta(minutes=5, seconds=5)) == 0  # sent a moment ago
        assert alert_sweep(now=FRIDAY_NOON + timedelta(minutes=7)) == 1  # still not checked: again
    assert len(callbacks) == 2
    alerts_evaluate(event_id=event.pk, now=FRIDAY_NOON + timedelta(minutes=5))
    assert alert_sweep(now=FRIDAY_NOON + timedelta(minutes=9)) == 0


def test_the_sweep_remembers_what_it_sent_in_the_event_row_not_in_a_process():
    AlertRule.objects.create(name="rule")
    event = assessed_event(at=FRIDAY_NOON)
    assert alert_sweep(now=FRIDAY_NOON + timedelta(minutes=5)) == 1
    event.refresh_from_db()
    assert event.check_queued_at == FRIDAY_NOON + timedelta(minutes=5)  # a restarted clock sees it too
