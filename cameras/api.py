"""Cameras and their zones in the API: members read; admins add cameras, change their
settings and draw zones, through the same services as the pages. Snoozing a camera's
notifications is for every member."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.shortcuts import get_object_or_404
from django.utils import timezone
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import NotFound
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.reverse import reverse

from alerts.selectors import camera_snooze_ends, camera_snoozed_until
from alerts.services import SNOOZE_MAX, camera_snooze, camera_unsnooze
from cameras.models import Camera, Zone
from cameras.selectors import camera_list_with_counts
from cameras.services import (
    camera_create,
    camera_ftp_account_issue,
    camera_settings_save,
    zone_delete,
    zone_save,
)
from homesec.core.auth import IsMember


def _today_start() -> Any:
    return timezone.localtime().replace(hour=0, minute=0, second=0, microsecond=0)


class CameraSerializer(serializers.ModelSerializer):
    latest_image = serializers.SerializerMethodField()
    events_today = serializers.IntegerField(source="events_count", read_only=True)
    detections_today = serializers.IntegerField(source="detections_count", read_only=True)
    snoozed_until = serializers.SerializerMethodField()

    class Meta:
        model = Camera
        fields = [
            "id", "name", "folder", "enabled", "status", "status_reason", "last_seen_at", "time_zone",
            "offline_after_min", "filters", "created_at", "latest_image", "events_today", "detections_today",
            "snoozed_until",
        ]  # fmt: skip
        read_only_fields = ["id", "folder", "status", "status_reason", "last_seen_at", "created_at"]

    def get_latest_image(self, camera: Camera) -> str:
        return reverse("api-camera-latest", args=[camera.pk], request=self.context["request"])

    def get_snoozed_until(self, camera: Camera) -> Any:
        snoozes: dict[str, Any] = self.context.get("snoozes", {})
        return snoozes.get(camera.pk)


class CameraCreateSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=100)
    ftp_account = serializers.BooleanField(default=False, help_text="Make an FTP account (its password shown once).")


class ZoneSerializer(serializers.ModelSerializer):
    polygon = serializers.ListField(
        child=serializers.ListField(child=serializers.FloatField(min_value=0, max_value=1), min_length=2, max_length=2),
        min_length=3,
        help_text="Points [[x, y], ...] in 0-1 coordinates of the frame.",
    )

    class Meta:
        model = Zone
        fields = ["id", "name", "kind", "polygon", "enabled"]


class SnoozeSerializer(serializers.Serializer):
    minutes = serializers.IntegerField(required=False, min_value=1, max_value=SNOOZE_MAX.days * 24 * 60)
    until = serializers.DateTimeField(required=False)

    def validate(self, data: dict[str, Any]) -> dict[str, Any]:
        if ("minutes" in data) == ("until" in data):
            raise serializers.ValidationError("Give minutes or until, one of them.")
        return data


Snoozed = inline_serializer("Snoozed", {"camera": serializers.CharField(), "until": serializers.DateTimeField()})


class CameraViewSet(
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.CreateModelMixin,
    mixins.UpdateModelMixin,
    viewsets.GenericViewSet,
):
    """Cameras with their status and today's counts (since midnight, the household's time)."""

    queryset = Camera.objects.none()  # the schema's model; the rows come from the selector
    serializer_class = CameraSerializer
    pagination_class = None  # a household has a handful

    def get_queryset(self) -> Any:
        return camera_list_with_counts(since=_today_start())

    def get_object(self) -> Camera:
        for camera in self.get_queryset():
            if camera.pk == self.kwargs["pk"]:
                return camera
        raise NotFound("No such camera.")

    def get_serializer_context(self) -> dict[str, Any]:
        return {**super().get_serializer_context(), "snoozes": camera_snooze_ends(now=timezone.now())}

    @extend_schema(request=CameraCreateSerializer, responses={201: CameraSerializer})
    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        """Add a camera: its folder is made under the camera root. With `ftp_account`, the
        answer carries the FTP user name and password, shown this once."""
        body = CameraCreateSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        camera = camera_create(name=body.validated_data["name"])
        self.kwargs["pk"] = camera.pk
        data = dict(self.get_serializer(self.get_object()).data)
        if body.validated_data["ftp_account"]:
            account, password = camera_ftp_account_issue(camera=camera)
            data["ftp"] = {"username": account.username, "password": password}
        return Response(data, status=status.HTTP_201_CREATED)

    def update(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        """Name, enabled, time zone, offline limit, per-class filters (a PUT gives them all)."""
        camera = self.get_object()
        body = self.get_serializer(camera, data=request.data, partial=kwargs.get("partial", False))
        body.is_valid(raise_exception=True)
        given = body.validated_data
        camera_settings_save(
            camera=camera,
            name=given.get("name", camera.name),
            enabled=given.get("enabled", camera.enabled),
            time_zone=given.get("time_zone", camera.time_zone),
            offline_after_min=given.get("offline_after_min", camera.offline_after_min),
            filters=given.get("filters", camera.filters),
        )
        return Response(self.get_serializer(self.get_object()).data)

    @extend_schema(methods=["POST"], request=SnoozeSerializer, responses=Snoozed)
    @extend_schema(methods=["DELETE"], request=None, responses={204: None})
    @action(detail=True, methods=["post", "delete"], permission_classes=[IsMember])
    def snooze(self, request: Request, pk: str) -> Response:
        """Hold back the camera's event notifications for everyone, for `minutes` or `until`
        a time (alerts are still raised and listed); DELETE lets them out again."""
        camera = get_object_or_404(Camera, pk=pk)
        if request.method == "DELETE":
            camera_unsnooze(camera=camera, user=request.user)  # type: ignore[arg-type]
            return Response(status=status.HTTP_204_NO_CONTENT)
        body = SnoozeSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        now = timezone.now()
        until = body.validated_data.get("until") or now + timedelta(minutes=body.validated_data["minutes"])
        camera_snooze(camera=camera, until=until, user=request.user, now=now)  # type: ignore[arg-type]
        return Response({"camera": camera.pk, "until": camera_snoozed_until(camera_id=camera.pk, now=now)})


class ZoneViewSet(viewsets.ModelViewSet):
    """A camera's zones (`/api/cameras/{camera_id}/zones/`): members read, admins draw."""

    queryset = Zone.objects.none()  # the schema's model
    serializer_class = ZoneSerializer
    pagination_class = None

    def _camera(self) -> Camera:
        return get_object_or_404(Camera, pk=self.kwargs["camera_pk"])

    def get_queryset(self) -> Any:
        if getattr(self, "swagger_fake_view", False):
            return Zone.objects.none()
        return Zone.objects.filter(camera=self._camera()).order_by("name")

    def _save(self, zone: Zone | None, body: serializers.BaseSerializer) -> Zone:
        given = body.validated_data
        return zone_save(
            camera=self._camera(),
            zone=zone,
            name=given.get("name", zone.name if zone else ""),
            kind=given.get("kind", zone.kind if zone else Zone.Kind.OTHER),
            polygon=given.get("polygon", zone.polygon if zone else []),
            enabled=given.get("enabled", zone.enabled if zone else True),
        )

    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        body = self.get_serializer(data=request.data)
        body.is_valid(raise_exception=True)
        return Response(self.get_serializer(self._save(None, body)).data, status=status.HTTP_201_CREATED)

    def update(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        zone = self.get_object()
        body = self.get_serializer(zone, data=request.data, partial=kwargs.get("partial", False))
        body.is_valid(raise_exception=True)
        return Response(self.get_serializer(self._save(zone, body)).data)

    def perform_destroy(self, instance: Zone) -> None:
        zone_delete(zone=instance)
