"""The console's view of operating homesec: retention runs and the audit log, both
read-only. Neither is edited or deleted by hand: retention prunes them (a year)."""

from __future__ import annotations

from django.contrib import admin
from django.db.models import Model
from django.http import HttpRequest
from django.utils.html import format_html_join

from homesec.core.admin import ReadOnlyAdmin
from monitoring.models import AuditEntry, CleanupRun
from monitoring.retention import bytes_label


class NoDeleteAdmin(ReadOnlyAdmin):
    def has_delete_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return False


def _counts(counts: dict[str, int]) -> str:
    return format_html_join("", "<div>{}: {}</div>", sorted(counts.items())) or "-"


@admin.register(CleanupRun)
class CleanupRunAdmin(NoDeleteAdmin):
    list_display = ("started_at", "trigger", "dry_run", "status", "freed", "finished_at")
    list_filter = ("status", "trigger", "dry_run")
    fields = (
        "started_at",
        "finished_at",
        "trigger",
        "dry_run",
        "status",
        "freed",
        "deleted_list",
        "kept_list",
        "error",
    )
    readonly_fields = fields

    @admin.display(description="freed", ordering="bytes_freed")
    def freed(self, run: CleanupRun) -> str:
        return bytes_label(run.bytes_freed)

    @admin.display(description="deleted (a dry run: would delete)")
    def deleted_list(self, run: CleanupRun) -> str:
        return _counts(run.deleted)

    @admin.display(description="kept, and why")
    def kept_list(self, run: CleanupRun) -> str:
        return _counts(run.kept)


@admin.register(AuditEntry)
class AuditEntryAdmin(NoDeleteAdmin):
    list_display = ("at", "actor_name", "action", "target", "source")
    list_filter = ("action", "at")
    search_fields = ("actor_name", "target")
    fields = ("at", "actor", "actor_name", "action", "target", "detail", "source")
    readonly_fields = fields
