"""The operator console for the shared rows, and the rules every console page follows:
each action and custom page says which permission it needs (Django checks `change`,
`delete` and `view` itself; `act` is ours, below), and the task queue's own pages are for
superusers only."""

from __future__ import annotations

import copy
import re
from collections.abc import Iterable
from functools import cached_property
from typing import Any

from django.contrib import admin, messages
from django.contrib.admin.filters import ChoicesFieldListFilter
from django.contrib.auth import get_permission_codename, get_user_model
from django.contrib.auth.admin import UserAdmin
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.db import transaction
from django.db.models import Field, ForeignKey, Model, QuerySet
from django.db.models.options import Options
from django.forms import ModelChoiceField
from django.http import HttpRequest, HttpResponse
from django.http.response import HttpResponseBase
from django.shortcuts import redirect
from django.urls import URLPattern, path

from homesec.core.audit import audit, audit_deleted, audit_plain, audit_saved, audit_target
from homesec.core.auth import signed_in_user as signed_in_user  # the console's actions record who acted
from homesec.core.deadletters import dead_letter_discard, dead_letter_replay
from homesec.core.live import STREAMS
from homesec.core.models import ApiToken, Breaker, DeadLetter, Heartbeat, LiveMessage, LoginFailure
from homesec.core.selectors import table_row_estimate
from homesec.core.services import api_token_issue, api_token_revoke


def may_act(request: HttpRequest, opts: Options[Any]) -> bool:
    """Acting on rows nobody edits by hand (replay, acknowledge, revoke) takes the model's
    change permission: a viewer looks, an admin acts."""
    return request.user.has_perm(f"{opts.app_label}.{get_permission_codename('change', opts)}")


class ReadOnlyAdmin(admin.ModelAdmin):
    """Append-only tables: the operator inspects them, nobody edits them by hand; actions
    on them declare allowed_permissions=("act",)."""

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return False

    def has_act_permission(self, request: HttpRequest) -> bool:
        return may_act(request, self.opts)


class AuditedAdmin(admin.ModelAdmin):
    """For models the console saves itself, with no service in between: every save, delete
    and inline row goes into the audit log, in the transaction the console makes the change
    in. An admin that saves through a service overrides these hooks (the service records
    the change), so no change is recorded twice."""

    def save_model(self, request: HttpRequest, obj: Model, form: Any, change: bool) -> None:
        super().save_model(request, obj, form, change)
        detail = {name: _audit_value(name, form.cleaned_data.get(name)) for name in form.changed_data}
        if change and not detail:
            return
        verb = "change" if change else "create"
        audit(action=f"{obj._meta.model_name}.{verb}", target=audit_target(obj), detail=detail)

    def delete_model(self, request: HttpRequest, obj: Model) -> None:
        target = audit_target(obj)
        with transaction.atomic():
            super().delete_model(request, obj)
            audit_deleted(obj, target=target)

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> None:
        with transaction.atomic():
            rows = [(obj, audit_target(obj)) for obj in queryset]
            super().delete_queryset(request, queryset)
            for obj, target in rows:
                audit_deleted(obj, target=target)

    def save_formset(self, request: HttpRequest, form: Any, formset: Any, change: bool) -> None:
        super().save_formset(request, form, formset, change)
        for obj in formset.new_objects:
            audit_saved(obj, None)
        for obj, fields in formset.changed_objects:
            detail = {name: _audit_value(name, getattr(obj, name, None)) for name in fields}
            audit(action=f"{obj._meta.model_name}.change", target=audit_target(obj), detail=detail)
        for obj in formset.deleted_objects:
            audit_deleted(obj)


_SECRET_FIELD = re.compile(r"secret|password|token", flags=re.IGNORECASE)


def _audit_value(name: str, value: Any) -> Any:
    """A field's new value for the detail; a secret one only as "set"."""
    return "set" if _SECRET_FIELD.search(name) else audit_plain(value)


