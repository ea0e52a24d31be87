"""The timeline's filters (GET), an event's review, and the bulk review (POST)."""

from __future__ import annotations

from datetime import datetime, time, timedelta
from typing import Any
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from django import forms
from django.conf import settings

from events.models import Event
from events.selectors import LAST_ID, Cursor, TimelineQuery
from events.services import BULK_REVIEW_MAX

REVIEWED_CHOICES = [("unreviewed", "Unreviewed"), ("reviewed", "Reviewed"), ("all", "All")]
FILTER_FIELDS = ("camera", "level", "min_score", "label", "zone", "since", "until", "reviewed", "q")


def _any(choices: list[tuple[str, str]], label: str = "any") -> list[tuple[str, str]]:
    return [("", label), *choices]


def _offer(form: forms.Form, name: str, choices: list[tuple[str, str]]) -> None:
    field = form.fields[name]
    assert isinstance(field, forms.ChoiceField)
    field.choices = choices


class TimelineFilterForm(forms.Form):
    """Unreviewed events by default, as a review page should be. A bad value in one field
    is shown as an error and ignored; the others still filter."""

    camera = forms.ChoiceField(required=False)
    level = forms.ChoiceField(required=False)
    min_score = forms.IntegerField(
        required=False, min_value=0, max_value=100, label="Min score", widget=forms.NumberInput(attrs={"size": 4})
    )
    label = forms.ChoiceField(required=False, label="Class")
    zone = forms.ChoiceField(required=False)
    since = forms.DateField(required=False, label="From", widget=forms.DateInput(attrs={"type": "date"}))
    until = forms.DateField(required=False, label="To", widget=forms.DateInput(attrs={"type": "date"}))
    reviewed = forms.ChoiceField(required=False, choices=REVIEWED_CHOICES, initial="unreviewed", label="Show")
    q = forms.CharField(
        required=False, max_length=200, label="Search", widget=forms.TextInput(attrs={"type": "search"})
    )
    at = forms.DateTimeField(
        required=False,
        label="Jump to",
        input_formats=["%Y-%m-%dT%H:%M", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M"],
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M"),
    )

    def __init__(self, data: Any, *, cameras: dict[str, str], choices: dict[str, list[str]]) -> None:
        super().__init__(data)
        _offer(self, "camera", _any(sorted(cameras.items(), key=lambda kv: kv[1].lower()), "all cameras"))
        _offer(self, "level", _any([(name, name) for name in choices["levels"]]))
        _offer(self, "label", _any([(name, name) for name in choices["classes"]]))
        _offer(self, "zone", _any([(name, name) for name in choices["zones"]]))
        self.is_valid()  # fills cleaned_data with what is valid, errors with the rest

    def value(self, name: str) -> Any:
        return self.cleaned_data.get(name) if name not in self.errors else None

    @staticmethod
    def _zone() -> ZoneInfo:
        return ZoneInfo(settings.TIME_ZONE)

    def _midnight(self, day: Any) -> datetime | None:
        return datetime.combine(day, time.min, tzinfo=self._zone()) if day else None

    def query(self) -> TimelineQuery:
        until = self.value("until")
        min_score = self.value("min_score")
        return TimelineQuery(
            camera=self.value("camera") or "",
            level=self.value("level") or "",
            min_score=min_score,
            label=self.value("label") or "",
            zone=self.value("zone") or "",
            since=self._midnight(self.value("since")),
            until=self._midnight(until + timedelta(days=1)) if until else None,
            reviewed=self.value("reviewed") or "unreviewed",
            search=(self.value("q") or "").strip(),
        )

    def jump(self) -> Cursor | None:
        """The page of events up to the moment "Jump to" names (in the household's time zone)."""
        at = self.value("at")
        if not at:
            return None
        return Cursor(at if at.tzinfo else at.replace(tzinfo=self._zone()), LAST_ID)

    def querystring(self) -> str:
        """The filters alone (no page position), for the pager, the bulk review's way back
        and the live rows."""
        pairs = [(name, self.data.get(name, "")) for name in FILTER_FIELDS if name not in self.errors]
        return urlencode([(name, value) for name, value in pairs if value not in ("", None)])


class ReviewForm(forms.Form):
    reviewed = forms.BooleanField(required=False)
    review_notes = forms.CharField(
        required=False, max_length=5000, label="Notes", widget=forms.Textarea(attrs={"rows": 3})
    )
    feedback = forms.ChoiceField(required=False, choices=_any(list(Event.Feedback.choices), "no feedback"))
    expected_level = forms.ChoiceField(required=False, label="Expected level")

    def __init__(self, *args: Any, levels: list[str], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        _offer(self, "expected_level", _any([(name, name) for name in levels], "—"))

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if data.get("feedback") == Event.Feedback.SEVERITY_WRONG:
            if not data.get("expected_level"):
                self.add_error("expected_level", "Say which level it should have been.")
        else:
            data["expected_level"] = ""
        return data


class BulkReviewForm(forms.Form):
    """Exactly the events named: the ticked ones ("selected"), or every event the page
    showed when it was rendered ("rendered", a list the server wrote into the page, so an
    event that arrived live afterwards is never in it)."""

    action = forms.ChoiceField(choices=[("selected", "selected"), ("rendered", "rendered")])
    ids = forms.CharField(required=False)
    rendered = forms.CharField(required=False)
    next = forms.CharField(required=False)

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if data.get("action") == "selected":
            raw = self.data.getlist("ids") if hasattr(self.data, "getlist") else [data.get("ids", "")]
        else:
            raw = str(data.get("rendered", "")).split(",")
        values = [value.strip() for value in raw if value.strip()]
        if not all(value.isdigit() for value in values):
            raise forms.ValidationError("Those are not event numbers.")
        if not values:
            raise forms.ValidationError("Select at least one event.")
        if len(values) > BULK_REVIEW_MAX:
            raise forms.ValidationError(f"At most {BULK_REVIEW_MAX} events at once.")
        data["event_ids"] = [int(value) for value in values]
        return data
