"""The detection stage: one DetectionRun per ingest (its durable state), Detection rows for
every kept object, and Clip rows for videos (duration, codec, browser-playable copy)."""

from __future__ import annotations

from django.db import models

from cameras.models import Camera, Ingest

CLASSES = ("person", "car", "truck", "bus", "motorcycle", "bicycle", "dog", "cat", "bird")


class DetectionRun(models.Model):
    class Status(models.TextChoices):
        PENDING = "pending"
        RUNNING = "running"
        DONE = "done"
        FAILED = "failed"
        SKIPPED = "skipped"

    ingest = models.OneToOneField(Ingest, on_delete=models.CASCADE, related_name="detection_run")
    status = models.CharField(max_length=8, choices=Status.choices, default=Status.PENDING, db_index=True)
    attempts = models.PositiveSmallIntegerField(default=0, help_text="Tries that failed or ran; deferrals don't count.")
    deferrals = models.PositiveIntegerField(default=0, help_text="Times it waited for the detector to come back.")
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    queued_at = models.DateTimeField()
    claimed_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    error = models.CharField(max_length=500, blank=True)
    backend = models.CharField(max_length=20, blank=True)
    frames = models.PositiveSmallIntegerField(default=0)
    inference_ms = models.FloatField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)  # the console lists runs newest first

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["status", "queued_at"], name="detectionrun_status_queued")]

    def __str__(self) -> str:
        return f"detection of ingest {self.ingest_id} ({self.status})"


class Detection(models.Model):
    camera = models.ForeignKey(Camera, on_delete=models.CASCADE, related_name="detections")
    ingest = models.ForeignKey(Ingest, on_delete=models.CASCADE, related_name="detections")
    captured_at = models.DateTimeField(db_index=True)
    label = models.CharField(max_length=20, db_index=True)
    confidence = models.FloatField()
    x = models.IntegerField()
    y = models.IntegerField()
    width = models.IntegerField()
    height = models.IntegerField()
    frame_width = models.IntegerField()
    frame_height = models.IntegerField()
    frame_offset_s = models.FloatField(null=True, blank=True, help_text="Position in the clip; empty for photos.")
    zones = models.JSONField(default=list, blank=True, help_text="Names of the zones its bottom-centre is in.")
    zone_kinds = models.JSONField(default=list, blank=True)
    thumbnail = models.CharField(max_length=500, blank=True, help_text="Relative to the media root.")
    preview = models.CharField(
        max_length=500,
        blank=True,
        help_text="The frame without boxes, downscaled, relative to the media root (shared by its frame's detections).",
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-captured_at"]
        indexes = [models.Index(fields=["camera", "-captured_at"], name="detection_camera_time")]

    def __str__(self) -> str:
        return f"{self.label} {self.confidence:.2f} on {self.camera_id}"


class Clip(models.Model):
    class Transcode(models.TextChoices):
        NOT_NEEDED = "not_needed", "not needed (browser-playable)"
        PENDING = "pending"
        RUNNING = "running"
        DONE = "done"
        FAILED = "failed"

    ingest = models.OneToOneField(Ingest, on_delete=models.CASCADE, related_name="clip")
    duration_s = models.FloatField(null=True, blank=True)
    codec = models.CharField(max_length=16, blank=True)
    size = models.BigIntegerField()
    playable = models.CharField(max_length=500, blank=True, help_text="Browser-playable H.264 MP4, media-relative.")
    transcode = models.CharField(max_length=10, choices=Transcode.choices, default=Transcode.PENDING)
    transcode_error = models.CharField(max_length=500, blank=True)
    attempts = models.PositiveSmallIntegerField(default=0, help_text="Tries taken, a worker that died included.")
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    claimed_at = models.DateTimeField(null=True, blank=True)
    queued_at = models.DateTimeField()

    def __str__(self) -> str:
        return f"clip {self.ingest_id} ({self.transcode})"
