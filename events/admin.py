from django.contrib import admin

from events.models import ActivityCount, Event, SeverityLevel
from homesec.core.admin import ReadOnlyAdmin


@admin.register(Event)
class EventAdmin(ReadOnlyAdmin):
    list_display = (
        "id",
        "camera",
        "status",
        "started_at",
        "ended_at",
        "detection_count",
        "classes",
        "max_confidence",
        "close_reason",
        "previous",
        "late",
    )
    list_filter = ("status", "close_reason", "late", "camera")
    search_fields = ("camera__name", "zones")
    date_hierarchy = "started_at"
    readonly_fields = ("detections",)


@admin.register(SeverityLevel)
class SeverityLevelAdmin(admin.ModelAdmin):
    """The one score -> level table. Edits apply to new assessments only."""

    list_display = ("name", "min_score")
    ordering = ("min_score",)


@admin.register(ActivityCount)
class ActivityCountAdmin(ReadOnlyAdmin):
    list_display = ("camera", "hour_of_week", "count")
    list_filter = ("camera",)
