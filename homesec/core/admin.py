from django.contrib import admin, messages
from django.shortcuts import redirect
from django.urls import path

from homesec.core.deadletters import dead_letter_discard, dead_letter_replay
from homesec.core.models import ApiToken, Breaker, DeadLetter, Heartbeat, LiveMessage, LoginFailure
from homesec.core.services import api_token_issue, api_token_revoke


class ReadOnlyAdmin(admin.ModelAdmin):
    """Append-only tables: the operator inspects them, nobody edits them by hand."""

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(Heartbeat)
class HeartbeatAdmin(ReadOnlyAdmin):
    list_display = ("name", "role", "pid", "started_at", "beat_at")
    list_filter = ("role", "hostname")


@admin.register(LiveMessage)
class LiveMessageAdmin(ReadOnlyAdmin):
    list_display = ("id", "stream", "kind", "created_at")
    list_filter = ("stream", "kind")
    search_fields = ("kind",)


@admin.register(LoginFailure)
class LoginFailureAdmin(ReadOnlyAdmin):
    list_display = ("at", "username", "ip")
    search_fields = ("username", "ip")


@admin.register(ApiToken)
class ApiTokenAdmin(admin.ModelAdmin):
    list_display = ("name", "user", "prefix", "created_at", "last_used_at", "revoked_at")
    list_filter = ("revoked_at",)
    search_fields = ("name", "user__username", "prefix")
    fields = ("user", "name", "prefix", "created_at", "last_used_at", "revoked_at")
    readonly_fields = ("prefix", "created_at", "last_used_at", "revoked_at")
    actions = ("revoke",)

    def has_change_permission(self, request, obj=None):
        return obj is None

    def save_model(self, request, obj, form, change):
        key = api_token_issue(token=obj)
        messages.warning(request, f"API token for {obj.user}: {key} — copy it now, it is not shown again.")

    @admin.action(description="Revoke the selected tokens")
    def revoke(self, request, queryset):
        for token in queryset:
            api_token_revoke(token=token)
        self.message_user(request, f"Revoked {queryset.count()} token(s).")


@admin.register(DeadLetter)
class DeadLetterAdmin(ReadOnlyAdmin):
    """Failed work: inspect the payload and error, replay one, the selected or all, or discard."""

    list_display = ("key", "task", "attempts", "first_failed_at", "last_failed_at", "replayed_at", "short_error")
    list_filter = ("task",)
    search_fields = ("key", "error")
    readonly_fields = (
        "key",
        "task",
        "payload",
        "error",
        "attempts",
        "first_failed_at",
        "last_failed_at",
        "replayed_at",
        "replay_count",
    )
    actions = ("replay_selected", "discard_selected")
    change_list_template = "admin/core/deadletter/change_list.html"

    def has_delete_permission(self, request, obj=None):
        return True

    @admin.display(description="error")
    def short_error(self, obj):
        return obj.error[:120]

    @admin.action(description="Replay the selected failed work")
    def replay_selected(self, request, queryset):
        self.message_user(request, f"Replaying {dead_letter_replay(letters=list(queryset))} item(s).")

    @admin.action(description="Discard the selected failed work")
    def discard_selected(self, request, queryset):
        self.message_user(request, f"Discarded {dead_letter_discard(letters=list(queryset))} item(s).")

    def get_urls(self):
        replay_all = self.admin_site.admin_view(self.replay_all_view)
        return [path("replay-all/", replay_all, name="core_deadletter_replay_all"), *super().get_urls()]

    def replay_all_view(self, request):
        if request.method == "POST" and self.has_view_permission(request):
            count = dead_letter_replay(letters=list(DeadLetter.objects.all()))
            self.message_user(request, f"Replaying all {count} item(s).", messages.SUCCESS)
        return redirect("admin:core_deadletter_changelist")


@admin.register(Breaker)
class BreakerAdmin(ReadOnlyAdmin):
    """Circuit breakers in front of remote services: open means work is waiting for it."""

    list_display = ("name", "state", "opened_at", "changed_at", "last_error")
