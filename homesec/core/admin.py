from django.contrib import admin, messages

from homesec.core.models import ApiToken, Heartbeat, LiveMessage, LoginFailure
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
