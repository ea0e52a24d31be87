"""The forms for alerts: the console's rules, channels (a write-only secret checked by the
channel's transport before it is stored) and mode schedule; the alerts page's acknowledge /
dismiss and a camera's snooze. Saving goes through alerts/services.py."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from django import forms
from django.conf import settings
from django.core.exceptions import ValidationError

from alerts.delivery import channel_problems
from alerts.models import WEEKDAYS, AlertRule, Channel, Mode, ModeScheduleEntry
from alerts.transports import TRANSPORTS, get_transport
from detections.models import CLASSES
from events.selectors import level_names

DAY_CHOICES = [(i, name) for i, name in enumerate(WEEKDAYS)]


class ListChoiceField(forms.TypedMultipleChoiceField):
    """A JSON list of choices, shown as checkboxes."""

    def __init__(self, *, choices: Any, coerce: Any = str, **kwargs: Any) -> None:
        super().__init__(choices=choices, coerce=coerce, required=False, widget=forms.CheckboxSelectMultiple, **kwargs)


def _level_choices(blank: str) -> list[tuple[str, str]]:
    return [("", blank)] + [(name, name) for name in level_names()]


class AlertRuleForm(forms.ModelForm):
    classes = ListChoiceField(choices=[(c, c) for c in CLASSES], help_text="None ticked: any class.")
    days = ListChoiceField(choices=DAY_CHOICES, coerce=int, help_text="None ticked: every day.")
    modes = ListChoiceField(choices=Mode.choices, help_text="None ticked: every mode.")

    class Meta:
        model = AlertRule
        fields = (
            "name",
            "enabled",
            "severity",
            "min_risk_score",
            "min_level",
            "cameras",
            "zones",
            "classes",
            "min_confidence",
            "days",
            "start_time",
            "end_time",
            "modes",
            "cooldown_s",
            "dedup_key",
            "all_channels",
            "channels",
        )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # The levels are rows (the severity table), read when the form is built.
        self.fields["severity"] = forms.ChoiceField(
            choices=_level_choices("the event's level"), required=False, help_text=self.fields["severity"].help_text
        )
        self.fields["min_level"] = forms.ChoiceField(choices=_level_choices("any level"), required=False)


class TestRuleForm(forms.Form):
    count = forms.IntegerField(min_value=1, max_value=1000, initial=50, label="Last N assessed events")


class ChannelForm(forms.ModelForm):
    new_secret = forms.CharField(
        required=False,
        label="Secret",
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "new-password"}),
        help_text="Write-only: leave empty to keep the stored one. "
        + " ".join(f"{kind}: {get_transport(kind).SECRET_HELP}" for kind in TRANSPORTS),
    )
    clear_secret = forms.BooleanField(required=False, label="Remove the stored secret")

    class Meta:
        model = Channel
        fields = ("name", "kind", "enabled", "owner", "config")
        help_texts = {
            "config": "JSON. Examples — "
            + "; ".join(f"{kind}: {json.dumps(get_transport(kind).EXAMPLE)}" for kind in TRANSPORTS)
        }

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        kind = data.get("kind")
        if not kind or not isinstance(data.get("config"), dict):
            return data
        secret = "" if data.get("clear_secret") else data.get("new_secret") or self.instance.secrets.get("secret", "")
        for problem in channel_problems(kind=kind, config=data["config"], owner=data.get("owner"), secret=secret):
            self.add_error("config", problem)
        return data


class ScheduleEntryForm(forms.ModelForm):
    days = ListChoiceField(choices=DAY_CHOICES, coerce=int, help_text="None ticked: every day.")

    class Meta:
        model = ModeScheduleEntry
        fields = ("days", "at", "mode", "enabled")


# --- The alerts page ---------------------------------------------------------------------------


class IdListField(forms.Field):
    """Every value of a repeated field (ticked checkboxes), as distinct ids."""

    widget = forms.MultipleHiddenInput

    def to_python(self, value: Any) -> list[int]:
        try:
            return sorted({int(v) for v in value or []})
        except (TypeError, ValueError):
            raise ValidationError("That is not an alert.") from None


class AlertHandleForm(forms.Form):
    """Acknowledge or dismiss the ticked alerts, or the one whose own button was pressed
    (its value names it: `acknowledge:12`)."""

    action = forms.RegexField(
        regex=r"^(acknowledge|dismiss)(:\d+)?$", error_messages={"invalid": "Acknowledge or dismiss?"}
    )
    alert = IdListField(required=False)

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if not data.get("action"):
            return data
        verb, _, one = data["action"].partition(":")
        data["verb"] = verb
        data["ids"] = [int(one)] if one else data.get("alert", [])
        if not data["ids"]:
            raise ValidationError("Tick at least one alert first.")
        return data


SNOOZE_PRESETS = ((30, "30 min"), (60, "1 h"), (480, "8 h"))


class SnoozeForm(forms.Form):
    """Snooze a camera for `minutes` from now or `until` a time (a datetime-local value, read
    in the household's time zone, or ISO 8601 with an offset), or `unsnooze` it. Cleaned,
    `end` is when the snooze ends, None to unsnooze."""

    minutes = forms.IntegerField(required=False, min_value=1, max_value=31 * 24 * 60)
    until = forms.CharField(required=False, max_length=40)
    unsnooze = forms.BooleanField(required=False)

    def __init__(self, *args: Any, now: datetime, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.now = now

    def clean_until(self) -> datetime | None:
        text = self.cleaned_data.get("until", "").strip()
        if not text:
            return None
        try:
            moment = datetime.fromisoformat(text)
        except ValueError:
            raise ValidationError("Give the end as a date and time, e.g. 2026-11-27T22:30.") from None
        return moment if moment.tzinfo else moment.replace(tzinfo=ZoneInfo(settings.TIME_ZONE))

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if self.errors:
            return data
        minutes, until, unsnooze = data.get("minutes"), data.get("until"), data.get("unsnooze")
        if sum((minutes is not None, until is not None, bool(unsnooze))) != 1:
            raise ValidationError("Give one of: minutes, an end time, or unsnooze.")
        if unsnooze:
            data["end"] = None
        else:
            data["end"] = self.now + timedelta(minutes=minutes) if minutes is not None else until
            if data["end"] <= self.now:
                raise ValidationError("That time has passed: give one in the future.")
        return data
