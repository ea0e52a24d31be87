"""Cameras (one folder each), their zones, FTP accounts, and one Ingest row per uploaded file."""

from __future__ import annotations

from zoneinfo import ZoneInfo

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Q

from cameras.geometry import point_in_polygon, valid_polygon


def zone_or_household(name: str) -> ZoneInfo:
    """The named time zone; the household's when the console holds a bad (or no) name, so
    a typo never stops ingest, assessment or alerting."""
    try:
        return ZoneInfo(name or settings.TIME_ZONE)
    except Exception:  # noqa: BLE001 - ZoneInfo raises several kinds for a bad name
        return ZoneInfo(settings.TIME_ZONE)


def default_time_zone() -> str:
    # A callable, so HOMESEC_TIME_ZONE applies to new cameras without a new migration.
    return settings.TIME_ZONE


class Camera(models.Model):
    class Status(models.TextChoices):
        ONLINE = "online"
        OFFLINE = "offline"
        ERROR = "error"

    id = models.SlugField(primary_key=True, max_length=100, help_text="The folder name, normalised.")
    name = models.CharField(max_length=200)
    folder = models.CharField(max_length=255, unique=True, help_text="Folder directly under the camera root.")
    enabled = models.BooleanField(default=True, help_text="Disabled cameras' uploads are recorded but not analysed.")
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.ONLINE)
    status_reason = models.CharField(max_length=300, blank=True)
    last_seen_at = models.DateTimeField(null=True, blank=True)
    time_zone = models.CharField(max_length=64, default=default_time_zone)
    offline_after_min = models.PositiveIntegerField(
        null=True,
        blank=True,
        help_text="Raise an offline alarm after this many minutes without uploads (empty: never).",
    )
    filters = models.JSONField(
        default=dict,
        blank=True,
        help_text='Per class: {"person": {"min_confidence": 0.6, "min_area": 0.001, "max_area": 0.9}}',
    )
    rejected_streak = models.PositiveIntegerField(default=0, help_text="Rejected uploads in a row.")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    @property
    def zoneinfo(self) -> ZoneInfo:
        return zone_or_household(self.time_zone)


class Zone(models.Model):
    class Kind(models.TextChoices):
        ENTRY = "entry"
        DRIVEWAY = "driveway"
        YARD = "yard"
        SIDEWALK = "sidewalk"
        PERIMETER = "perimeter"
        RESTRICTED = "restricted"
        OTHER = "other"
        IGNORE = "ignore", "ignore (mask)"

    camera = models.ForeignKey(Camera, on_delete=models.CASCADE, related_name="zones")
    name = models.CharField(max_length=100)
    kind = models.CharField(max_length=12, choices=Kind.choices, default=Kind.OTHER)
    polygon = models.JSONField(help_text="Points [[x, y], ...] in 0-1 coordinates of the frame, at least three.")
    enabled = models.BooleanField(default=True)

    class Meta:
        ordering = ["camera", "name"]
        constraints = [models.UniqueConstraint(fields=["camera", "name"], name="zone_unique_name_per_camera")]

    def __str__(self) -> str:
        return f"{self.camera_id}/{self.name} ({self.kind})"

    def clean(self) -> None:
        if not valid_polygon(self.polygon):
            raise ValidationError({"polygon": "Give at least three [x, y] points, each between 0 and 1."})

    def contains(self, x: float, y: float) -> bool:
        return point_in_polygon(x, y, self.polygon)


class FtpAccount(models.Model):
    """A camera's login on the built-in FTP receiver, jailed to that camera's folder."""

    camera = models.OneToOneField(Camera, on_delete=models.CASCADE, related_name="ftp_account")
    username = models.CharField(max_length=64, unique=True)
    password_hash = models.CharField(max_length=256, editable=False)
    enabled = models.BooleanField(default=True)
    last_login_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"{self.username} → {self.camera_id}"


class Ingest(models.Model):
    """One uploaded file version, written before any task is enqueued for it."""

    class Status(models.TextChoices):
        PENDING = "pending"
        PROCESSING = "processing"
        DONE = "done"
        DUPLICATE = "duplicate"
        REJECTED = "rejected"
        FAILED = "failed"
        # Deleted by the operator: the row stays, so the watcher's rescan does not take the
        # file again as new should it still be there.
        DELETED = "deleted"

    camera = models.ForeignKey(Camera, on_delete=models.CASCADE, related_name="ingests")
    path = models.CharField(max_length=1024, help_text="Relative to the camera root.")
    size = models.BigIntegerField()
    mtime_ns = models.BigIntegerField()
    status = models.CharField(max_length=12, choices=Status.choices, default=Status.PENDING, db_index=True)
    reason = models.CharField(max_length=500, blank=True)
    sha256 = models.CharField(max_length=64, blank=True, db_index=True)
    # Set only on the first ingest of some content: the unique constraint makes "same
    # bytes twice = one ingest" atomic even when two workers race.
    content_key = models.CharField(max_length=64, null=True, blank=True, unique=True, editable=False)
    duplicate_of = models.ForeignKey("self", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    media_type = models.CharField(max_length=8, blank=True)
    media_format = models.CharField(max_length=8, blank=True)
    width = models.PositiveIntegerField(null=True, blank=True)
    height = models.PositiveIntegerField(null=True, blank=True)
    duration_s = models.FloatField(null=True, blank=True)
    frame_count = models.PositiveIntegerField(null=True, blank=True)
    codec = models.CharField(max_length=16, blank=True)
    trailing_bytes = models.PositiveIntegerField(
        default=0,
        help_text="JPEG bytes after the end-of-image marker (a camera's trailer, a motion photo's video), not decoded.",
    )
    arrived_at = models.DateTimeField(db_index=True)
    captured_at = models.DateTimeField(null=True, blank=True)
    captured_from = models.CharField(max_length=8, blank=True, help_text="name, exif or mtime")
    attempts = models.PositiveSmallIntegerField(default=0)
    claimed_at = models.DateTimeField(null=True, blank=True)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    processed_at = models.DateTimeField(null=True, blank=True)
    handed_off_at = models.DateTimeField(null=True, blank=True, help_text="When the next stage took it.")
    queued_at = models.DateTimeField(help_text="When its task (or its hand-off) was last sent.")

    class Meta:
        ordering = ["-arrived_at"]
        constraints = [
            models.UniqueConstraint(fields=["path", "size", "mtime_ns"], name="ingest_unique_file_version"),
        ]
        indexes = [
            models.Index(fields=["status", "queued_at"], name="ingest_status_queued"),
            models.Index(
                fields=["queued_at"],
                name="ingest_waiting_hand_off",
                condition=Q(status="done", handed_off_at__isnull=True),
            ),
            # A camera's newest accepted upload (its latest image on the overview).
            models.Index(fields=["camera", "-arrived_at"], name="ingest_camera_accepted", condition=Q(status="done")),
        ]

    def __str__(self) -> str:
        return f"{self.path} ({self.status})"
