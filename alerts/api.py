"""Alerts, the household's mode, alert rules and channels in the API. Members list alerts,
acknowledge and dismiss them and set the mode; admins configure rules and channels. A
channel's secret is write-only: answers say whether one is set, never what it is."""

from __future__ import annotations

from typing import Any

import django_filters
from django.db import models
from django.db.models import QuerySet
from django.shortcuts import get_object_or_404
from django.utils import timezone
from drf_spectacular.utils import extend_schema, extend_schema_field, inline_serializer
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.generics import GenericAPIView
from rest_framework.request import Request
from rest_framework.response import Response

from alerts.delivery import channel_problems, channel_send_test
from alerts.models import Alert, AlertRule, Channel, Mode, Notification
from alerts.selectors import ALERT_OPEN_STATES, _with_delivery, household_mode
from alerts.services import (
    alert_acknowledge,
    alert_dismiss,
    alert_rule_save,
    alert_rules_delete,
    alerts_handle,
    channel_save,
    channels_delete,
    household_set_mode,
)
from homesec.core.auth import IsAdminRole, IsAdminRoleOrReadOnly, IsMember
from homesec.core.filters import UtcIsoDateTimeFilter
from homesec.core.pagination import KeysetPagination, orderings

# --- Alerts ------------------------------------------------------------------------------------


class AlertFilter(django_filters.FilterSet):
    state = django_filters.ChoiceFilter(
        choices=[("open", "open (not acknowledged or dismissed)"), *Alert.State.choices], method="by_state"
    )
    kind = django_filters.ChoiceFilter(choices=Alert.Kind.choices)
    camera = django_filters.CharFilter(field_name="camera_id")
    event = django_filters.NumberFilter(field_name="event_id")
    level = django_filters.CharFilter()
    since = UtcIsoDateTimeFilter(field_name="created_at", lookup_expr="gte")
    until = UtcIsoDateTimeFilter(field_name="created_at", lookup_expr="lt")

    class Meta:
        model = Alert
        fields: list[str] = []

    def by_state(self, queryset: QuerySet[Alert], name: str, value: str) -> QuerySet[Alert]:
        return queryset.filter(state__in=ALERT_OPEN_STATES) if value == "open" else queryset.filter(state=value)


class NotificationSerializer(serializers.ModelSerializer):
    channel = serializers.CharField(source="channel.name")
    kind = serializers.CharField(source="channel.kind")
    attempts_log = serializers.SerializerMethodField()

    class Meta:
        model = Notification
        fields = ["id", "channel", "kind", "round", "status", "attempts", "error", "delivered_at", "attempts_log"]

    def get_attempts_log(self, notification: Notification) -> list[dict[str, Any]]:
        return [
            {"number": a.number, "ok": a.ok, "error": a.error, "status_code": a.status_code, "at": a.at}
            for a in notification.attempt_log.all()
        ]


class AlertSerializer(serializers.ModelSerializer):
    notifications = NotificationSerializer(many=True, read_only=True)
    handled_by = serializers.CharField(source="handled_by.get_username", default=None, read_only=True, allow_null=True)

    class Meta:
        model = Alert
        fields = [
            "id", "kind", "event_id", "camera_id", "rule_name", "severity", "level", "risk_score", "title", "state",
            "state_reason", "matched", "escalation", "renotify_count", "created_at", "delivered_at",
            "acknowledged_at", "dismissed_at", "handled_by", "notifications",
        ]  # fmt: skip


class HandleSerializer(serializers.Serializer):
    ids = serializers.ListField(child=serializers.IntegerField(min_value=1), min_length=1, max_length=500)
    action = serializers.ChoiceField(choices=["acknowledge", "dismiss"])


Handled = inline_serializer("Handled", {"handled": serializers.IntegerField()})


class AlertViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """Alerts, newest first, with each channel's delivery and its attempts. Every member
    acknowledges or dismisses (no more reminders)."""

    queryset = _with_delivery(Alert.objects.all())
    serializer_class = AlertSerializer
    filterset_class = AlertFilter
    pagination_class = KeysetPagination
    permission_classes = [IsMember]
    orderings = orderings("created_at")

    def _close(self, request: Request, close: Any) -> Response:
        alert = self.get_object()
        close(alert=alert, user=request.user, now=timezone.now())
        return Response(self.get_serializer(self.get_queryset().get(pk=alert.pk)).data)

    @extend_schema(request=None)
    @action(detail=True, methods=["post"])
    def acknowledge(self, request: Request, pk: str) -> Response:
        return self._close(request, alert_acknowledge)

    @extend_schema(request=None)
    @action(detail=True, methods=["post"])
    def dismiss(self, request: Request, pk: str) -> Response:
        return self._close(request, alert_dismiss)

    @extend_schema(request=HandleSerializer, responses=Handled)
    @action(detail=False, methods=["post"])
    def handle(self, request: Request) -> Response:
        """Acknowledge or dismiss several alerts: how many were still open and now are not."""
        body = HandleSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        given = body.validated_data
        count = alerts_handle(alert_ids=given["ids"], action=given["action"], user=request.user)  # type: ignore[arg-type]
        return Response({"handled": count})


# --- The household's mode ------------------------------------------------------------------


class ModeSerializer(serializers.Serializer):
    mode = serializers.ChoiceField(choices=Mode.choices)


class HouseholdView(GenericAPIView):
    """The household's mode now (home, away, night), whether set by hand or by the schedule;
    any member switches it (it holds until the schedule's next switch)."""

    permission_classes = [IsMember]
    serializer_class = ModeSerializer

    def _answer(self) -> Response:
        now = household_mode(now=timezone.now())
        return Response({"mode": now.mode, "source": now.source})

    @extend_schema(
        responses=inline_serializer(
            "Household",
            {"mode": serializers.CharField(), "source": serializers.CharField(help_text="By hand, or the schedule.")},
        )
    )
    def get(self, request: Request) -> Response:
        return self._answer()

    @extend_schema(request=ModeSerializer)
    def patch(self, request: Request) -> Response:
        body = ModeSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        household_set_mode(mode=body.validated_data["mode"], user=request.user)  # type: ignore[arg-type]
        return self._answer()


# --- Rules and channels (admins) --------------------------------------------------------------


class RelatedIdField(serializers.PrimaryKeyRelatedField):
    """A related row by its id. A camera's id is text, and one with a NUL in it names no
    camera: PostgreSQL refuses NUL in text, so looking it up would fail, not find nothing."""

    def to_internal_value(self, data: Any) -> Any:
        if isinstance(data, str) and "\x00" in data:
            self.fail("does_not_exist", pk_value=data)
        return super().to_internal_value(data)


@extend_schema_field(
    {"type": "string", "pattern": "^[0-9]{2}:[0-9]{2}(:[0-9]{2}(\\.[0-9]{1,6})?)?$", "example": "22:00:00"}
)
class LocalTimeField(serializers.TimeField):
    """A time of day on the camera's clock, "22:00:00": no UTC offset, so not OpenAPI's
    `format: time`, which is RFC 3339's and has one."""


class RuleSerializer(serializers.ModelSerializer):
    serializer_related_field = RelatedIdField  # cameras, zones, channels
    serializer_field_mapping = {
        **serializers.ModelSerializer.serializer_field_mapping,
        models.TimeField: LocalTimeField,
    }

    class Meta:
        model = AlertRule
        exclude = ["managed"]
        read_only_fields = ["is_default", "created_at", "updated_at"]


class SavedByService(viewsets.ModelViewSet):
    """A viewset whose creates and updates go through `_save` (a service), not serializer.save()."""

    def perform_create(self, serializer: serializers.BaseSerializer) -> None:
        self._save(serializer)

    def perform_update(self, serializer: serializers.BaseSerializer) -> None:
        self._save(serializer)

    def _save(self, serializer: serializers.BaseSerializer) -> None:
        raise NotImplementedError


