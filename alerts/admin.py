"""The operator console for alerts: rules (with a test against past events), channels
(write-only secrets, a test send, the reason a channel was disabled), alerts (acknowledge,
dismiss), every notification and attempt, the household's mode and its members."""

from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html

from alerts.delivery import REPLAY_TASK, channel_send_test
from alerts.forms import AlertRuleForm, ChannelForm, ScheduleEntryForm, TestRuleForm
from alerts.models import (
    Alert,
    AlertCheck,
    AlertRule,
    CameraSnooze,
    Channel,
    Household,
    MemberProfile,
    ModeScheduleEntry,
    Notification,
    NotificationAttempt,
)
from alerts.selectors import household_mode, rule_test_against_events
from alerts.services import (
    alert_acknowledge,
    alert_dismiss,
    alert_rule_save,
    alert_rules_delete,
    channel_enable,
    channel_save,
    channels_delete,
    household_default_rule_removed_set,
    household_get_or_create,
    household_set_mode,
)
from homesec.core.admin import AuditedAdmin, MemberAdmin, ReadOnlyAdmin, signed_in_user
from homesec.core.tasks import enqueue

# --- Rules --------------------------------------------------------------------------------------


@admin.register(AlertRule)
class AlertRuleAdmin(admin.ModelAdmin):
    form = AlertRuleForm
    list_display = (
        "name",
        "enabled",
        "min_level",
        "min_risk_score",
        "severity",
        "cooldown_s",
        "all_channels",
        "default",
    )
    list_filter = ("enabled", "is_default")
    search_fields = ("name",)
    filter_horizontal = ("cameras", "zones", "channels")
    readonly_fields = ("is_default", "managed", "created_at", "updated_at")
    fieldsets = (
        (None, {"fields": ("name", "enabled", "severity")}),
        (
            "What must be seen",
            {"fields": ("min_risk_score", "min_level", "cameras", "zones", "classes", "min_confidence")},
        ),
        ("When", {"fields": ("days", "start_time", "end_time", "modes")}),
        ("Repeats", {"fields": ("cooldown_s", "dedup_key")}),
        ("Who hears of it", {"fields": ("all_channels", "channels")}),
        ("Record", {"fields": ("is_default", "managed", "created_at", "updated_at")}),
    )
    actions = ("test_against_events",)

    @admin.display(boolean=True, description="default")
    def default(self, obj: AlertRule) -> bool:
        return obj.is_default

    def save_model(self, request: HttpRequest, obj: AlertRule, form: Any, change: bool) -> None:
        alert_rule_save(rule=obj, edited=change)

    def delete_model(self, request: HttpRequest, obj: AlertRule) -> None:
        alert_rules_delete(rules=[obj])

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[AlertRule]) -> None:
        alert_rules_delete(rules=queryset)

    @admin.action(description="Test this rule against the last N events", permissions=["view"])
    def test_against_events(self, request: HttpRequest, queryset: QuerySet[AlertRule]) -> TemplateResponse | None:
        if queryset.count() != 1:
            self.message_user(request, "Select exactly one rule to test.", messages.WARNING)
            return None
        rule = queryset.get()
        form = TestRuleForm(request.POST if "count" in request.POST else None)
        context = {
            **self.admin_site.each_context(request),
            "title": f"Test “{rule}” against past events",
            "rule": rule,
            "form": form,
            "opts": self.model._meta,
            "action": "test_against_events",
            "selected": rule.pk,
        }
        if form.is_valid():
            mode, rows = rule_test_against_events(rule=rule, count=form.cleaned_data["count"], now=timezone.now())
            context.update(mode=mode, rows=rows, matched=sum(r["matched"] for r in rows))
        return TemplateResponse(request, "admin/alerts/alertrule/test_rule.html", context)


# --- Channels -----------------------------------------------------------------------------------


