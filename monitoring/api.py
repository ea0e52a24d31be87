"""The system's state in the API: readiness and the numbers an operator watches."""

from __future__ import annotations

from typing import Any

from django.utils import timezone
from drf_spectacular.utils import OpenApiTypes, extend_schema
from rest_framework import serializers
from rest_framework.decorators import api_view, permission_classes
from rest_framework.request import Request
from rest_framework.response import Response

from homesec.core.auth import IsMember
from monitoring.gpu import gpu_status
from monitoring.metrics import stage_latency_percentiles
from monitoring.selectors import breaker_list, dead_letter_count, disk_state, queue_depths, readiness, system_counts


@extend_schema(responses={200: OpenApiTypes.OBJECT, 503: OpenApiTypes.OBJECT})
@api_view(["GET"])
@permission_classes([IsMember])
def system_health(request: Request) -> Response:
    """Readiness as /ready gives it, with every check's detail: 503 when not ready."""
    report = readiness()
    return Response(report, status=200 if report["ready"] else 503)


@extend_schema(responses=OpenApiTypes.OBJECT)
@api_view(["GET"])
@permission_classes([IsMember])
def system_stats(request: Request) -> Response:
    """Counts (cameras, events and detections today, open alerts), queue depths (pending
    durable rows per stage), dead letters, breaker states, free disk, and per stage of the
    pipeline the p50/p95 seconds from an upload's arrival (from the /metrics histogram)."""
    report: dict[str, Any] = {
        "at": timezone.now(),
        "counts": system_counts(),
        "queues": queue_depths(),
        "dead_letters": dead_letter_count(),
        "breakers": [{k: v for k, v in b.items() if k != "state_label"} for b in breaker_list()],
        "disk": disk_state(),
        "latency": stage_latency_percentiles(),
    }
    return Response(report)


# --- GPU ------------------------------------------------------------------------------------


class GpuDeviceSerializer(serializers.Serializer):
    """A device's newest reading; null where the device does not report it."""

    index = serializers.IntegerField()
    name = serializers.CharField()
    sampled_at = serializers.DateTimeField()
    age_s = serializers.FloatField()
    stale = serializers.BooleanField(help_text="The sampler has not read it lately: is the watcher running?")
    utilization_pct = serializers.FloatField(allow_null=True)
    memory_used_bytes = serializers.IntegerField(allow_null=True)
    memory_total_bytes = serializers.IntegerField(allow_null=True)
    temperature_c = serializers.FloatField(allow_null=True)
    power_w = serializers.FloatField(allow_null=True)
    power_limit_w = serializers.FloatField(allow_null=True)
    encoder_pct = serializers.FloatField(allow_null=True)
    decoder_pct = serializers.FloatField(allow_null=True)


def _series() -> serializers.ListField:
    return serializers.ListField(child=serializers.FloatField(allow_null=True), help_text="One value per bucket of t.")


class GpuDeviceHistorySerializer(serializers.Serializer):
    index = serializers.IntegerField()
    name = serializers.CharField()
    utilization_pct = _series()
    memory_used_bytes = _series()
    temperature_c = _series()
    power_w = _series()
    power_limit_w = _series()
    encoder_pct = _series()
    decoder_pct = _series()


class GpuHistorySerializer(serializers.Serializer):
    bucket_s = serializers.IntegerField()
    t = serializers.ListField(child=serializers.IntegerField(), help_text="Bucket starts (Unix seconds), oldest first.")
    devices = GpuDeviceHistorySerializer(many=True)


class GpuStatusSerializer(serializers.Serializer):
    state = serializers.ChoiceField(
        choices=["ok", "no_gpu", "unknown"],
        help_text="ok: GPUs are read; no_gpu: none (reason says why); unknown: not looked at yet.",
    )
    reason = serializers.CharField(allow_blank=True)
    checked_at = serializers.DateTimeField(allow_null=True)
    sample_interval_s = serializers.FloatField()
    devices = GpuDeviceSerializer(many=True)
    history = GpuHistorySerializer()


@extend_schema(responses=GpuStatusSerializer)
@api_view(["GET"])
@permission_classes([IsMember])
def system_gpu(request: Request) -> Response:
    """The GPUs read by the watcher: each device's newest reading and the last 24 hours in
    5-minute averages, or "no GPU" with the reason (no library, no driver, no device, off)."""
    return Response(GpuStatusSerializer(gpu_status()).data)
