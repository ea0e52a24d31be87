"""The operator console's permissions, for every model registered in it.

A staff user who may only view runs every action and every custom console page of every
registered model against real rows: each is refused (403) or changes nothing — no row, no
queued task. The same actions run by a superuser do change things, which shows that the
fingerprint used here sees a change when there is one."""

from __future__ import annotations

import hashlib
from datetime import timedelta

import pytest
from django.apps import apps
from django.contrib import admin
from django.contrib.auth.models import Group, Permission
from django.urls import NoReverseMatch, reverse
from django.utils import timezone

from alerts.engine import alerts_evaluate
from alerts.models import AlertRule, Channel, Household, ModeScheduleEntry, Notification
from alerts.services import camera_snooze
from cameras.ftp import ftp_account_create
from cameras.models import Camera, Ingest, Zone
from detections.models import Clip, DetectionRun
from events.models import ActivityCount, PromptReplay, PromptVersion, SeverityLevel
from homesec.core.deadletters import dead_letter_record
from homesec.core.models import ApiToken, Breaker, DeadLetter, LiveMessage, LoginFailure
from homesec.core.services import api_token_create, heartbeat_beat
from monitoring.models import CleanupRun
from tests.alerts.factory import assessed_event, webhook_channel

pytestmark = pytest.mark.django_db(transaction=True)  # queued tasks are part of "no effect"
PASSWORD = "a-long-test-password-1"
STANDARD_VIEWS = {"changelist", "add", "history", "delete", "change", "autocomplete"}


@pytest.fixture
def world(admin_user, receiver):
    """At least one row of every model the console shows; returns the superuser."""
    from django_q.models import OrmQ, Schedule, Task

    from events.selectors import DEFAULT_LEVELS

    for name, minimum in DEFAULT_LEVELS:
        SeverityLevel.objects.get_or_create(name=name, defaults={"min_score": minimum})
    api_token_create(user=admin_user, name="the admin's phone")
    Group.objects.get_or_create(name="viewer")
    webhook_channel(receiver.url)
    AlertRule.objects.create(name="everything", all_channels=True)
    event = assessed_event(at=timezone.now() - timedelta(minutes=1))
    [alert] = alerts_evaluate(event_id=event.pk, now=timezone.now())
    Notification.objects.filter(alert=alert).update(status="failed")
    camera = Camera.objects.get()
    Zone.objects.create(camera=camera, name="porch", kind="entry", polygon=[[0, 0], [1, 0], [1, 1]])
    ftp_account_create(camera=camera, username="doorcam", password=PASSWORD)
    ingest = Ingest.objects.get()
    Ingest.objects.filter(pk=ingest.pk).update(status="failed")
    failed = Ingest.objects.create(
        camera=camera,
        path="front_door/x.jpg",
        size=1,
        mtime_ns=1,
        status="failed",
        arrived_at=timezone.now(),
        queued_at=timezone.now(),
    )
    run = DetectionRun.objects.create(ingest=failed, status="failed", queued_at=timezone.now())
    Clip.objects.create(ingest=ingest, size=1, queued_at=timezone.now(), transcode="failed")
    dead_letter_record(
        key=f"detect:{run.pk}", task="detections.tasks.detection_replay", payload={"run_ids": [run.pk]}, error="refused"
    )
    ActivityCount.objects.create(camera=camera, hour_of_week=1, count=1)
    prompt = PromptVersion.objects.create(version=1, system_prompt="Be careful.")
    PromptVersion.objects.create(version=2, system_prompt="Be very careful.", active=True)
    PromptReplay.objects.create(prompt=prompt, event_ids=[event.pk])
    Household.objects.get_or_create(pk=1)
    ModeScheduleEntry.objects.create(at="22:00", mode="night")
    camera_snooze(camera=camera, until=timezone.now() + timedelta(hours=1), user=admin_user)
    heartbeat_beat(role="worker", name="worker@test", started_at=timezone.now())
    LiveMessage.objects.create(stream="events", kind="test")
    LoginFailure.objects.create(username=admin_user.username, ip="127.0.0.1")
    Breaker.objects.create(name="detector")
    CleanupRun.objects.create(trigger="command", status="done", finished_at=timezone.now())
    now = timezone.now()
    Task.objects.create(
        id="t1",
        name="done",
        func="events.tasks.assessment_rules_due",
        args=(event.pk,),
        started=now,
        stopped=now,
        success=True,
    )
    Task.objects.create(
        id="t2",
        name="failed",
        func="events.tasks.assessment_rules_due",
        args=(event.pk,),
        started=now,
        stopped=now,
        success=False,
    )
    Schedule.objects.create(func="homesec.core.live.live_prune", name="prune")
    OrmQ.objects.create(key="nothing", payload="x", lock=now)
    return admin_user


def registered():
    return sorted(admin.site._registry.items(), key=lambda item: item[0]._meta.label)


def fingerprint(queues) -> str:
    """Every row of every model, and every queued task."""
    digest = hashlib.sha256()
    for model in apps.get_models():
        if model._meta.label in ("sessions.Session", "admin.LogEntry"):
            continue
        digest.update(repr(list(model.objects.order_by("pk").values())).encode())
    for lane in queues.LANES:
        digest.update(repr(queues.queued(lane)).encode())
    return digest.hexdigest()


def every_action(model_admin, request):
    return sorted(model_admin.get_actions(request))


def custom_urls(model_admin):
    """(name, url) of the console pages a model admin adds beyond the standard ones."""
    opts = model_admin.model._meta
    prefix = f"{opts.app_label}_{opts.model_name}_"
    found = []
    for pattern in model_admin.get_urls():
        name = getattr(pattern, "name", None)
        if not name or name.removeprefix(prefix) in STANDARD_VIEWS:
            continue
        try:
            found.append((name, reverse(f"admin:{name}")))
        except NoReverseMatch:
            row = model_admin.model._default_manager.order_by("pk").first()
            found.append((name, reverse(f"admin:{name}", args=[row.pk])))
    return found


