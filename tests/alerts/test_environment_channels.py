"""Channels declared in the environment: each checked on its own at start, with the variable
named; one bad value never keeps the others from working."""

from __future__ import annotations

import pytest
from django.core.checks import ERROR, run_checks

from alerts.models import Channel
from alerts.setup import alerts_setup

pytestmark = pytest.mark.django_db


@pytest.fixture
def declared(settings):
    settings.NOTIFY_WEBHOOK_URL, settings.NOTIFY_WEBHOOK_SECRET = "https://ha.example/hook", "hook-secret"
    settings.NOTIFY_EMAIL_TO = ["me@example.org"]
    settings.NOTIFY_MQTT_URL = "mqtt://homesec:pa#ss@broker.lan:1883"  # '#' not percent-encoded
    settings.NOTIFY_NTFY_URL = "https://ntfy.sh"  # no topic
    return settings


def test_one_bad_channel_in_the_environment_does_not_stop_the_others(declared):
    alerts_setup()
    channels = {c.name: c for c in Channel.objects.all()}
    assert channels["webhook (environment)"].enabled and channels["email (environment)"].enabled
    mqtt, ntfy = channels["mqtt (environment)"], channels["ntfy (environment)"]
    assert not mqtt.enabled and "HOMESEC_NOTIFY_MQTT_URL" in mqtt.disabled_reason and "%23" in mqtt.disabled_reason
    assert "pa#ss" not in mqtt.disabled_reason and mqtt.secrets == {}  # the password is never shown or kept
    assert not ntfy.enabled and "HOMESEC_NOTIFY_NTFY_URL" in ntfy.disabled_reason and "topic" in ntfy.disabled_reason


def test_fixing_the_variable_enables_the_channel_at_the_next_start(declared):
    alerts_setup()
    declared.NOTIFY_NTFY_URL = "https://ntfy.sh/homesec-abc"
    alerts_setup()
    ntfy = Channel.objects.get(name="ntfy (environment)")
    assert ntfy.enabled and ntfy.config == {"server": "https://ntfy.sh", "topic": "homesec-abc"}


def test_the_start_up_check_names_each_bad_variable_and_does_not_stop_homesec(declared):
    messages = [m for m in run_checks() if m.id and m.id.startswith("alerts.")]
    texts = " ".join(m.msg for m in messages)
    assert "HOMESEC_NOTIFY_MQTT_URL" in texts and "HOMESEC_NOTIFY_NTFY_URL" in texts
    assert "pa#ss" not in texts
    assert all(m.level < ERROR for m in messages)
