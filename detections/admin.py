from django.contrib import admin

from detections.models import Clip, Detection, DetectionRun
from detections.services import detection_replay
from homesec.core.admin import ReadOnlyAdmin


@admin.register(DetectionRun)
class DetectionRunAdmin(ReadOnlyAdmin):
    list_display = ("ingest", "status", "backend", "frames", "inference_ms", "attempts", "deferrals", "error")
    list_filter = ("status", "backend")
    search_fields = ("ingest__path", "error")
    actions = ("retry_failed",)

    @admin.action(description="Retry the selected failed detections")
    def retry_failed(self, request, queryset):
        ids = list(queryset.filter(status=DetectionRun.Status.FAILED).values_list("pk", flat=True))
        detection_replay(run_ids=ids)
        self.message_user(request, f"Retried {len(ids)} failed detection(s); others were left alone.")


@admin.register(Detection)
class DetectionAdmin(ReadOnlyAdmin):
    list_display = ("captured_at", "camera", "label", "confidence", "zones", "frame_offset_s", "thumbnail")
    list_filter = ("label", "camera")
    search_fields = ("ingest__path", "label")
    date_hierarchy = "captured_at"


@admin.register(Clip)
class ClipAdmin(ReadOnlyAdmin):
    list_display = ("ingest", "duration_s", "codec", "transcode", "playable", "transcode_error")
    list_filter = ("transcode", "codec")
