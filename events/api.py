"""Events in the API: the timeline's filters and query (events/selectors.py), the event
page's content, and the household's review, for phones and Home Assistant."""

from __future__ import annotations

from typing import Any

import django_filters
from django.db.models import QuerySet
from django.shortcuts import get_object_or_404
from drf_spectacular.utils import extend_schema, extend_schema_field, inline_serializer
from rest_framework import mixins, serializers, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.request import Request
from rest_framework.response import Response

from alerts.selectors import alert_checks_for_event
from detections.api import DetectionSerializer, link, media_url, picture_links
from detections.models import CLASSES
from events.assessment import assessment_request
from events.models import Event
from events.selectors import (
    EventPage,
    TimelineQuery,
    event_page,
    level_names,
    timeline_events,
    timeline_rows,
)
from events.services import BULK_REVIEW_MAX, REVIEW_FIELDS, event_review, events_mark_reviewed
from homesec.core.auth import IsAdminRoleOrReadOnly, IsMember
from homesec.core.filters import UtcIsoDateTimeFilter
from homesec.core.pagination import KeysetPagination, orderings

# --- Filters: parsed and checked by django-filter, applied by the timeline's one query ---


class EventFilter(django_filters.FilterSet):
    camera = django_filters.CharFilter(help_text="A camera id.")
    level = django_filters.CharFilter(help_text="A risk level from the severity table, e.g. high.")
    min_score = django_filters.NumberFilter(min_value=0, max_value=100)
    max_score = django_filters.NumberFilter(min_value=0, max_value=100)
    label = django_filters.ChoiceFilter(choices=[(c, c) for c in CLASSES], help_text="A class the event saw.")
    zone = django_filters.CharFilter(help_text="A zone name one of its detections stood in.")
    since = UtcIsoDateTimeFilter(help_text="Started at or after (ISO 8601).")
    until = UtcIsoDateTimeFilter(help_text="Started before (ISO 8601).")
    reviewed = django_filters.BooleanFilter()
    assessment = django_filters.ChoiceFilter(choices=Event.Assessment.choices)
    late = django_filters.BooleanFilter(help_text="Made from a backlog of uploads (never alerted).")

    class Meta:
        model = Event
        fields: list[str] = []

    def filter_queryset(self, queryset: QuerySet[Event]) -> QuerySet[Event]:
        data = self.form.cleaned_data
        reviewed = data.get("reviewed")
        level = data.get("level") or ""
        if level and level not in level_names():
            raise ValidationError({"level": f"One of: {', '.join(level_names())}."})
        query = TimelineQuery(
            camera=data.get("camera") or "",
            level=level,
            min_score=_int(data.get("min_score")),
            max_score=_int(data.get("max_score")),
            label=data.get("label") or "",
            zone=data.get("zone") or "",
            since=data.get("since"),
            until=data.get("until"),
            reviewed="all" if reviewed is None else ("reviewed" if reviewed else "unreviewed"),
            assessment=data.get("assessment") or "",
            late=data.get("late"),
        )
        return timeline_events(query, base=queryset)


def _int(value: Any) -> int | None:
    return None if value is None else int(value)


# --- What an event looks like -------------------------------------------------------------


class CameraRef(serializers.Serializer):
    id = serializers.CharField()
    name = serializers.CharField()


class EventListSerializer(serializers.ModelSerializer):
    camera = CameraRef()
    url = serializers.SerializerMethodField()
    picture = serializers.SerializerMethodField()

    class Meta:
        model = Event
        fields = [
            "id", "url", "camera", "status", "started_at", "ended_at", "captured_from", "captured_to",
            "detection_count", "classes", "zones", "max_confidence", "late",
            "assessment_state", "risk_score", "risk_level", "summary", "analyzer", "assessed_at",
            "reviewed", "reviewed_at", "feedback", "picture",
        ]  # fmt: skip

    def get_url(self, event: Event) -> str:
        return link(self.context["request"], "api-event-detail", event.pk)

    def get_picture(self, event: Event) -> dict[str, str] | None:
        """The event's best picture (the most confident detection's)."""
        return picture_links(self.context["request"], getattr(event, "best", None))


