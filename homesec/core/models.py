"""Infrastructure rows every app may use: heartbeats, live messages, API tokens, sign-in failures."""

from __future__ import annotations

from django.conf import settings
from django.db import models


class Heartbeat(models.Model):
    """One row per long-running process; a thread in that process refreshes `beat_at`."""

    name = models.CharField(max_length=200, unique=True)
    role = models.CharField(max_length=40, db_index=True)
    hostname = models.CharField(max_length=200)
    pid = models.IntegerField()
    started_at = models.DateTimeField()
    beat_at = models.DateTimeField(db_index=True)
    problem = models.CharField(max_length=500, blank=True, help_text="What keeps failing in the process, if anything.")

    class Meta:
        ordering = ["role", "name"]

    def __str__(self) -> str:
        return self.name


class LiveMessage(models.Model):
    """A message for WebSocket clients, stored first so any process can publish and a
    reconnecting client can ask for what it missed by id."""

    stream = models.CharField(max_length=20, db_index=True)
    kind = models.CharField(max_length=60)
    payload = models.JSONField(default=dict)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["id"]

    def __str__(self) -> str:
        return f"#{self.pk} {self.stream}/{self.kind}"

    def as_wire(self) -> dict:
        return {
            "id": self.pk,
            "stream": self.stream,
            "kind": self.kind,
            "at": self.created_at.isoformat(),
            "data": self.payload,
        }


class ApiToken(models.Model):
    """An API token for mobile and script clients. Only a SHA-256 of the key is stored."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_tokens")
    name = models.CharField(max_length=100, default="api")
    prefix = models.CharField(max_length=16, help_text="The first characters of the key, to tell tokens apart.")
    key_hash = models.CharField(max_length=64, unique=True, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…) for {self.user}"


class LoginFailure(models.Model):
    """A failed sign-in; recent rows per address and per user name drive the lock-out."""

    username = models.CharField(max_length=150, db_index=True)
    ip = models.GenericIPAddressField(null=True, db_index=True)
    at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["-at"]

    def __str__(self) -> str:
        return f"{self.username} from {self.ip} at {self.at:%Y-%m-%d %H:%M:%S}"


class DeadLetter(models.Model):
    """Work that failed for good: the operator inspects it, replays it or discards it."""

    key = models.CharField(max_length=200, unique=True, help_text="One row per piece of work, e.g. ingest:42.")
    task = models.CharField(max_length=200, help_text="Dotted name of the task that replays it.")
    payload = models.JSONField(default=dict)
    error = models.TextField()
    attempts = models.PositiveIntegerField(default=1)
    first_failed_at = models.DateTimeField(auto_now_add=True)
    last_failed_at = models.DateTimeField()
    replayed_at = models.DateTimeField(null=True, blank=True)
    replay_count = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["-last_failed_at"]

    def __str__(self) -> str:
        return f"{self.key} ({self.task})"


class Breaker(models.Model):
    """A circuit breaker shared by every worker process: state lives in the database."""

    class State(models.TextChoices):
        CLOSED = "closed"
        OPEN = "open"
        HALF_OPEN = "half_open", "half-open (probing)"

    name = models.CharField(max_length=100, primary_key=True)
    state = models.CharField(max_length=10, choices=State.choices, default=State.CLOSED)
    failures = models.JSONField(default=list, help_text="Times (epoch s) of recent failures.")
    opened_at = models.DateTimeField(null=True, blank=True)
    probe_until = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True)
    changed_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"{self.name}: {self.state}"
