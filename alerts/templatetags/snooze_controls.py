"""For the snooze controls (templates/alerts/_snooze.html): their preset buttons are the ones
the snooze form offers, wherever the controls are included."""

from __future__ import annotations

from django import template

from alerts.forms import SNOOZE_PRESETS

register = template.Library()


@register.simple_tag
def snooze_presets() -> tuple[tuple[int, str], ...]:
    """(minutes, label) per button."""
    return SNOOZE_PRESETS