class EventDetailSerializer(EventListSerializer):
    previous = serializers.IntegerField(source="previous_id", allow_null=True)
    next = serializers.SerializerMethodField()
    detections = serializers.SerializerMethodField()
    clips = serializers.SerializerMethodField()
    alert_checks = serializers.SerializerMethodField()
    provenance = serializers.SerializerMethodField()
    risk_factors = serializers.SerializerMethodField()

    class Meta(EventListSerializer.Meta):
        fields = [
            *EventListSerializer.Meta.fields,
            "reasoning", "recommended_action", "risk_factors", "provenance", "assessment_seq", "close_reason",
            "review_notes", "expected_level", "chain_started_at", "previous", "next",
            "detections", "clips", "alert_checks",
        ]  # fmt: skip

    def _page(self) -> EventPage:
        page: EventPage = self.context["page"]
        return page

    def get_next(self, event: Event) -> int | None:
        following = self._page().next
        return following.pk if following else None

    @extend_schema_field(DetectionSerializer(many=True))
    def get_detections(self, event: Event) -> list[dict[str, Any]]:
        found = [d for shot in self._page().shots for d in shot.detections]
        return list(DetectionSerializer(found, many=True, context=self.context).data)

    def get_clips(self, event: Event) -> list[dict[str, Any]]:
        request = self.context["request"]
        return [
            {
                "ingest_id": ingest.pk,
                "url": media_url(request, "clip", ingest.pk),
                "original": media_url(request, "original", ingest.pk),
                "browser_copy": clip.transcode if clip else "",
            }
            for ingest, clip in self._page().clips
        ]

    def get_alert_checks(self, event: Event) -> list[dict[str, Any]]:
        return [
            {"seq": c.seq, "risk_score": c.risk_score, "risk_level": c.risk_level, "outcome": c.outcome,
             "decisions": c.decisions, "at": c.created_at}
            for c in alert_checks_for_event(event_id=event.pk)
        ]  # fmt: skip

    def get_risk_factors(self, event: Event) -> list[Any]:
        return list((event.provenance or {}).get("risk_factors") or [])

    def get_provenance(self, event: Event) -> dict[str, Any]:
        """Analyzer, model, prompt version, tokens, latency, fallback: what the assessment
        came from. The model's raw error text stays in the console (it may name hosts)."""
        shown = {k: v for k, v in (event.provenance or {}).items() if k not in ("risk_factors", "llm_error")}
        shown["analyzer"] = event.analyzer
        shown["fallback"] = event.assessment_state == Event.Assessment.FALLBACK
        return shown


class ReviewSerializer(serializers.Serializer):
    reviewed = serializers.BooleanField(required=False)
    review_notes = serializers.CharField(required=False, allow_blank=True, max_length=5000)
    feedback = serializers.ChoiceField(required=False, allow_blank=True, choices=Event.Feedback.choices)
    expected_level = serializers.CharField(required=False, allow_blank=True, max_length=20)

    def validate_expected_level(self, value: str) -> str:
        if value and value not in level_names():
            raise serializers.ValidationError(f"One of: {', '.join(level_names())}.")
        return value


class BulkReviewSerializer(serializers.Serializer):
    ids = serializers.ListField(child=serializers.IntegerField(min_value=1), min_length=1, max_length=BULK_REVIEW_MAX)


# --- The views --------------------------------------------------------------------------


def _event_id(raw: str) -> int:
    """The id in an event's URL. One that is not a number, or is longer than any id, is no
    event's: a 404 (int() would refuse it with a ValueError, a 500)."""
    if not (raw.isascii() and raw.isdigit()) or len(raw) > 18:
        raise NotFound("No such event.")
    return int(raw)


class EventViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """Events, newest first by default. Reading needs a signed-in member; reviewing too
    (viewers review); re-assessing is for admins."""

    queryset = Event.objects.select_related("camera").defer("reasoning", "recommended_action", "review_notes")
    serializer_class = EventListSerializer
    filterset_class = EventFilter
    pagination_class = KeysetPagination
    permission_classes = [IsMember]
    orderings = orderings("started_at", "risk_score", nulls={"risk_score": -1})

    def list(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        queryset = self.filter_queryset(self.get_queryset())
        page = self.paginate_queryset(queryset) or []
        for row in timeline_rows(page):  # each event's best picture: one query for the page
            row.event.best = row.best  # type: ignore[attr-defined]
        return self.get_paginated_response(self.get_serializer(page, many=True).data)

    @extend_schema(responses=EventDetailSerializer)
    def retrieve(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return Response(self._detail(_event_id(kwargs["pk"])))

    def _detail(self, pk: int) -> dict[str, Any]:
        page = event_page(event_id=pk)
        if page is None:
            raise NotFound("No such event.")
        context = {**self.get_serializer_context(), "page": page}
        return dict(EventDetailSerializer(page.event, context=context).data)

    @extend_schema(request=ReviewSerializer, responses=EventDetailSerializer)
    def partial_update(self, request: Request, pk: str) -> Response:
        """Review an event: reviewed, notes, feedback on the assessment, the level expected."""
        event = get_object_or_404(Event, pk=_event_id(pk))
        review = ReviewSerializer(data=request.data)
        review.is_valid(raise_exception=True)
        fields = {k: v for k, v in review.validated_data.items() if k in REVIEW_FIELDS}
        if fields:
            event_review(event=event, by=request.user, **fields)
        return Response(self._detail(event.pk))

    @extend_schema(
        request=BulkReviewSerializer,
        responses=inline_serializer("BulkReviewed", {"reviewed": serializers.IntegerField()}),
    )
    @action(detail=False, methods=["post"])
    def review(self, request: Request) -> Response:
        """Mark exactly these events reviewed (bulk triage): how many changed."""
        body = BulkReviewSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        return Response({"reviewed": events_mark_reviewed(event_ids=body.validated_data["ids"], user=request.user)})

    @extend_schema(request=None, responses={202: inline_serializer("Reassess", {"queued": serializers.BooleanField()})})
    @action(detail=True, methods=["post"], permission_classes=[IsAdminRoleOrReadOnly])
    def reassess(self, request: Request, pk: str) -> Response:
        """Assess the event again (admins); its live message says when the answer is in."""
        event = get_object_or_404(Event, pk=_event_id(pk))
        assessment_request(event_id=event.pk, alert=False)
        return Response({"queued": True}, status=202)
