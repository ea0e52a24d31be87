"""Alerts: rules checked after every assessment, the alerts they raise, the channels that
carry them, and one row per notification and per delivery attempt."""

from __future__ import annotations

from zoneinfo import ZoneInfo

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Q

from alerts.transports import TRANSPORTS
from cameras.models import Camera, Zone, zone_or_household
from detections.models import CLASSES
from events.models import Event

WEEKDAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")


class Mode(models.TextChoices):
    HOME = "home"
    AWAY = "away"
    NIGHT = "night"


def validate_days(value: object) -> None:
    if not isinstance(value, list) or any(not isinstance(d, int) or not 0 <= d <= 6 for d in value):
        raise ValidationError("Give a list of weekdays as numbers, 0 = Monday ... 6 = Sunday (empty: every day).")


def validate_modes(value: object) -> None:
    if not isinstance(value, list) or any(m not in Mode.values for m in value):
        raise ValidationError(f"Give a list of modes out of {', '.join(Mode.values)} (empty: every mode).")


def validate_classes(value: object) -> None:
    if not isinstance(value, list) or any(c not in CLASSES for c in value):
        raise ValidationError(f"Give a list of classes out of {', '.join(CLASSES)} (empty: any).")


def days_label(days: list[int]) -> str:
    return ", ".join(WEEKDAYS[d] for d in sorted(days)) if days else "every day"


class Household(models.Model):
    """The one household this homesec watches over (a single row, pk 1)."""

    mode = models.CharField(max_length=5, choices=Mode.choices, default=Mode.HOME)
    mode_set_at = models.DateTimeField(null=True, blank=True, help_text="When the mode was last set by hand.")
    mode_set_by = models.CharField(max_length=150, blank=True)
    default_rule_removed = models.BooleanField(
        default=False, help_text="The operator deleted the default rule: it is not made again."
    )

    class Meta:
        verbose_name_plural = "household"

    def __str__(self) -> str:
        return "household"


class ModeScheduleEntry(models.Model):
    """At this time on these days the household switches to this mode (household time zone).
    A mode set by hand holds until the next scheduled switch."""

    days = models.JSONField(default=list, blank=True, validators=[validate_days], help_text="0 = Monday; empty: daily.")
    at = models.TimeField()
    mode = models.CharField(max_length=5, choices=Mode.choices)
    enabled = models.BooleanField(default=True)

    class Meta:
        ordering = ["at"]
        verbose_name_plural = "mode schedule entries"

    def __str__(self) -> str:
        return f"{days_label(self.days)} {self.at:%H:%M} → {self.mode}"


class Channel(models.Model):
    """Where notifications go. `config` holds the settings shown in the console; `secrets`
    (a password, an HMAC secret, a token) are write-only: never shown, logged or returned."""

    # One member per transport module (alerts/transports/__init__.py: TRANSPORTS).
    # (django-stubs type only the class form of choices, not this functional one.)
    Kind = models.TextChoices(  # type: ignore[call-overload]
        "Kind", [(kind.upper(), (kind, label)) for kind, label in TRANSPORTS.items()]
    )

    name = models.CharField(max_length=100, unique=True)
    kind = models.CharField(max_length=8, choices=Kind.choices)
    config = models.JSONField(default=dict, blank=True)
    secrets = models.JSONField(default=dict, blank=True, editable=False)
    enabled = models.BooleanField(default=True)
    disabled_reason = models.CharField(max_length=500, blank=True)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="alert_channels",
        help_text="A household member's own channel, which obeys their quiet hours; empty: the household's.",
    )
    from_environment = models.BooleanField(
        default=False,
        editable=False,
        help_text="Declared in the environment: each start sets its kind, config and secret from there again.",
    )
    last_success_at = models.DateTimeField(null=True, blank=True)
    last_error = models.CharField(max_length=500, blank=True)
    last_error_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    @property
    def has_secret(self) -> bool:
        return bool(self.secrets.get("secret"))


