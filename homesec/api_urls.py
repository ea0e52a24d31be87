"""The API's resources under /api/: one router for the viewsets of every app."""

from django.urls import include, path
from rest_framework.routers import DefaultRouter

router = DefaultRouter(trailing_slash=True)

urlpatterns = [
    path("", include("detections.api_urls")),
    path("", include(router.urls)),
]
