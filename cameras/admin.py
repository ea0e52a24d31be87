from typing import Any

from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest

from cameras.forms import FtpAccountForm
from cameras.ftp import ftp_account_save
from cameras.ingest import INGEST_REPLAY_TASK, ingest_delete
from cameras.models import Camera, FtpAccount, Ingest, Zone
from homesec.core.admin import AuditedAdmin, BigTableAdmin
from homesec.core.tasks import enqueue


class ZoneInline(admin.TabularInline):
    model = Zone
    extra = 0
    fields = ("name", "kind", "polygon", "enabled")


@admin.register(Camera)
class CameraAdmin(AuditedAdmin):
    list_display = ("name", "id", "folder", "enabled", "status", "last_seen_at", "time_zone", "offline_after_min")
    list_filter = ("enabled", "status", "time_zone")
    search_fields = ("id", "name", "folder")
    readonly_fields = ("id", "folder", "status", "status_reason", "last_seen_at", "rejected_streak", "created_at")
    fields = (
        "id",
        "name",
        "folder",
        "enabled",
        "time_zone",
        "offline_after_min",
        "filters",
        "status",
        "status_reason",
        "last_seen_at",
        "rejected_streak",
        "created_at",
    )
    inlines = [ZoneInline]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # a camera is a folder: it appears when its folder does


@admin.register(Zone)
class ZoneAdmin(AuditedAdmin):
    list_display = ("name", "camera", "kind", "enabled")
    list_filter = ("kind", "enabled", "camera")
    search_fields = ("name", "camera__name")


@admin.register(Ingest)
class IngestAdmin(BigTableAdmin):
    list_display = ("path", "camera", "status", "reason", "media_type", "arrived_at", "captured_at", "attempts")
    list_filter = ("status", "camera")
    list_select_related = ("camera",)
    search_fields = ("path", "sha256", "reason")
    actions = ("replay",)

    @admin.action(description="Retry the selected failed ingests", permissions=["act"])
    def replay(self, request: HttpRequest, queryset: QuerySet[Ingest]) -> None:
        # Queued for a worker: a file is never decoded inside the web process.
        ids = list(queryset.filter(status=Ingest.Status.FAILED).values_list("pk", flat=True))
        if ids:
            enqueue(INGEST_REPLAY_TASK, {"ingest_ids": ids})
        self.message_user(request, f"Queued {len(ids)} failed ingest(s) to be tried again; others were left alone.")

    def delete_model(self, request: HttpRequest, obj: Ingest) -> None:
        ingest_delete(ingest_ids=[obj.pk])

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[Ingest]) -> None:
        ingest_delete(ingest_ids=list(queryset.values_list("pk", flat=True)))


@admin.register(FtpAccount)
class FtpAccountAdmin(admin.ModelAdmin):
    form = FtpAccountForm
    list_display = ("username", "camera", "enabled", "last_login_at")
    list_filter = ("enabled",)
    search_fields = ("username", "camera__name")
    readonly_fields = ("last_login_at",)

    def save_model(self, request: HttpRequest, obj: FtpAccount, form: Any, change: bool) -> None:
        ftp_account_save(account=obj, password=form.cleaned_data.get("password") or "")
