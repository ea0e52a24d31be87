"""Events: what one camera saw, grouped. One open event per camera, guaranteed by the database."""

from __future__ import annotations

from django.conf import settings
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

    class Assessment(models.TextChoices):
        PENDING = "pending"
        ASSESSED = "assessed"
        FALLBACK = "fallback", "fallback (rules, the LLM was unavailable)"
        FAILED = "failed"

    assessment_state = models.CharField(max_length=8, choices=Assessment.choices, default=Assessment.PENDING)
    risk_score = models.PositiveSmallIntegerField(null=True, blank=True)
    risk_level = models.CharField(max_length=20, blank=True, help_text="From the severity table when scored.")
    summary = models.TextField(blank=True)
    reasoning = models.TextField(blank=True)
    recommended_action = models.TextField(blank=True)
    analyzer = models.CharField(max_length=8, blank=True, help_text="llm or rules")
    provenance = models.JSONField(default=dict, blank=True, help_text="Model, prompt version, tokens, latency ...")
    assessed_at = models.DateTimeField(null=True, blank=True)
    assessment_seq = models.PositiveIntegerField(default=0, help_text="How many assessments it has had.")
    assessment_final = models.BooleanField(
        default=False, help_text="The stored assessment saw the closed event: no answer about the open one replaces it."
    )

    # The assessment work, a durable row of its own on the event (events/assessment.py): one
    # assessment in flight at most, asked-for ones coalesced, a budget on the alert path.
    class Step(models.TextChoices):
        IDLE = "", "idle"
        QUEUED = "queued"
        RUNNING = "running"

    assess_step = models.CharField(max_length=8, choices=Step.choices, blank=True, default=Step.IDLE)
    assess_wanted_at = models.DateTimeField(
        null=True, blank=True, help_text="Asked for since the running assessment read the facts (one more follows)."
    )
    assess_deadline_at = models.DateTimeField(
        null=True, blank=True, help_text="When the rules step in if the language model has not answered."
    )
    assess_claimed_at = models.DateTimeField(null=True, blank=True)
    assess_queued_at = models.DateTimeField(null=True, blank=True, help_text="When its task was last sent.")
    assess_attempts = models.PositiveSmallIntegerField(default=0, help_text="Workers that died assessing it.")
    reassessed_at = models.DateTimeField(
        null=True, blank=True, help_text="When a fallback was last sent back to the language model."
    )
    check_queued_at = models.DateTimeField(
        null=True, blank=True, help_text="When the alert rules' check of its assessment was last sent again."
    )

    class Feedback(models.TextChoices):
        ACCURATE = "accurate"
        FALSE_POSITIVE = "false_positive", "false positive"
        MISSED_THREAT = "missed_threat", "missed threat"
        SEVERITY_WRONG = "severity_wrong", "severity wrong"

    reviewed = models.BooleanField(default=False)
    reviewed_at = models.DateTimeField(null=True, blank=True)
    reviewed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    review_notes = models.TextField(blank=True)
    feedback = models.CharField(max_length=16, choices=Feedback.choices, blank=True)
    expected_level = models.CharField(max_length=20, blank=True, help_text="With 'severity wrong': what it should be.")

    class Meta:
        ordering = ["-started_at"]
        constraints = [
            models.UniqueConstraint(fields=["camera"], condition=Q(status="open"), name="event_one_open_per_camera")
        ]
        indexes = [
            # The fast clock looks for due budgets several times a second.
            models.Index(
                fields=["assess_deadline_at"],
                name="event_assess_deadline",
                condition=Q(assess_deadline_at__isnull=False),
            ),
            # The timeline pages by (started_at, id), newest first (events/selectors.py):
            # the whole table, what is left to review (its default view), and one camera.
            models.Index(fields=["started_at", "id"], name="event_timeline"),
            models.Index(fields=["started_at", "id"], name="event_timeline_unreviewed", condition=Q(reviewed=False)),
            models.Index(fields=["camera", "started_at", "id"], name="event_timeline_camera"),
            # One camera at one level (the API's ?camera=&level=, the timeline's filters): read
            # through the camera's index, PostgreSQL chose the whole table's newest-first and
            # dropped ~15,000 rows of other cameras and levels for 50 (bench/api).
            models.Index(fields=["camera", "risk_level", "started_at", "id"], name="event_timeline_camera_level"),
            # The System page and its health push count assessments queued or running
            # (monitoring/selectors.py queue_depths): a few rows of a large table.
            models.Index(fields=["assess_step"], name="event_assess_busy", condition=~Q(assess_step="idle")),
        ]

    def __str__(self) -> str:
        return f"event {self.pk} on {self.camera_id} ({self.status})"


class SeverityLevel(models.Model):
    """The one table that turns a risk score into a level. Editing it changes new
    assessments; stored ones keep the level they were given."""

    name = models.CharField(max_length=20, unique=True)
    min_score = models.PositiveSmallIntegerField(unique=True, help_text="Scores from this one up get this level.")

    class Meta:
        ordering = ["min_score"]

    def __str__(self) -> str:
        return f"{self.name} (from {self.min_score})"


class ActivityCount(models.Model):
    """How often a camera sees activity in each hour of the week (0 = Monday 00:00 local)."""

    camera = models.ForeignKey(Camera, on_delete=models.CASCADE, related_name="activity_counts")
    hour_of_week = models.PositiveSmallIntegerField()
    count = models.PositiveIntegerField(default=0)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["camera", "hour_of_week"], name="activity_count_unique")]

    def __str__(self) -> str:
        return f"{self.camera_id} hour {self.hour_of_week}: {self.count}"


class PromptVersion(models.Model):
    """The LLM's instructions, versioned: an edit makes a new version; one is active."""

    version = models.PositiveIntegerField(unique=True, editable=False)
    system_prompt = models.TextField()
    note = models.CharField(max_length=200, blank=True, help_text="What changed, and why.")
    active = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-version"]
        constraints = [
            models.UniqueConstraint(fields=["active"], condition=Q(active=True), name="prompt_one_active_version")
        ]

    def __str__(self) -> str:
        return f"v{self.version}" + (" (active)" if self.active else "")


class PromptReplay(models.Model):
    """A prompt version tried on stored events, without changing them: old and new side by side."""

    class Status(models.TextChoices):
        PENDING = "pending"
        DONE = "done"

    prompt = models.ForeignKey(PromptVersion, on_delete=models.CASCADE, related_name="replays")
    event_ids = models.JSONField(default=list)
    status = models.CharField(max_length=8, choices=Status.choices, default=Status.PENDING)
    results = models.JSONField(default=list, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"replay of {self.prompt} on {len(self.event_ids)} events ({self.status})"