@admin.register(Channel)
class ChannelAdmin(admin.ModelAdmin):
    form = ChannelForm
    list_display = ("name", "kind", "enabled", "owner", "secret", "last_success_at", "last_error_at", "trouble")
    list_filter = ("kind", "enabled", "from_environment")
    search_fields = ("name", "disabled_reason", "last_error")
    readonly_fields = (
        "secret",
        "disabled_reason",
        "from_environment",
        "last_success_at",
        "last_error",
        "last_error_at",
    )
    fields = ("name", "kind", "enabled", "disabled_reason", "owner", "config", "new_secret", "clear_secret") + (
        "secret",
        "from_environment",
        "last_success_at",
        "last_error",
        "last_error_at",
    )
    actions = ("send_test", "enable")

    def save_model(self, request: HttpRequest, obj: Channel, form: Any, change: bool) -> None:
        channel_save(
            channel=obj,
            new_secret=form.cleaned_data.get("new_secret") or "",
            clear_secret=bool(form.cleaned_data.get("clear_secret")),
        )

    def delete_model(self, request: HttpRequest, obj: Channel) -> None:
        channels_delete(channels=[obj])

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[Channel]) -> None:
        channels_delete(channels=queryset)

    @admin.display(description="stored secret")
    def secret(self, obj: Channel) -> str:
        return "set (hidden)" if obj.has_secret else "none"

    @admin.display(description="disabled because / last error")
    def trouble(self, obj: Channel) -> str:
        return obj.disabled_reason or obj.last_error

    @admin.action(description="Send a test notification", permissions=["change"])
    def send_test(self, request: HttpRequest, queryset: QuerySet[Channel]) -> None:
        for channel in queryset:
            sent = channel_send_test(channel=channel)
            if sent.ok:
                self.message_user(request, f"{channel}: test delivered in {sent.latency_ms:.0f} ms.", messages.SUCCESS)
            else:
                self.message_user(request, f"{channel}: test failed: {sent.error}", messages.ERROR)

    @admin.action(description="Enable (clears the reason it was disabled)", permissions=["change"])
    def enable(self, request: HttpRequest, queryset: QuerySet[Channel]) -> None:
        count = channel_enable(channel_ids=queryset.values_list("pk", flat=True))
        self.message_user(request, f"Enabled {count} channel(s). Replay their failed notifications under Dead letters.")


# --- Alerts and what was sent -------------------------------------------------------------------


class NotificationInline(admin.TabularInline):
    model = Notification
    extra = 0
    can_delete = False
    fields = ("channel", "round", "status", "attempts", "deferrals", "error", "latency_ms", "delivered_at")
    readonly_fields = fields
    show_change_link = True

    def has_add_permission(self, request: HttpRequest, obj: Notification | None = None) -> bool:
        return False


@admin.register(Alert)
class AlertAdmin(ReadOnlyAdmin):
    list_display = ("created_at", "title", "severity", "state", "kind", "rule_name", "escalation", "renotify_count")
    list_filter = ("state", "severity", "kind", "escalation", "camera", "rule")
    search_fields = ("title", "dedup_key", "rule_name")
    date_hierarchy = "created_at"
    readonly_fields = (
        "kind",
        "event_link",
        "camera",
        "rule",
        "rule_name",
        "severity",
        "level",
        "risk_score",
        "title",
        "state",
        "state_reason",
        "dedup_key",
        "matched",
        "escalation",
        "renotify_count",
        "last_notified_at",
        "created_at",
        "delivered_at",
        "acknowledged_at",
        "dismissed_at",
        "handled_by",
    )
    fields = readonly_fields
    inlines = [NotificationInline]
    actions = ("acknowledge", "dismiss")

    @admin.display(description="event")
    def event_link(self, obj: Alert) -> str:
        if not obj.event_id:
            return "—"
        return format_html(
            '<a href="{}">event {}</a>', reverse("admin:events_event_change", args=[obj.event_id]), obj.event_id
        )

    @admin.action(description="Acknowledge (seen and handled; no more reminders)", permissions=["act"])
    def acknowledge(self, request: HttpRequest, queryset: QuerySet[Alert]) -> None:
        count = sum(alert_acknowledge(alert=alert, user=signed_in_user(request)) for alert in queryset)
        self.message_user(request, f"Acknowledged {count} alert(s).")

    @admin.action(description="Dismiss (not worth acting on; no more reminders)", permissions=["act"])
    def dismiss(self, request: HttpRequest, queryset: QuerySet[Alert]) -> None:
        count = sum(alert_dismiss(alert=alert, user=signed_in_user(request)) for alert in queryset)
        self.message_user(request, f"Dismissed {count} alert(s).")


class AttemptInline(admin.TabularInline):
    model = NotificationAttempt
    extra = 0
    can_delete = False
    fields = ("number", "at", "ok", "status_code", "latency_ms", "error")
    readonly_fields = fields

    def has_add_permission(self, request: HttpRequest, obj: NotificationAttempt | None = None) -> bool:
        return False


