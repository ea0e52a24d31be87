"""Events: what one camera saw, grouped. One open event per camera, guaranteed by the database."""

from __future__ import annotations

from django.db import models
from django.db.models import Q

from cameras.models import Camera
from detections.models import Detection


class Event(models.Model):
    class Status(models.TextChoices):
        OPEN = "open"
        CLOSED = "closed"

    class CloseReason(models.TextChoices):
        WINDOW = "window", "window elapsed"
        IDLE = "idle", "no new detections"
        FULL = "full", "detection limit reached"

    camera = models.ForeignKey(Camera, on_delete=models.CASCADE, related_name="events")
    status = models.CharField(max_length=6, choices=Status.choices, default=Status.OPEN, db_index=True)
    close_reason = models.CharField(max_length=6, choices=CloseReason.choices, blank=True)
    # Grouping runs on arrival time; capture times are kept to show.
    started_at = models.DateTimeField(db_index=True)
    last_detection_at = models.DateTimeField()
    ended_at = models.DateTimeField(null=True, blank=True)
    captured_from = models.DateTimeField(null=True, blank=True)
    captured_to = models.DateTimeField(null=True, blank=True)
    detections = models.ManyToManyField(Detection, related_name="events", blank=True)
    detection_count = models.PositiveIntegerField(default=0)
    classes = models.JSONField(default=dict, blank=True, help_text="Detections per class.")
    max_confidence = models.FloatField(default=0.0)
    zones = models.JSONField(default=list, blank=True)
    previous = models.OneToOneField(
        "self",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="continuation",
        help_text="The event this one continues (activity longer than the window).",
    )
    chain_started_at = models.DateTimeField(help_text="When the activity began, across continuations.")
    late = models.BooleanField(default=False, help_text="Made from a backlog: shown, never alerted.")

    class Meta:
        ordering = ["-started_at"]
        constraints = [
            models.UniqueConstraint(fields=["camera"], condition=Q(status="open"), name="event_one_open_per_camera")
        ]

    def __str__(self) -> str:
        return f"event {self.pk} on {self.camera_id} ({self.status})"
