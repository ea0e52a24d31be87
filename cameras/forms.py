"""Forms for cameras: the console's FTP account with a write-only password (saved by
cameras/ftp.py: ftp_account_save), and the household pages' camera, zone and mode forms
(saved by cameras/services.py and alerts/services.py)."""

from __future__ import annotations

import json
from functools import cache
from typing import Any
from zoneinfo import available_timezones

from django import forms

from alerts.models import Mode
from cameras.geometry import valid_polygon
from cameras.models import Camera, FtpAccount, Zone
from cameras.services import FILTER_KEYS
from detections.models import CLASSES


class FtpAccountForm(forms.ModelForm):
    password = forms.CharField(
        widget=forms.PasswordInput(render_value=False),
        required=False,
        strip=False,
        help_text="Write-only. Leave empty to keep the current password.",
    )

    class Meta:
        model = FtpAccount
        fields = ("camera", "username", "enabled")

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if not self.instance.pk and not data.get("password"):
            self.add_error("password", "A new account needs a password.")
        return data


# --- The household's pages -----------------------------------------------------------------


class CameraAddForm(forms.Form):
    name = forms.CharField(
        max_length=100, help_text="Its folder under the camera root gets this name: letters, digits, spaces, - _ '."
    )
    ftp_account = forms.BooleanField(
        required=False, initial=True, label="Make an FTP account for it (the password is shown once)"
    )


@cache
def _time_zones() -> list[tuple[str, str]]:
    return [(name, name) for name in sorted(available_timezones())]


class CameraSettingsForm(forms.Form):
    """A camera's settings, with the per-class filters as one row of numbers per class."""

    name = forms.CharField(max_length=200)
    enabled = forms.BooleanField(required=False, help_text="Disabled: uploads are recorded but not analysed.")
    time_zone = forms.ChoiceField(choices=_time_zones)
    offline_after_min = forms.IntegerField(
        required=False,
        min_value=1,
        label="Offline after (minutes without an upload)",
        help_text="Empty: never raise an offline alarm.",
    )

    def __init__(self, *args: Any, camera: Camera, **kwargs: Any) -> None:
        kwargs.setdefault(
            "initial",
            {
                "name": camera.name,
                "enabled": camera.enabled,
                "time_zone": camera.time_zone,
                "offline_after_min": camera.offline_after_min,
                **{
                    f"{label}__{key}": value
                    for label, rules in (camera.filters or {}).items()
                    if isinstance(rules, dict)
                    for key, value in rules.items()
                },
            },
        )
        super().__init__(*args, **kwargs)
        if camera.time_zone not in dict(_time_zones()):
            # A name set in the console that is no time zone is shown as it is (and refused
            # on save), never silently replaced by the first one of the list.
            field = self.fields["time_zone"]
            assert isinstance(field, forms.ChoiceField)
            field.choices = [(camera.time_zone, f"{camera.time_zone} (not a time zone)"), *_time_zones()]
        for label in CLASSES:
            for key in FILTER_KEYS:
                self.fields[f"{label}__{key}"] = forms.FloatField(
                    required=False,
                    min_value=0,
                    max_value=1,
                    label=f"{label} {key.replace('_', ' ')}",
                    widget=forms.NumberInput(
                        attrs={"step": "any", "inputmode": "decimal", "placeholder": "–", "title": "empty: the default"}
                    ),
                )

    def filter_rows(self) -> list[tuple[str, list[forms.BoundField]]]:
        """(class, [min confidence, min area, max area]) for the filters table."""
        return [(label, [self[f"{label}__{key}"] for key in FILTER_KEYS]) for label in CLASSES]

    def filters(self) -> dict[str, dict[str, float]]:
        data = self.cleaned_data
        rules = {
            label: {key: data[f"{label}__{key}"] for key in FILTER_KEYS if data.get(f"{label}__{key}") is not None}
            for label in CLASSES
        }
        return {label: values for label, values in rules.items() if values}

    def settings(self) -> dict[str, Any]:
        """What camera_settings_save takes."""
        data = self.cleaned_data
        return {
            "name": data["name"],
            "enabled": data["enabled"],
            "time_zone": data["time_zone"],
            "offline_after_min": data["offline_after_min"],
            "filters": self.filters(),
        }


class ZoneForm(forms.Form):
    """One zone: the editor fills `polygon` with [[x, y], ...] in 0-1 frame coordinates."""

    zone = forms.IntegerField(required=False, widget=forms.HiddenInput)
    name = forms.CharField(max_length=100)
    kind = forms.ChoiceField(choices=Zone.Kind.choices, initial=Zone.Kind.OTHER)
    enabled = forms.BooleanField(required=False, initial=True)
    polygon = forms.CharField(
        widget=forms.HiddenInput, error_messages={"required": "Draw the zone: tap or click at least three points."}
    )

    def clean_polygon(self) -> list[list[float]]:
        try:
            points = json.loads(self.cleaned_data["polygon"])
        except ValueError as exc:
            raise forms.ValidationError("The points could not be read.") from exc
        if not valid_polygon(points):
            raise forms.ValidationError("A zone needs at least three points, each inside the picture.")
        return [[float(x), float(y)] for x, y in points]


class ModeForm(forms.Form):
    mode = forms.ChoiceField(choices=Mode.choices)
