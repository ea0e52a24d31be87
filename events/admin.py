from typing import Any

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils.html import format_html, format_html_join
from django.utils.safestring import mark_safe

from events.assessment import (
    prompt_replay_start,
    prompt_version_activate,
    prompt_version_roll_back,
    prompt_version_save,
)
from events.models import ActivityCount, Event, PromptReplay, PromptVersion, SeverityLevel
from events.selectors import event_ids_recently_assessed, prompt_version_newest
from events.services import REVIEW_FIELDS, event_delete, event_review
from homesec.core.admin import AuditedAdmin, ReadOnlyAdmin


@admin.register(Event)
class EventAdmin(admin.ModelAdmin):
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
    actions = ("replay_with_newest_prompt",)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def get_readonly_fields(self, request: HttpRequest, obj: Event | None = None) -> list[str]:
        # Everything but the review is the system's record.
        return [f.name for f in Event._meta.fields if f.name not in REVIEW_FIELDS] + ["detections"]

    def save_model(self, request: HttpRequest, obj: Event, form: Any, change: bool) -> None:
        event_review(
            event=obj, **{name: form.cleaned_data[name] for name in REVIEW_FIELDS if name in form.cleaned_data}
        )

    def delete_model(self, request: HttpRequest, obj: Event) -> None:
        event_delete(event=obj)

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[Event]) -> None:
        for event in queryset:
            event_delete(event=event)

    @admin.action(
        description="Replay the newest prompt version on these events (changes nothing)", permissions=["change"]
    )
    def replay_with_newest_prompt(self, request: HttpRequest, queryset: QuerySet[Event]) -> None:
        prompt = prompt_version_newest()
        if prompt is None:
            self.message_user(request, "There is no prompt version yet.", messages.WARNING)
            return
        replay = prompt_replay_start(prompt=prompt, event_ids=list(queryset.values_list("pk", flat=True)))
        self.message_user(request, f"Replaying {prompt} on {queryset.count()} event(s): see {replay}.")


@admin.register(SeverityLevel)
class SeverityLevelAdmin(AuditedAdmin):
    """The one score -> level table. Edits apply to new assessments only."""

    list_display = ("name", "min_score")
    ordering = ("min_score",)


@admin.register(ActivityCount)
class ActivityCountAdmin(ReadOnlyAdmin):
    list_display = ("camera", "hour_of_week", "count")
    list_filter = ("camera",)


@admin.register(PromptVersion)
class PromptVersionAdmin(admin.ModelAdmin):
    """Editing a version saves a new one; activate it, or roll back to the one before."""

    list_display = ("version", "active", "note", "created_at")
    fields = ("system_prompt", "note", "version", "active", "created_at")
    readonly_fields = ("version", "active", "created_at")
    actions = ("activate", "roll_back", "replay_recent")

    def save_model(self, request: HttpRequest, obj: PromptVersion, form: Any, change: bool) -> None:
        new = prompt_version_save(text=obj.system_prompt, note=obj.note)
        obj.pk, obj.version = new.pk, new.version
        self.message_user(request, f"Saved as {new}; activate it to use it.")

    @admin.action(description="Activate the selected version", permissions=["change"])
    def activate(self, request: HttpRequest, queryset: QuerySet[PromptVersion]) -> None:
        if queryset.count() != 1:
            self.message_user(request, "Select exactly one version.", messages.WARNING)
            return
        prompt_version_activate(prompt=queryset.get())
        self.message_user(request, f"{queryset.get()} is active.")

    @admin.action(description="Roll back to the version before the active one", permissions=["change"])
    def roll_back(self, request: HttpRequest, queryset: QuerySet[PromptVersion]) -> None:
        previous = prompt_version_roll_back()
        self.message_user(request, f"{previous} is active." if previous else "Nothing to roll back to.")

    @admin.action(description="Replay on the 50 most recent assessed events (changes nothing)", permissions=["change"])
    def replay_recent(self, request: HttpRequest, queryset: QuerySet[PromptVersion]) -> None:
        ids = event_ids_recently_assessed(limit=50)
        for prompt in queryset:
            prompt_replay_start(prompt=prompt, event_ids=ids)
        self.message_user(request, f"Replaying {queryset.count()} version(s) on {len(ids)} event(s).")


@admin.register(PromptReplay)
class PromptReplayAdmin(ReadOnlyAdmin):
    list_display = ("prompt", "status", "created_at", "finished_at")
    readonly_fields = ("prompt", "status", "created_at", "finished_at", "comparison")
    fields = readonly_fields

    @admin.display(description="old and new, side by side")
    def comparison(self, obj: PromptReplay) -> str:
        rows = format_html_join(
            "",
            "<tr><td>{}</td><td>{}</td><td>{} {}</td><td>{} {}</td><td>{}</td></tr>",
            (
                (
                    r["event"],
                    r["camera"],
                    r["old_score"],
                    r["old_level"],
                    r["new_score"],
                    r["new_level"],
                    r.get("error", ""),
                )
                for r in obj.results
            ),
        )
        header = "<tr><th>event</th><th>camera</th><th>old</th><th>new</th><th>error</th></tr>"
        return format_html("<table>{}{}</table>", mark_safe(header), rows)
