"""The console's forms for alerts: rules, channels (a write-only secret checked by the
channel's transport before it is stored) and the mode schedule. Saving goes through
alerts/services.py."""

from __future__ import annotations

import json
from typing import Any

from django import forms

from alerts.delivery import channel_config
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
        probe = Channel(kind=kind, config=data["config"], owner=data.get("owner"))
        for problem in get_transport(kind).validate(channel_config(probe), secret):
            self.add_error("config", problem)
        return data


class ScheduleEntryForm(forms.ModelForm):
    days = ListChoiceField(choices=DAY_CHOICES, coerce=int, help_text="None ticked: every day.")

    class Meta:
        model = ModeScheduleEntry
        fields = ("days", "at", "mode", "enabled")