class EstimatedCountPaginator(Paginator):
    """Counting a million-row table takes seconds on PostgreSQL (it reads every row). An
    unfiltered list shows the planner's estimate instead, once the table is big enough for
    the difference not to matter; a filtered one counts what the filter selects, on an index."""

    ESTIMATE_FROM = 1000

    @cached_property
    def count(self) -> int:
        queryset = self.object_list
        if isinstance(queryset, QuerySet) and not queryset.query.where:
            estimate = table_row_estimate(queryset.model, using=queryset.db)
            if estimate is not None and estimate >= self.ESTIMATE_FROM:
                return estimate
        return super().count


class BigTableAdmin(ReadOnlyAdmin):
    """An append-only table that grows with every upload: no full count of the table (the
    "N total" link), an estimated page count, filters on indexed fields with fixed choices
    (a filter on a free field would read every row for its distinct values) and no
    date drill-down (its year and month links read every row too)."""

    paginator = EstimatedCountPaginator
    show_full_result_count = False
    date_hierarchy = None


def fixed_choices(choices: Iterable[str]) -> type[ChoicesFieldListFilter]:
    """A filter whose choices are known in advance, for a field stored without Django
    choices (a label, a stream): Django would otherwise read every row for its distinct
    values."""
    listed = [(value, value) for value in choices]

    class FixedChoices(ChoicesFieldListFilter):
        def __init__(self, field: Field, *args: Any, **kwargs: Any) -> None:
            field = copy.copy(field)  # the model's own field keeps no choices
            field.choices = listed
            super().__init__(field, *args, **kwargs)

    return FixedChoices


class SuperusersOnly(admin.ModelAdmin):
    """The task queue's own console pages (django-q2) can resubmit any task with its stored
    arguments: only a superuser may open them at all. Put in front of their admin classes
    (superusers_only)."""

    def has_module_permission(self, request: HttpRequest) -> bool:
        return request.user.is_active and request.user.is_superuser

    def has_view_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return self.has_module_permission(request)

    def has_change_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return self.has_module_permission(request) and super().has_change_permission(request, obj)

    def has_delete_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return self.has_module_permission(request) and super().has_delete_permission(request, obj)

    def has_add_permission(self, request: HttpRequest, *args: Any) -> bool:
        return self.has_module_permission(request) and super().has_add_permission(request, *args)


def superusers_only(model_admin_class: type[admin.ModelAdmin]) -> type[admin.ModelAdmin]:
    return type(f"SuperusersOnly{model_admin_class.__name__}", (SuperusersOnly, model_admin_class), {})


def restrict_task_queue_pages() -> None:
    for model, model_admin in list(admin.site._registry.items()):
        if model._meta.app_label == "django_q":
            admin.site.unregister(model)
            admin.site.register(model, superusers_only(type(model_admin)))


@admin.register(Heartbeat)
class HeartbeatAdmin(ReadOnlyAdmin):
    list_display = ("name", "role", "pid", "started_at", "beat_at")
    list_filter = ("role", "hostname")


@admin.register(LiveMessage)
class LiveMessageAdmin(BigTableAdmin):
    list_display = ("id", "stream", "kind", "created_at")
    list_filter = (("stream", fixed_choices(STREAMS)),)
    search_fields = ("kind",)


@admin.register(LoginFailure)
class LoginFailureAdmin(ReadOnlyAdmin):
    list_display = ("at", "username", "ip")
    search_fields = ("username", "ip")


