"""Dedup-key templates: refused when they cannot be formatted, never fatal at alert time."""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError

from alerts.engine import alerts_evaluate
from alerts.models import AlertCheck, AlertRule
from tests.alerts.factory import FRIDAY_NOON, assessed_event, webhook_channel

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("template", ["{camera:d}", "{rule!z}", "{camera[0]}", "{event.pk}", "{level:>{width}}"])
def test_a_template_that_cannot_be_formatted_is_refused_with_the_reason(template):
    rule = AlertRule(name="bad key", dedup_key=template)
    with pytest.raises(ValidationError) as raised:
        rule.clean()
    assert "dedup_key" in raised.value.message_dict


@pytest.mark.parametrize("template", ["{camera}:{rule}", "{camera}-{class}-{level}", "night:{event}", "fixed"])
def test_good_templates_pass(template):
    AlertRule(name="good key", dedup_key=template).clean()


def test_a_stored_template_that_fails_at_alert_time_uses_the_default_key_and_says_so(receiver):
    webhook_channel(receiver.url)
    rule = AlertRule.objects.create(name="old rule", dedup_key="{camera:d}", all_channels=True)  # saved long ago
    other = AlertRule.objects.create(name="other rule", all_channels=True)
    event = assessed_event()
    alerts = alerts_evaluate(event_id=event.pk, now=FRIDAY_NOON)
    assert {a.rule_id for a in alerts} == {rule.pk, other.pk}  # the bad template aborted nothing
    bad = next(a for a in alerts if a.rule_id == rule.pk)
    assert bad.dedup_key == f"front_door:{rule.pk}"
    decision = next(d for d in AlertCheck.objects.get().decisions if d["rule"] == "old rule")
    assert "dedup key" in decision["why"] and "{camera:d}" in decision["why"]