class RuleViewSet(SavedByService):
    """Alert rules: members read them, admins change them (the console's rules, the same
    checks)."""

    queryset = AlertRule.objects.prefetch_related("cameras", "zones", "channels").order_by("name")
    serializer_class = RuleSerializer
    permission_classes = [IsAdminRoleOrReadOnly]
    pagination_class = None

    def _save(self, serializer: serializers.BaseSerializer) -> None:
        given = dict(serializer.validated_data)
        many = {name: given.pop(name) for name in ("cameras", "zones", "channels") if name in given}
        rule = serializer.instance or AlertRule()
        for name, value in given.items():
            setattr(rule, name, value)
        rule.full_clean(exclude=["cameras", "zones", "channels"])
        alert_rule_save(rule=rule, edited=serializer.instance is not None)
        for name, value in many.items():
            getattr(rule, name).set(value)
        serializer.instance = rule

    def perform_destroy(self, instance: AlertRule) -> None:
        alert_rules_delete(rules=[instance])


class ChannelSerializer(serializers.ModelSerializer):
    secret = serializers.CharField(
        write_only=True, required=False, allow_blank=True, help_text="Write-only; empty keeps the stored one."
    )
    clear_secret = serializers.BooleanField(write_only=True, required=False, default=False)
    has_secret = serializers.BooleanField(read_only=True)

    class Meta:
        model = Channel
        fields = [
            "id", "name", "kind", "config", "enabled", "disabled_reason", "owner", "from_environment",
            "last_success_at", "last_error", "last_error_at", "created_at", "secret", "clear_secret", "has_secret",
        ]  # fmt: skip
        read_only_fields = ["disabled_reason", "from_environment", "last_success_at", "last_error", "last_error_at"]

    def validate(self, data: dict[str, Any]) -> dict[str, Any]:
        """The transport's own checks of the config and secret, as the console makes them."""
        stored = self.instance.secrets.get("secret", "") if self.instance else ""
        secret = "" if data.get("clear_secret") else data.get("secret") or stored
        kind = data.get("kind") or (self.instance.kind if self.instance else "")
        config = data.get("config", self.instance.config if self.instance else {})
        if not isinstance(config, dict):
            raise serializers.ValidationError({"config": "An object of settings."})
        owner = data.get("owner", self.instance.owner if self.instance else None)
        problems = channel_problems(kind=kind, config=config, owner=owner, secret=secret)
        if problems:
            raise serializers.ValidationError({"config": problems})
        return data


class ChannelViewSet(SavedByService):
    """Where notifications go. Admins only: a channel's config names addresses and hosts."""

    queryset = Channel.objects.order_by("name")
    serializer_class = ChannelSerializer
    permission_classes = [IsAdminRole]
    pagination_class = None

    def _save(self, serializer: serializers.BaseSerializer) -> None:
        given = dict(serializer.validated_data)
        secret, clear = given.pop("secret", ""), given.pop("clear_secret", False)
        channel = serializer.instance or Channel()
        for name, value in given.items():
            setattr(channel, name, value)
        serializer.instance = channel_save(channel=channel, new_secret=secret, clear_secret=clear)

    def perform_destroy(self, instance: Channel) -> None:
        channels_delete(channels=[instance])

    @extend_schema(
        request=None,
        responses=inline_serializer(
            "ChannelTest", {"status": serializers.CharField(), "error": serializers.CharField()}
        ),
    )
    @action(detail=True, methods=["post"])
    def test(self, request: Request, pk: str) -> Response:
        """Send a test notification now (one attempt, recorded like any other)."""
        channel = get_object_or_404(self.get_queryset(), pk=pk)
        sent = channel_send_test(channel=channel)
        return Response({"status": sent.status, "error": sent.error}, status=status.HTTP_200_OK)