@admin.register(ApiToken)
class ApiTokenAdmin(admin.ModelAdmin):
    """A token speaks for its user: an admin makes and revokes their own; only a superuser
    those of others."""

    list_display = ("name", "user", "prefix", "created_at", "last_used_at", "revoked_at")
    list_filter = ("revoked_at",)
    search_fields = ("name", "user__username", "prefix")
    fields = ("user", "name", "prefix", "created_at", "last_used_at", "revoked_at")
    readonly_fields = ("prefix", "created_at", "last_used_at", "revoked_at")
    actions = ("revoke",)

    def get_queryset(self, request: HttpRequest) -> QuerySet[ApiToken]:
        tokens = super().get_queryset(request)
        return tokens if request.user.is_superuser else tokens.filter(user=request.user)

    def formfield_for_foreignkey(
        self, db_field: ForeignKey[Any, Any], request: HttpRequest, **kwargs: Any
    ) -> ModelChoiceField | None:
        if db_field.name == "user" and not request.user.is_superuser:
            kwargs["queryset"] = get_user_model().objects.filter(pk__in=[request.user.pk])
            kwargs["initial"] = request.user.pk
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    def has_change_permission(self, request: HttpRequest, obj: ApiToken | None = None) -> bool:
        # A token is never edited (its key is shown once); the list's actions need the permission.
        return obj is None and super().has_change_permission(request, obj)

    def save_model(self, request: HttpRequest, obj: ApiToken, form: Any, change: bool) -> None:
        if obj.user_id != request.user.pk and not request.user.is_superuser:
            raise PermissionDenied("Only a superuser makes tokens for someone else.")
        key = api_token_issue(token=obj)
        messages.warning(request, f"API token for {obj.user}: {key} — copy it now, it is not shown again.")

    @admin.action(description="Revoke the selected tokens", permissions=["change"])
    def revoke(self, request: HttpRequest, queryset: QuerySet[ApiToken]) -> None:
        tokens = list(self.get_queryset(request).filter(pk__in=queryset.values("pk")))
        for token in tokens:
            api_token_revoke(token=token)
        self.message_user(request, f"Revoked {len(tokens)} token(s).")


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

    @admin.display(description="error")
    def short_error(self, obj: DeadLetter) -> str:
        return obj.error[:120]

    @admin.action(description="Replay the selected failed work", permissions=["act"])
    def replay_selected(self, request: HttpRequest, queryset: QuerySet[DeadLetter]) -> None:
        self.message_user(request, f"Replaying {dead_letter_replay(letters=list(queryset))} item(s).")

    @admin.action(description="Discard the selected failed work", permissions=["delete"])
    def discard_selected(self, request: HttpRequest, queryset: QuerySet[DeadLetter]) -> None:
        self.message_user(request, f"Discarded {dead_letter_discard(letters=list(queryset))} item(s).")

    def get_urls(self) -> list[URLPattern]:
        replay_all = self.admin_site.admin_view(self.replay_all_view)
        return [path("replay-all/", replay_all, name="core_deadletter_replay_all"), *super().get_urls()]

    def replay_all_view(self, request: HttpRequest) -> HttpResponseBase:
        if not self.has_act_permission(request):
            raise PermissionDenied
        if request.method == "POST":
            count = dead_letter_replay(letters=list(DeadLetter.objects.all()))
            self.message_user(request, f"Replaying all {count} item(s).", messages.SUCCESS)
        return redirect("admin:core_deadletter_changelist")

    def changelist_view(self, request: HttpRequest, extra_context: dict[str, Any] | None = None) -> HttpResponse:
        extra_context = {**(extra_context or {}), "may_replay": self.has_act_permission(request)}
        return super().changelist_view(request, extra_context)


@admin.register(Breaker)
class BreakerAdmin(ReadOnlyAdmin):
    """Circuit breakers in front of remote services: open means work is waiting for it."""

    list_display = ("name", "state", "opened_at", "changed_at", "last_error")


User = get_user_model()
admin.site.unregister(User)


@admin.register(User)
class MemberAdmin(UserAdmin):
    """The household's people. Apps add their own inlines (alerts: the member's alert settings)."""

    inlines = list(UserAdmin.inlines)


# django_q's admin module registered its pages before this one (INSTALLED_APPS order).
restrict_task_queue_pages()
