from django.contrib import admin

from cameras.models import Camera, Ingest, Zone
from cameras.services import ingest_replay
from homesec.core.admin import ReadOnlyAdmin


class ZoneInline(admin.TabularInline):
    model = Zone
    extra = 0
    fields = ("name", "kind", "polygon", "enabled")


@admin.register(Camera)
class CameraAdmin(admin.ModelAdmin):
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

    def has_add_permission(self, request):
        return False  # a camera is a folder: it appears when its folder does


@admin.register(Zone)
class ZoneAdmin(admin.ModelAdmin):
    list_display = ("name", "camera", "kind", "enabled")
    list_filter = ("kind", "enabled", "camera")
    search_fields = ("name", "camera__name")


@admin.register(Ingest)
class IngestAdmin(ReadOnlyAdmin):
    list_display = ("path", "camera", "status", "reason", "media_type", "arrived_at", "captured_at", "attempts")
    list_filter = ("status", "media_type", "camera", "captured_from")
    search_fields = ("path", "sha256", "reason")
    date_hierarchy = "arrived_at"
    actions = ("replay",)

    @admin.action(description="Retry the selected failed ingests")
    def replay(self, request, queryset):
        ids = list(queryset.filter(status=Ingest.Status.FAILED).values_list("pk", flat=True))
        ingest_replay(ingest_ids=ids)
        self.message_user(request, f"Retried {len(ids)} failed ingest(s); others were left alone.")
