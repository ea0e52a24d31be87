"""Reads of cameras for the other apps, the pages and the API."""

from __future__ import annotations

from django.db.models import QuerySet

from cameras.models import Camera


def camera_names() -> dict[str, str]:
    """Every camera's name by its id."""
    return dict(Camera.objects.values_list("pk", "name"))


def cameras_offline_watched() -> QuerySet[Camera]:
    """Cameras that are offline and have an offline limit (so an outage is worth an alert)."""
    return Camera.objects.filter(status=Camera.Status.OFFLINE, offline_after_min__isnull=False)