class AlertRule(models.Model):
    """Conditions, all ANDed; an empty condition always holds."""

    name = models.CharField(max_length=100, unique=True)
    enabled = models.BooleanField(default=True)
    severity = models.CharField(
        max_length=20, blank=True, help_text="The alert's severity; empty: the event's risk level."
    )
    min_risk_score = models.PositiveSmallIntegerField(default=0)
    min_level = models.CharField(max_length=20, blank=True, help_text="A level from the severity table; empty: any.")
    cameras = models.ManyToManyField(Camera, blank=True, related_name="alert_rules", help_text="Empty: every camera.")
    zones = models.ManyToManyField(
        Zone, blank=True, related_name="alert_rules", help_text="An object must stand in one of them; empty: anywhere."
    )
    classes = models.JSONField(default=list, blank=True, validators=[validate_classes], help_text="Empty: any class.")
    min_confidence = models.FloatField(null=True, blank=True, help_text="Of the object that matches; empty: any.")
    days = models.JSONField(
        default=list, blank=True, validators=[validate_days], help_text="0 = Monday; empty: every day."
    )
    start_time = models.TimeField(null=True, blank=True, help_text="Camera's local time; may be after the end time.")
    end_time = models.TimeField(null=True, blank=True, help_text="A window 22:00-06:00 crosses midnight.")
    cooldown_s = models.PositiveIntegerField(default=300, help_text="Seconds without a repeat for one dedup key.")
    dedup_key = models.CharField(
        max_length=200, default="{camera}:{rule}", help_text="From {camera}, {rule}, {event}, {level}, {class}."
    )
    modes = models.JSONField(default=list, blank=True, validators=[validate_modes], help_text="Empty: every mode.")
    channels = models.ManyToManyField(Channel, blank=True, related_name="rules")
    all_channels = models.BooleanField(default=False, help_text="Notify every channel, also ones added later.")
    is_default = models.BooleanField(default=False, editable=False)
    managed = models.BooleanField(
        default=False, editable=False, help_text="Untouched default rule: kept in step with HOMESEC_ALERT_MIN_LEVEL."
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    def clean(self) -> None:
        from alerts.matching import dedup_key_problem

        problem = dedup_key_problem(self.dedup_key)
        if problem:
            raise ValidationError({"dedup_key": problem})
        if self.min_confidence is not None and not 0 <= self.min_confidence <= 1:
            raise ValidationError({"min_confidence": "Between 0 and 1."})
        if self.min_risk_score > 100:
            raise ValidationError({"min_risk_score": "Between 0 and 100."})


class Alert(models.Model):
    class Kind(models.TextChoices):
        EVENT = "event"
        CAMERA_OFFLINE = "camera_offline", "camera offline"
        DISK_LOW = "disk_low", "low disk space"

    class State(models.TextChoices):
        PENDING = "pending"
        DELIVERED = "delivered", "delivered (at least one channel)"
        FAILED = "failed", "failed (no channel)"
        ACKNOWLEDGED = "acknowledged"
        DISMISSED = "dismissed"

    kind = models.CharField(max_length=14, choices=Kind.choices, default=Kind.EVENT)
    # An alert outlives its event: what was sent stays on record, and its dedup key and time
    # still hold the next event of the camera to the rule's cooldown.
    event = models.ForeignKey(Event, null=True, blank=True, on_delete=models.SET_NULL, related_name="alerts")
    camera = models.ForeignKey(Camera, null=True, blank=True, on_delete=models.CASCADE, related_name="alerts")
    rule = models.ForeignKey(AlertRule, null=True, blank=True, on_delete=models.SET_NULL, related_name="alerts")
    rule_name = models.CharField(max_length=100, blank=True, help_text="Kept when the rule is deleted.")
    severity = models.CharField(max_length=20)
    level = models.CharField(max_length=20, blank=True, help_text="The event's risk level when it fired.")
    risk_score = models.PositiveSmallIntegerField(null=True, blank=True)
    title = models.CharField(max_length=300)
    state = models.CharField(max_length=12, choices=State.choices, default=State.PENDING, db_index=True)
    state_reason = models.CharField(max_length=500, blank=True)
    dedup_key = models.CharField(max_length=300, db_index=True)
    matched = models.JSONField(default=list, blank=True, help_text="The conditions that held.")
    escalation = models.BooleanField(default=False, help_text="Raised again because the level went up.")
    renotify_count = models.PositiveSmallIntegerField(default=0)
    last_notified_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(db_index=True)
    delivered_at = models.DateTimeField(null=True, blank=True)
    acknowledged_at = models.DateTimeField(null=True, blank=True)
    dismissed_at = models.DateTimeField(null=True, blank=True)
    handled_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            # One alert per event, rule and level: a repeated check can never page twice.
            models.UniqueConstraint(
                fields=["event", "rule", "level"], condition=Q(event__isnull=False), name="alert_once_per_event_level"
            ),
            # System alerts carry their period in the key (an outage, a day).
            models.UniqueConstraint(fields=["dedup_key"], condition=~Q(kind="event"), name="alert_system_once"),
        ]

    def __str__(self) -> str:
        return f"alert {self.pk}: {self.title}"


class CameraSnooze(models.Model):
    """A camera's event notifications held back for the whole household until `until`.
    One row per camera (setting it again moves `until`); an expired row is simply in the
    past: nothing needs to clear it. Alerts are still raised and listed meanwhile."""

    camera = models.OneToOneField(Camera, on_delete=models.CASCADE, related_name="snooze")
    until = models.DateTimeField(db_index=True)
    set_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    set_at = models.DateTimeField()

    class Meta:
        ordering = ["until"]

    def __str__(self) -> str:
        return f"{self.camera_id} snoozed until {self.until:%Y-%m-%d %H:%M}"


