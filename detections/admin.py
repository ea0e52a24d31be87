from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest

from detections.models import CLASSES, Clip, Detection, DetectionRun
from detections.services import REPLAY_TASK
from homesec.core.admin import BigTableAdmin, ReadOnlyAdmin, fixed_choices
from homesec.core.tasks import enqueue


@admin.register(DetectionRun)
class DetectionRunAdmin(BigTableAdmin):
    list_display = ("ingest", "status", "backend", "frames", "inference_ms", "attempts", "deferrals", "error")
    list_filter = ("status",)
    list_select_related = ("ingest",)
    search_fields = ("ingest__path", "error")
    actions = ("retry_failed",)

    @admin.action(description="Retry the selected failed detections", permissions=["act"])
    def retry_failed(self, request: HttpRequest, queryset: QuerySet[DetectionRun]) -> None:
        # Queued for a worker: the detector never runs inside the web process.
        ids = list(queryset.filter(status=DetectionRun.Status.FAILED).values_list("pk", flat=True))
        if ids:
            enqueue(REPLAY_TASK, {"run_ids": ids})
        self.message_user(request, f"Queued {len(ids)} failed detection(s) to be tried again; others were left alone.")


@admin.register(Detection)
class DetectionAdmin(BigTableAdmin):
    list_display = ("captured_at", "camera", "label", "confidence", "zones", "frame_offset_s", "thumbnail")
    list_filter = (("label", fixed_choices(CLASSES)), "camera")
    list_select_related = ("camera",)
    search_fields = ("ingest__path", "label")


@admin.register(Clip)
class ClipAdmin(ReadOnlyAdmin):
    list_display = ("ingest", "duration_s", "codec", "transcode", "playable", "transcode_error")
    list_filter = ("transcode", "codec")
