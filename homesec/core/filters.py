"""django-filter pieces the API's lists share."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import django_filters
from django.core.exceptions import ValidationError
from django_filters.fields import IsoDateTimeField


class UtcIsoDateTimeField(IsoDateTimeField):
    """An ISO 8601 time, in UTC. Python takes UTC offsets under 24 hours, PostgreSQL only
    under 16: a time given as `...-22:12` reached the query as it came and the database
    refused it (a 500). In UTC it is the same instant; one that Python cannot hold in UTC
    (1 January of year 1 at +05:00) is not a valid time."""

    def to_python(self, value: Any) -> datetime | None:
        parsed: datetime | None = super().to_python(value)
        if parsed is None:
            return None
        try:
            return parsed.astimezone(UTC)
        except OverflowError:
            raise ValidationError(self.error_messages["invalid"], code="invalid") from None


class UtcIsoDateTimeFilter(django_filters.IsoDateTimeFilter):
    field_class = UtcIsoDateTimeField
