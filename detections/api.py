"""Detections in the API, and the links to media by id that every answer uses (a path
on disk is never in an answer)."""

from __future__ import annotations

import django_filters
from django.db.models import QuerySet
from rest_framework import mixins, serializers, viewsets
from rest_framework.request import Request
from rest_framework.reverse import reverse

from detections.models import CLASSES, Detection
from events.selectors import zone_filter
from homesec.core.auth import IsMember
from homesec.core.filters import UtcIsoDateTimeFilter
from homesec.core.pagination import KeysetPagination, orderings

_PK = 987654321  # stands in for the id in a link reversed once per request


def link(request: Request, url_name: str, pk: int) -> str:
    """The absolute URL of `url_name` for this id. Reversed once per request and name: a page
    of 50 events has 150 links, and reverse() with the host each time was a fifth of the
    list's time (bench/api)."""
    links: dict[str, str] = request.__dict__.setdefault("_homesec_links", {})
    if url_name not in links:
        links[url_name] = reverse(url_name, args=[_PK], request=request).replace(str(_PK), "{}")
    return links[url_name].format(pk)


def media_url(request: Request, name: str, pk: int) -> str:
    return link(request, f"api-media-{name}", pk)


def picture_links(request: Request, detection: Detection | None) -> dict[str, str] | None:
    """The links of a detection's picture: the clean preview (draw `box` over it), and the
    thumbnail with the boxes drawn in. Never a path."""
    if detection is None:
        return None
    picture = {}
    if detection.preview:
        picture["preview"] = media_url(request, "preview", detection.pk)
    if detection.thumbnail:
        picture["thumbnail"] = media_url(request, "thumbnail", detection.pk)
    return picture or None


class DetectionSerializer(serializers.ModelSerializer):
    box = serializers.SerializerMethodField()
    picture = serializers.SerializerMethodField()
    original = serializers.SerializerMethodField()

    class Meta:
        model = Detection
        fields = [
            "id", "camera_id", "ingest_id", "captured_at", "label", "confidence", "box", "frame_offset_s",
            "zones", "zone_kinds", "picture", "original",
        ]  # fmt: skip

    def get_box(self, detection: Detection) -> dict[str, int]:
        """In the frame's pixels: x, y from the top left, and the frame's size."""
        return {
            "x": detection.x, "y": detection.y, "width": detection.width, "height": detection.height,
            "frame_width": detection.frame_width, "frame_height": detection.frame_height,
        }  # fmt: skip

    def get_picture(self, detection: Detection) -> dict[str, str] | None:
        return picture_links(self.context["request"], detection)

    def get_original(self, detection: Detection) -> str:
        return media_url(self.context["request"], "original", detection.ingest_id)


class DetectionFilter(django_filters.FilterSet):
    camera = django_filters.CharFilter(field_name="camera_id")
    label = django_filters.ChoiceFilter(choices=[(c, c) for c in CLASSES])
    min_confidence = django_filters.NumberFilter(field_name="confidence", lookup_expr="gte")
    zone = django_filters.CharFilter(method="in_zone")
    event = django_filters.NumberFilter(field_name="events")
    since = UtcIsoDateTimeFilter(field_name="captured_at", lookup_expr="gte")
    until = UtcIsoDateTimeFilter(field_name="captured_at", lookup_expr="lt")

    class Meta:
        model = Detection
        fields: list[str] = []

    def in_zone(self, queryset: QuerySet[Detection], name: str, value: str) -> QuerySet[Detection]:
        return queryset.filter(zone_filter(value))


class DetectionViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """Every object the detector found, newest capture first."""

    queryset = Detection.objects.all()
    serializer_class = DetectionSerializer
    filterset_class = DetectionFilter
    pagination_class = KeysetPagination
    permission_classes = [IsMember]
    orderings = orderings("captured_at")
