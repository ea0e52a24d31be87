"""The household's review of an event writes only the review, never the system's record."""

from __future__ import annotations

import pytest

from events.services import event_review
from tests.alerts.factory import assessed_event

pytestmark = pytest.mark.django_db


def test_only_review_fields_can_be_written_through_the_review():
    event = assessed_event(score=40)
    with pytest.raises(ValueError, match="not review fields: risk_score"):
        event_review(event=event, reviewed=True, risk_score=5)
    event.refresh_from_db()
    assert (event.reviewed, event.risk_score) == (False, 40)
