"""What operating homesec for months keeps: cumulative metric counts, GPU samples, cleanup
runs and the audit log."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone


class MetricCount(models.Model):
    """One cumulative Prometheus series (a counter, or a histogram's bucket, sum or count),
    incremented in the same transaction as the work it counts. In the database rather than
    in each process's memory: a worker restarted by the supervisor, or retention deleting
    the rows that were counted, must never make a counter go backwards."""

    name = models.CharField(max_length=120)
    # The series' labels, rendered once and sorted (`camera="porch",outcome="ok"`): the key.
    labels = models.CharField(max_length=400, blank=True, default="")
    value = models.FloatField(default=0)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["name", "labels"], name="metric_count_unique")]

    def __str__(self) -> str:
        return f"{self.name}{{{self.labels}}} {self.value:g}"


class GpuSample(models.Model):
    """One device's reading by the GPU sampler (every few seconds; kept a day). A value the
    device or driver does not report is null."""

    sampled_at = models.DateTimeField(db_index=True)
    index = models.PositiveSmallIntegerField(help_text="The device's NVML index.")
    name = models.CharField(max_length=200)
    utilization_pct = models.FloatField(null=True, blank=True)
    memory_used_bytes = models.BigIntegerField(null=True, blank=True)
    memory_total_bytes = models.BigIntegerField(null=True, blank=True)
    temperature_c = models.FloatField(null=True, blank=True)
    power_w = models.FloatField(null=True, blank=True)
    power_limit_w = models.FloatField(null=True, blank=True)
    encoder_pct = models.FloatField(null=True, blank=True)
    decoder_pct = models.FloatField(null=True, blank=True)

    class Meta:
        ordering = ["-sampled_at", "index"]

    def __str__(self) -> str:
        return f"GPU {self.index} ({self.name}) at {self.sampled_at:%Y-%m-%d %H:%M:%S}"


class GpuState(models.Model):
    """Whether the GPU sampler (in the watcher) found a GPU to read, and if not why: one row
    (pk 1), written when the answer changes or is checked again, so the web process, which
    samples nothing, can show "no GPU" with its reason."""

    available = models.BooleanField(default=False)
    reason = models.CharField(max_length=300, blank=True, help_text="Why no GPU is read, e.g. no driver.")
    devices = models.PositiveSmallIntegerField(default=0)
    checked_at = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return f"{self.devices} GPU(s)" if self.available else f"no GPU: {self.reason}"


class CleanupRun(models.Model):
    """One retention run (daily, `manage.py cleanup`, or its dry run): what went, what was
    kept and why, as it happened on disk."""

    class Status(models.TextChoices):
        RUNNING = "running"
        DONE = "done"
        FAILED = "failed"

    started_at = models.DateTimeField(default=timezone.now, db_index=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    trigger = models.CharField(max_length=20, help_text="schedule, command or console.")
    dry_run = models.BooleanField(default=False)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.RUNNING)
    deleted = models.JSONField(default=dict, blank=True, help_text="Rows and files deleted, by kind.")
    bytes_freed = models.BigIntegerField(default=0)
    kept = models.JSONField(default=dict, blank=True, help_text="What was kept, by reason.")
    error = models.TextField(blank=True)

    class Meta:
        ordering = ["-started_at"]
        constraints = [
            # One real run at a time (the clock's and an operator's command); dry runs change nothing.
            models.UniqueConstraint(
                fields=["status"], condition=Q(status="running", dry_run=False), name="cleanup_one_running"
            )
        ]

    def __str__(self) -> str:
        return f"cleanup {'dry run ' if self.dry_run else ''}{self.started_at:%Y-%m-%d %H:%M} ({self.status})"


class AuditEntry(models.Model):
    """Who did what, when and from where: sign-ins, tokens, configuration changes, exports,
    replays, re-assessments, cleanups. Append-only (the console cannot edit or delete one);
    kept a year by retention."""

    at = models.DateTimeField(default=timezone.now, db_index=True)
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    # The name as it was (a deleted user, a failed sign-in's typed name, "system").
    actor_name = models.CharField(max_length=150, blank=True)
    action = models.CharField(max_length=60, db_index=True)
    target = models.CharField(max_length=200, blank=True, help_text="What it was done to, e.g. camera porch.")
    detail = models.JSONField(default=dict, blank=True, help_text="What changed; never a secret.")
    source = models.GenericIPAddressField(null=True, blank=True, help_text="The client's address, where known.")

    class Meta:
        ordering = ["-at", "-id"]
        verbose_name_plural = "audit entries"

    def __str__(self) -> str:
        return f"{self.at:%Y-%m-%d %H:%M:%S} {self.actor_name or '-'} {self.action} {self.target}"
