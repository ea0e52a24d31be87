"""The alerts page (open alerts, acknowledge / dismiss, the history with every delivery
attempt, snoozes), a camera's snooze, the page an alert's "Acknowledge" link opens, and
snapshot links.

Snapshot links in notifications are a signed detection id, so they open only that one
picture, for HOMESEC_SNAPSHOT_LINK_DAYS, without a homesec login (a phone's notification or
a webhook receiver has none). The file is looked up by id, never by a path from the request.

Action links ("Acknowledge") are a signed alert id too, but they open a page behind the
login: the link alone never changes anything, a signed-in click (a POST with CSRF) does."""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.forms import Form
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseBase, JsonResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from alerts.forms import AlertHandleForm, SnoozeForm
from alerts.messages import ActionLinkError, action_alert_id, snapshot_detection_id
from alerts.selectors import (
    ALERT_OPEN_STATES,
    alert_get_for_action,
    alert_history_page,
    alert_list_open,
    camera_for_snooze,
    camera_snoozes_active,
    cameras_with_snooze,
)
from alerts.services import alert_acknowledge, alerts_handle, camera_snooze, camera_unsnooze
from detections.media import ranged_file_response
from detections.selectors import detection_still
from homesec.core.auth import signed_in_user
from homesec.core.http import back_url

# The parts of the alerts page that live updates fetch again on their own.
PARTS = {"open": "alerts/_open.html", "snoozes": "alerts/_snoozes.html", "history": "alerts/_history.html"}


def _wants_json(request: HttpRequest) -> bool:
    return request.headers.get("accept", "").startswith("application/json")


def _problems(form: Form) -> str:
    return " ".join(str(error) for errors in form.errors.values() for error in errors)


@require_GET
def alert_list(request: HttpRequest) -> HttpResponse:
    """The page, or one part of it (`?part=open|snoozes|history`) for live updates."""
    now = timezone.now()
    part = request.GET.get("part", "")
    if part and part not in PARTS:
        raise Http404("no such part of the page")
    older = request.GET.get("older", "")
    page_url = reverse("alerts:list")
    context: dict = {"nav": "alerts", "now": now, "next_url": page_url, "older": older}
    if part in ("", "open"):
        context["open"] = alert_list_open()
    if part in ("", "snoozes"):
        context["snoozes"] = camera_snoozes_active(now=now)
        context["cameras"] = cameras_with_snooze(now=now, snoozes=context["snoozes"])
    if part in ("", "history"):
        context["history"] = alert_history_page(cursor=older)
    return render(request, PARTS[part] if part else "alerts/list.html", context)


@require_POST
def alert_handle(request: HttpRequest) -> HttpResponseBase:
    """Acknowledge or dismiss one alert or the ticked ones; viewers may."""
    form = AlertHandleForm(request.POST)
    back = back_url(request, reverse("alerts:list"), referer=True)
    if not form.is_valid():
        problem = _problems(form)
        if _wants_json(request):
            return JsonResponse({"error": problem}, status=400)
        messages.error(request, problem)
        return redirect(back)
    verb, ids = form.cleaned_data["verb"], form.cleaned_data["ids"]
    count = alerts_handle(alert_ids=ids, action=verb, user=signed_in_user(request))
    if _wants_json(request):
        return JsonResponse({"handled": count})
    done = "acknowledged" if verb == "acknowledge" else "dismissed"
    if count:
        messages.success(request, f"{count} alert{'s' if count != 1 else ''} {done}.")
    else:
        messages.info(request, "Nothing to do: handled already.")
    return redirect(back)


@require_POST
def snooze(request: HttpRequest, camera_id: str) -> HttpResponseBase:
    """Snooze a camera's notifications (`minutes` or `until`) or `unsnooze` it, for the whole
    household; viewers may. Answers JSON when asked for it (Accept: application/json)."""
    camera = camera_for_snooze(camera_id=camera_id)
    if camera is None:
        raise Http404("no such camera")
    now = timezone.now()
    form = SnoozeForm(request.POST, now=now)
    back = back_url(request, reverse("alerts:list"), referer=True)
    problem = ""
    if form.is_valid():
        end = form.cleaned_data["end"]
        try:
            if end is None:
                camera_unsnooze(camera=camera, user=signed_in_user(request))
            else:
                camera_snooze(camera=camera, until=end, user=signed_in_user(request), now=now)
        except ValidationError as exc:
            problem = " ".join(exc.messages)
    else:
        problem = _problems(form)
    if _wants_json(request):
        if problem:
            return JsonResponse({"camera": camera.pk, "error": problem}, status=400)
        end = form.cleaned_data["end"]
        return JsonResponse({"camera": camera.pk, "snoozed_until": end.isoformat() if end else None})
    if problem:
        messages.error(request, f"{camera.name}: {problem}")
    elif form.cleaned_data["end"] is None:
        messages.success(request, f"{camera.name}: notifications on again.")
    else:
        local = timezone.localtime(form.cleaned_data["end"])
        messages.success(request, f"{camera.name}: notifications snoozed until {local:%a %H:%M}.")
    return redirect(back)


@require_http_methods(["GET", "POST"])
def act(request: HttpRequest, token: str) -> HttpResponse:
    """The page an alert's "Acknowledge" link opens (behind the login, which brings the
    user back here): the alert with its button. Only the button's POST acknowledges."""
    try:
        alert = alert_get_for_action(alert_id=action_alert_id(token))
    except ActionLinkError as exc:
        return render(request, "alerts/act.html", {"nav": "alerts", "problem": str(exc)}, status=400)
    if alert is None:
        problem = "That alert is no longer stored (it was deleted)."
        return render(request, "alerts/act.html", {"nav": "alerts", "problem": problem}, status=404)
    if request.method == "POST":
        if alert_acknowledge(alert=alert, user=signed_in_user(request)):
            messages.success(request, "Acknowledged: no more reminders for this alert.")
        else:
            messages.info(request, f"Nothing to do: this alert was {alert.state} already.")
        return redirect(request.path)
    context = {"nav": "alerts", "alert": alert, "event": alert.event, "is_open": alert.state in ALERT_OPEN_STATES}
    return render(request, "alerts/act.html", context)


@require_GET
def snapshot(request: HttpRequest, token: str) -> HttpResponseBase:
    media = detection_still(detection_id=snapshot_detection_id(token) or 0, kind="thumbnail")
    if media is None:
        raise Http404("no such snapshot, or the link has expired")
    return ranged_file_response(request, media)
