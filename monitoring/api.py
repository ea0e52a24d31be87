"""The system's state in the API: readiness and the numbers an operator watches."""

from __future__ import annotations

from typing import Any

from django.utils import timezone
from drf_spectacular.utils import OpenApiTypes, extend_schema
from rest_framework.decorators import api_view, permission_classes
from rest_framework.request import Request
from rest_framework.response import Response

from homesec.core.auth import IsMember
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
    durable rows per stage), dead letters, breaker states and free disk."""
    report: dict[str, Any] = {
        "at": timezone.now(),
        "counts": system_counts(),
        "queues": queue_depths(),
        "dead_letters": dead_letter_count(),
        "breakers": [{k: v for k, v in b.items() if k != "state_label"} for b in breaker_list()],
        "disk": disk_state(),
    }
    return Response(report)
