"""The API's resources under /api/: one router for the viewsets of every app."""

from django.urls import include, path
from rest_framework.routers import DefaultRouter

from alerts.api import AlertViewSet, ChannelViewSet, HouseholdView, RuleViewSet
from cameras.api import CameraViewSet, ZoneViewSet
from detections.api import DetectionViewSet
from events.api import EventViewSet
from events.api_export import EventExportView
from events.api_search import EventSearchView
from monitoring.api import system_gpu, system_health, system_stats

router = DefaultRouter(trailing_slash=True)
router.register("cameras", CameraViewSet, basename="api-camera")
router.register("events", EventViewSet, basename="api-event")
router.register("detections", DetectionViewSet, basename="api-detection")
router.register("alerts", AlertViewSet, basename="api-alert")
router.register("rules", RuleViewSet, basename="api-rule")
router.register("channels", ChannelViewSet, basename="api-channel")

zones = ZoneViewSet.as_view({"get": "list", "post": "create"})
zone = ZoneViewSet.as_view({"get": "retrieve", "put": "update", "patch": "partial_update", "delete": "destroy"})

urlpatterns = [
    path("", include("detections.api_urls")),
    path("cameras/<slug:camera_pk>/zones/", zones, name="api-zone-list"),
    path("cameras/<slug:camera_pk>/zones/<int:pk>/", zone, name="api-zone-detail"),
    # Before the router's events/<pk>/, which would take "search" for an id.
    path("events/search/", EventSearchView.as_view(), name="api-event-search"),
    path("events/export/", EventExportView.as_view(), name="api-event-export"),
    path("household/", HouseholdView.as_view(), name="api-household"),
    path("system/health/", system_health, name="api-system-health"),
    path("system/stats/", system_stats, name="api-system-stats"),
    path("system/gpu/", system_gpu, name="api-system-gpu"),
    path("", include(router.urls)),
]