class AlertCheck(models.Model):
    """One per assessment the rules were checked against: what each rule decided, and why.
    Its existence is what makes checking the same assessment twice change nothing."""

    event = models.ForeignKey(Event, on_delete=models.CASCADE, related_name="alert_checks")
    seq = models.PositiveIntegerField(help_text="The event's assessment number.")
    risk_score = models.PositiveSmallIntegerField(null=True)
    risk_level = models.CharField(max_length=20, blank=True)
    assessment_state = models.CharField(max_length=8, blank=True)
    outcome = models.CharField(max_length=300, help_text="In short.")
    decisions = models.JSONField(default=list, help_text="Per rule: fired, suppressed or no match, with the reason.")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [models.UniqueConstraint(fields=["event", "seq"], name="alert_check_once_per_assessment")]

    def __str__(self) -> str:
        return f"event {self.event_id} assessment {self.seq}: {self.outcome}"


class Notification(models.Model):
    """One alert on one channel (for one round: 0 first, then re-notifications). Its id is
    the idempotency key every attempt carries, so a receiver can drop a repeat."""

    class Status(models.TextChoices):
        PENDING = "pending"
        SENDING = "sending"
        DELIVERED = "delivered"
        FAILED = "failed"
        SKIPPED = "skipped"

    alert = models.ForeignKey(Alert, null=True, blank=True, on_delete=models.CASCADE, related_name="notifications")
    channel = models.ForeignKey(Channel, on_delete=models.CASCADE, related_name="notifications")
    round = models.PositiveSmallIntegerField(default=0)
    test = models.BooleanField(default=False, help_text="A test sent from the console.")
    status = models.CharField(max_length=9, choices=Status.choices, default=Status.PENDING, db_index=True)
    attempts = models.PositiveSmallIntegerField(default=0, help_text="Tries that count towards the limit.")
    deferrals = models.PositiveIntegerField(default=0, help_text="Waits a receiver asked for (HTTP 429).")
    deferred_s = models.FloatField(default=0.0, help_text="Seconds waited for such receivers so far.")
    error = models.CharField(max_length=500, blank=True)
    latency_ms = models.FloatField(null=True, blank=True, help_text="Of the last attempt.")
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    claimed_at = models.DateTimeField(null=True, blank=True)
    queued_at = models.DateTimeField()
    created_at = models.DateTimeField()
    delivered_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["alert", "channel", "round"], condition=Q(test=False), name="notification_once_per_round"
            )
        ]
        indexes = [models.Index(fields=["status", "queued_at"], name="notification_status_queued")]

    def __str__(self) -> str:
        return f"notification {self.pk} via {self.channel.name} ({self.status})"

    @property
    def ok(self) -> bool:
        return self.status == self.Status.DELIVERED


class NotificationAttempt(models.Model):
    """Every try at sending, with what the receiver said: append-only."""

    notification = models.ForeignKey(Notification, on_delete=models.CASCADE, related_name="attempt_log")
    number = models.PositiveSmallIntegerField()
    ok = models.BooleanField()
    error = models.CharField(max_length=500, blank=True)
    status_code = models.PositiveSmallIntegerField(null=True, blank=True, help_text="HTTP or SMTP code, if any.")
    latency_ms = models.FloatField()
    at = models.DateTimeField()

    class Meta:
        ordering = ["notification", "number"]

    def __str__(self) -> str:
        return f"attempt {self.number} of notification {self.notification_id}: {'ok' if self.ok else self.error}"


class MemberProfile(models.Model):
    """A household member: where their own email goes, when to leave them alone, and how
    high a camera's risk must be before they hear about it."""

    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="alert_profile")
    email = models.EmailField(blank=True, help_text="Empty: the account's email address.")
    quiet_hours = models.JSONField(
        default=list, blank=True, help_text='Ranges in the member\'s time, e.g. ["22:00-07:00", "13:00-14:00"].'
    )
    critical_breaks_through = models.BooleanField(default=True, help_text="Critical alerts come even in quiet hours.")
    camera_min_risk = models.JSONField(
        default=dict, blank=True, help_text='Per camera id, the lowest risk score to hear about: {"street": 70}.'
    )
    time_zone = models.CharField(max_length=64, blank=True, help_text="Empty: the household's (HOMESEC_TIME_ZONE).")

    def __str__(self) -> str:
        return f"profile of {self.user}"

    @property
    def zoneinfo(self) -> ZoneInfo:
        return zone_or_household(self.time_zone)

    def clean(self) -> None:
        from alerts.matching import parse_range

        try:
            for text in self.quiet_hours:
                parse_range(text)
        except (TypeError, ValueError):
            raise ValidationError({"quiet_hours": 'Give a list of "HH:MM-HH:MM" ranges.'}) from None
        if not isinstance(self.camera_min_risk, dict) or any(
            not isinstance(v, int) or not 0 <= v <= 100 for v in self.camera_min_risk.values()
        ):
            raise ValidationError({"camera_min_risk": "Give {camera id: score 0-100}."})