@admin.register(Notification)
class NotificationAdmin(ReadOnlyAdmin):
    list_display = ("id", "created_at", "alert", "channel", "round", "status", "attempts", "deferrals", "error", "test")
    list_filter = ("status", "channel", "test")
    search_fields = ("error", "alert__title")
    readonly_fields = (
        "id",
        "alert",
        "channel",
        "round",
        "test",
        "status",
        "attempts",
        "deferrals",
        "deferred_s",
        "error",
        "latency_ms",
        "next_attempt_at",
        "claimed_at",
        "queued_at",
        "created_at",
        "delivered_at",
    )
    fields = readonly_fields
    inlines = [AttemptInline]
    actions = ("replay_failed",)

    @admin.action(
        description="Send the selected failed notifications again (same idempotency keys)", permissions=["act"]
    )
    def replay_failed(self, request: HttpRequest, queryset: QuerySet[Notification]) -> None:
        # Queued on the alert lane: a receiver that hangs never holds up a console page.
        ids = list(queryset.filter(status=Notification.Status.FAILED, test=False).values_list("pk", flat=True))
        if ids:
            enqueue(REPLAY_TASK, {"notification_ids": ids})
        self.message_user(request, f"Queued {len(ids)} failed notification(s) to be sent again.")


@admin.register(AlertCheck)
class AlertCheckAdmin(ReadOnlyAdmin):
    """Why an assessment did or did not alert: one row per assessment checked."""

    list_display = ("created_at", "event", "seq", "risk_level", "risk_score", "assessment_state", "outcome")
    list_filter = ("assessment_state", "risk_level")
    search_fields = ("outcome",)
    readonly_fields = ("event", "seq", "risk_score", "risk_level", "assessment_state", "outcome", "decisions")
    fields = readonly_fields


@admin.register(CameraSnooze)
class CameraSnoozeAdmin(ReadOnlyAdmin):
    """Cameras whose notifications the household snoozed (set on the alerts page); a row
    whose end has passed is over and changes nothing."""

    list_display = ("camera", "until", "set_by", "set_at")
    readonly_fields = ("camera", "until", "set_by", "set_at")
    fields = readonly_fields


# --- The household -------------------------------------------------------------------------------


@admin.register(Household)
class HouseholdAdmin(admin.ModelAdmin):
    """One row: the mode set by hand; the schedule entries switch it too."""

    list_display = ("__str__", "mode", "mode_now", "mode_set_at", "mode_set_by")
    fields = ("mode", "mode_now", "mode_set_at", "mode_set_by", "default_rule_removed")
    readonly_fields = ("mode_now", "mode_set_at", "mode_set_by")

    @admin.display(description="mode in effect now")
    def mode_now(self, obj: Household) -> str:
        now = household_mode(now=timezone.now())
        return f"{now.mode} ({now.source})"

    def has_add_permission(self, request: HttpRequest) -> bool:
        return not Household.objects.exists()

    def has_delete_permission(self, request: HttpRequest, obj: Household | None = None) -> bool:
        return False

    def changelist_view(self, request: HttpRequest, extra_context: dict[str, Any] | None = None) -> HttpResponse:
        household_get_or_create()  # the one row exists from the first visit
        return super().changelist_view(request, extra_context)

    def save_model(self, request: HttpRequest, obj: Household, form: Any, change: bool) -> None:
        if "mode" in form.changed_data or not change:
            household_set_mode(mode=obj.mode, user=signed_in_user(request))
        household_default_rule_removed_set(removed=obj.default_rule_removed)
        obj.pk = household_get_or_create().pk  # the one row, whether this form added it or not
        obj.refresh_from_db()


@admin.register(ModeScheduleEntry)
class ModeScheduleEntryAdmin(AuditedAdmin):
    form = ScheduleEntryForm
    list_display = ("__str__", "mode", "at", "enabled")
    list_filter = ("mode", "enabled")


class MemberProfileInline(admin.StackedInline):
    model = MemberProfile
    can_delete = False
    verbose_name_plural = "household member (alerts)"
    fields = ("email", "quiet_hours", "critical_breaks_through", "camera_min_risk", "time_zone")


MemberAdmin.inlines.append(MemberProfileInline)  # a member's alert settings, on their user page