@pytest.fixture
def looker(django_user_model):
    """A staff user holding every view permission and nothing else."""
    user = django_user_model.objects.create_user("looker", password=PASSWORD, is_staff=True)
    user.user_permissions.set(Permission.objects.filter(codename__startswith="view_"))
    return user


def test_every_registered_model_has_rows_here_so_no_action_is_tried_on_nothing(world):
    empty = [m._meta.label for m, _ in registered() if not m._default_manager.exists()]
    assert empty == []


def test_a_view_only_staff_user_can_run_no_action_and_no_custom_page(world, looker, client, rf, queues):
    client.force_login(looker)
    superuser_request = rf.get("/admin/")
    superuser_request.user = world
    tried = []
    for model, model_admin in registered():
        opts = model._meta
        changelist = reverse(f"admin:{opts.app_label}_{opts.model_name}_changelist")
        pks = [str(pk) for pk in model._default_manager.values_list("pk", flat=True)]
        for action in every_action(model_admin, superuser_request):
            before = fingerprint(queues)
            response = client.post(changelist, {"action": action, "_selected_action": pks, "post": "yes"})
            assert response.status_code in (200, 302, 403), (opts.label, action, response.status_code)
            assert fingerprint(queues) == before, f"{opts.label}: action {action} changed something"
            tried.append(action)
        for name, url in custom_urls(model_admin):
            for method in (client.get, client.post):
                before = fingerprint(queues)
                response = method(url)
                assert response.status_code in (302, 403), (name, response.status_code)
                assert fingerprint(queues) == before, f"{name} changed something"
                tried.append(name)
    assert {"revoke", "discard_selected", "acknowledge", "activate", "resubmit_task"} <= set(tried)


def test_the_same_actions_by_a_superuser_do_change_things(world, client, queues):
    client.force_login(world)
    token = ApiToken.objects.get()
    before = fingerprint(queues)
    client.post("/admin/core/apitoken/", {"action": "revoke", "_selected_action": [token.pk]})
    assert fingerprint(queues) != before
    before = fingerprint(queues)
    client.post(reverse("admin:core_deadletter_replay_all"))
    assert fingerprint(queues) != before and DeadLetter.objects.get().replay_count == 1


def test_the_admin_role_holds_every_homesec_permission_and_the_viewer_role_only_view_ones():
    admin_perms = set(Group.objects.get(name="admin").permissions.values_list("content_type__app_label", "codename"))
    viewer_perms = set(Group.objects.get(name="viewer").permissions.values_list("content_type__app_label", "codename"))
    for label in ("core", "cameras", "detections", "events", "alerts"):
        for model in apps.get_app_config(label).get_models():
            for action in ("view", "change"):
                assert (label, f"{action}_{model._meta.model_name}") in admin_perms
            assert (label, f"view_{model._meta.model_name}") in viewer_perms
    assert all(codename.startswith("view_") for _, codename in viewer_perms)
    assert not any(label in ("auth", "django_q") for label, _ in admin_perms)


def test_an_admin_who_is_not_a_superuser_sees_a_working_console(operator, client):
    client.force_login(operator)
    assert client.get("/admin/events/event/").status_code == 200
    assert client.get("/admin/alerts/alertrule/").status_code == 200
    assert client.get("/admin/django_q/failure/").status_code == 403  # the task queue's pages: superusers only


def test_a_viewer_gets_no_console(viewer, viewer_client):
    assert not viewer.is_staff
    assert viewer_client.get("/admin/events/event/").status_code in (302, 403)


def test_only_a_superuser_makes_api_tokens_for_someone_else(world, operator, client):
    client.force_login(operator)
    client.post("/admin/core/apitoken/add/", {"user": world.pk, "name": "sneaky"})
    assert not ApiToken.objects.filter(name="sneaky", user=world).exists()
    client.post("/admin/core/apitoken/add/", {"user": operator.pk, "name": "mine"})
    assert ApiToken.objects.filter(name="mine", user=operator).exists()
    token = ApiToken.objects.get(user=world)
    client.post("/admin/core/apitoken/", {"action": "revoke", "_selected_action": [token.pk]})
    assert ApiToken.objects.get(pk=token.pk).revoked_at is None  # not theirs to revoke


def test_retrying_failed_work_from_the_console_queues_it_and_does_not_run_it_in_the_web_process(world, client, queues):
    client.force_login(world)
    ingest = Ingest.objects.filter(status="failed").first()
    client.post("/admin/cameras/ingest/", {"action": "replay", "_selected_action": [ingest.pk]})
    assert Ingest.objects.get(pk=ingest.pk).status == "failed"  # untouched here ...
    assert ("cameras.tasks.ingest_replay", ({"ingest_ids": [ingest.pk]},)) in queues.queued("homesec")  # ... queued
    run = DetectionRun.objects.get(status="failed")
    client.post("/admin/detections/detectionrun/", {"action": "retry_failed", "_selected_action": [run.pk]})
    assert DetectionRun.objects.get(pk=run.pk).status == "failed"
    assert ("detections.tasks.detection_replay", ({"run_ids": [run.pk]},)) in queues.queued("homesec")


def test_a_channel_can_be_enabled_only_with_change_permission(world, looker, client):
    Channel.objects.update(enabled=False, disabled_reason="HTTP 410")
    client.force_login(looker)
    client.post(
        "/admin/alerts/channel/",
        {"action": "enable", "_selected_action": list(Channel.objects.values_list("pk", flat=True))},
    )
    assert not Channel.objects.filter(enabled=True).exists()
