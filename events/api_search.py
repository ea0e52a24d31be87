"""Full-text search of events in the API (events/search.py does the searching)."""

from __future__ import annotations

from drf_spectacular.utils import OpenApiParameter, extend_schema, inline_serializer
from rest_framework.exceptions import ValidationError
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from events.api import EventFilter, EventListSerializer
from events.api_export import events_filtered
from events.search import event_search
from events.selectors import timeline_rows
from homesec.core.auth import IsMember
from homesec.core.throttling import ClientUserRateThrottle, SearchThrottle


class EventSearchView(APIView):
    """Full-text search over summaries, reasoning, notes, camera and class names, best
    match first among the newest 2000 matches (a word in most events finds recent ones).
    `q` takes words (all must match), "quoted phrases", OR, and -word to leave out; the
    list's filters narrow it before the cut."""

    permission_classes = [IsMember]
    throttle_classes = [ClientUserRateThrottle, SearchThrottle]  # the default limit, and this one
    filterset_class = EventFilter

    @extend_schema(
        parameters=[
            OpenApiParameter("q", str, required=True, description='Words, "a phrase", OR, -word.'),
            OpenApiParameter("limit", int, description="At most this many (1-200, default 50)."),
        ],
        responses=inline_serializer("EventSearch", {"results": EventListSerializer(many=True)}),
    )
    def get(self, request: Request) -> Response:
        q = request.query_params.get("q", "")
        limit = request.query_params.get("limit", "50")
        if not (limit.isascii() and limit.isdigit() and len(limit) <= 3) or not 1 <= int(limit) <= 200:
            raise ValidationError({"limit": "A whole number from 1 to 200."})
        try:
            found = event_search(q=q, events=events_filtered(request).select_related("camera"), limit=int(limit))
        except ValueError as exc:
            raise ValidationError({"q": str(exc)}) from exc
        events = list(found)
        for row in timeline_rows(events):
            row.event.best = row.best  # type: ignore[attr-defined]
        data = EventListSerializer(events, many=True, context={"request": request}).data
        return Response({"results": data})
