"""The household's pages of cameras: the overview (a tile per camera, kept live by
static/homesec/overview.js), the cameras list, a camera's page with its settings and zone
editor, and its latest image. Reads go through selectors, writes through services; changing
the configuration is for admins (no control is rendered for viewers, and their POSTs get 403)."""

from __future__ import annotations

from datetime import datetime, time
from typing import Any

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.db import transaction
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseBase
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_GET, require_POST

from alerts.selectors import alerts_open_count, camera_snooze_ends, household_mode
from alerts.services import household_set_mode
from cameras.forms import CameraAddForm, CameraSettingsForm, ModeForm, ZoneForm
from cameras.models import Camera, Zone
from cameras.selectors import (
    camera_ftp_account,
    camera_get_with_latest,
    camera_list_with_counts,
    camera_list_with_latest,
    zone_get,
    zone_list_for_camera,
)
from cameras.services import (
    camera_create,
    camera_ftp_account_issue,
    camera_latest_media,
    camera_settings_save,
    zone_delete,
    zone_save,
)
from detections.media import ranged_file_response
from homesec.core.auth import admin_required, signed_in_user

# --- The overview ---------------------------------------------------------------------------


def _with_snoozes(cameras: list[Camera], now: datetime) -> list[Camera]:
    """Each camera with `snoozed_until`: when its snoozed notifications resume, or None."""
    until = camera_snooze_ends(now=now)
    for camera in cameras:
        camera.snoozed_until = until.get(camera.pk)  # type: ignore[attr-defined]
    return cameras


def _summary(now: datetime) -> dict[str, Any]:
    return {"mode": household_mode(now=now), "mode_form": ModeForm(), "open_alerts": alerts_open_count()}


@require_GET
def overview(request: HttpRequest) -> HttpResponse:
    now = timezone.now()
    context = {"nav": "overview", "cameras": _with_snoozes(camera_list_with_latest(), now), **_summary(now)}
    return render(request, "cameras/overview.html", context)


@require_GET
def overview_summary(request: HttpRequest) -> HttpResponse:
    """The household mode and the open alerts: refreshed when an alert changes."""
    return render(request, "cameras/_summary.html", _summary(timezone.now()))


@require_GET
def tile(request: HttpRequest, camera_id: str) -> HttpResponse:
    """One camera's tile: refreshed when the camera uploads or its event changes."""
    camera = _camera_or_404(camera_id)
    return render(request, "cameras/_tile.html", {"camera": _with_snoozes([camera], timezone.now())[0]})


@require_POST
@admin_required
def mode_set(request: HttpRequest) -> HttpResponseBase:
    form = ModeForm(request.POST)
    if form.is_valid():
        household_set_mode(mode=form.cleaned_data["mode"], user=signed_in_user(request))
        messages.success(request, f"The household is now in {form.cleaned_data['mode']} mode.")
    else:
        messages.error(request, "That is not a mode.")
    return redirect("home")


@require_GET
def latest_image(request: HttpRequest, camera_id: str) -> HttpResponseBase:
    """The camera's newest accepted upload, downscaled. The camera is looked up by its id;
    the file is the one the service made, never a path from the request."""
    media = camera_latest_media(camera_id=camera_id)
    if media is None:
        raise Http404("no image yet")
    return ranged_file_response(request, media, max_age=0)  # asked again each time, mostly a 304


# --- The cameras list, adding a camera ------------------------------------------------------


def _cameras_page(request: HttpRequest, add_form: CameraAddForm, status: int = 200) -> HttpResponse:
    today = timezone.localdate()
    since = timezone.make_aware(datetime.combine(today, time.min))
    context = {"nav": "cameras", "cameras": camera_list_with_counts(since=since), "add_form": add_form}
    return render(request, "cameras/list.html", context, status=status)


@require_GET
def camera_list(request: HttpRequest) -> HttpResponse:
    return _cameras_page(request, CameraAddForm())


@require_POST
@admin_required
def camera_add(request: HttpRequest) -> HttpResponse:
    form = CameraAddForm(request.POST)
    if form.is_valid():
        try:
            with transaction.atomic():
                camera = camera_create(name=form.cleaned_data["name"])
                issued = camera_ftp_account_issue(camera=camera) if form.cleaned_data["ftp_account"] else None
        except ValidationError as exc:
            _add_errors(form, exc, fields={"name"})
        else:
            if issued is None:
                messages.success(request, f"Camera {camera.name} added: its folder is {camera.folder}.")
                return redirect("cameras:detail", camera_id=camera.pk)
            return _password_page(request, camera, *issued, created=True)
    return _cameras_page(request, form, status=400)


def _password_page(request: HttpRequest, camera: Camera, account: Any, password: str, *, created: bool) -> HttpResponse:
    """The FTP password, shown on this response only: it is not stored anywhere readable."""
    context = {"nav": "cameras", "camera": camera, "account": account, "password": password, "created": created}
    response = render(request, "cameras/ftp_password.html", context)
    response["Cache-Control"] = "no-store"
    return response


# --- A camera's page: settings, FTP account, zones ------------------------------------------


def _camera_or_404(camera_id: str) -> Camera:
    camera = camera_get_with_latest(camera_id=camera_id)
    if camera is None:
        raise Http404("no such camera")
    return camera


def _camera_page(
    request: HttpRequest,
    camera: Camera,
    *,
    settings_form: CameraSettingsForm | None = None,
    zone_form: ZoneForm | None = None,
    status: int = 200,
) -> HttpResponse:
    zones = zone_list_for_camera(camera_id=camera.pk)
    context = {
        "nav": "cameras",
        "camera": camera,
        "settings_form": settings_form or CameraSettingsForm(camera=camera),
        "zone_form": zone_form or ZoneForm(),
        "zones": zones,
        "zones_data": [
            {
                "id": z.pk,
                "name": z.name,
                "kind": z.kind,
                "enabled": z.enabled,
                "polygon": z.polygon,
                # Where its name is written over the picture: the middle of its points, in %.
                "label_at": [round(100 * sum(p[i] for p in z.polygon) / len(z.polygon), 2) for i in (0, 1)],
            }
            for z in zones
        ],
        "zone_kinds": Zone.Kind.choices,
        "ftp_account": camera_ftp_account(camera_id=camera.pk),
    }
    return render(request, "cameras/detail.html", context, status=status)


@require_GET
def camera_detail(request: HttpRequest, camera_id: str) -> HttpResponse:
    return _camera_page(request, _camera_or_404(camera_id))


@require_POST
@admin_required
def camera_settings(request: HttpRequest, camera_id: str) -> HttpResponse:
    camera = _camera_or_404(camera_id)
    form = CameraSettingsForm(request.POST, camera=camera)
    if form.is_valid():
        try:
            camera_settings_save(camera=camera, **form.settings())
        except ValidationError as exc:
            _add_errors(form, exc, fields={"name", "enabled", "time_zone", "offline_after_min"})
        else:
            messages.success(request, "Settings saved.")
            return redirect("cameras:detail", camera_id=camera.pk)
    return _camera_page(request, camera, settings_form=form, status=400)


@require_POST
@admin_required
def camera_ftp_password(request: HttpRequest, camera_id: str) -> HttpResponse:
    camera = _camera_or_404(camera_id)
    had_account = camera_ftp_account(camera_id=camera.pk) is not None
    try:
        account, password = camera_ftp_account_issue(camera=camera)
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
        return redirect("cameras:detail", camera_id=camera.pk)
    return _password_page(request, camera, account, password, created=not had_account)


@require_POST
@admin_required
def zone_save_view(request: HttpRequest, camera_id: str) -> HttpResponse:
    camera = _camera_or_404(camera_id)
    form = ZoneForm(request.POST)
    if form.is_valid():
        data = form.cleaned_data
        zone = zone_get(camera_id=camera.pk, zone_id=data["zone"]) if data["zone"] else None
        if data["zone"] and zone is None:
            raise Http404("no such zone")
        try:
            zone_save(
                camera=camera,
                zone=zone,
                name=data["name"],
                kind=data["kind"],
                polygon=data["polygon"],
                enabled=data["enabled"],
            )
        except ValidationError as exc:
            _add_errors(form, exc, fields={"name", "kind", "enabled", "polygon"})
        else:
            messages.success(request, f"Zone {data['name']} saved.")
            return redirect(reverse("cameras:detail", kwargs={"camera_id": camera.pk}) + "#zones")
    return _camera_page(request, camera, zone_form=form, status=400)


@require_POST
@admin_required
def zone_delete_view(request: HttpRequest, camera_id: str, zone_id: int) -> HttpResponse:
    camera = _camera_or_404(camera_id)
    zone = zone_get(camera_id=camera.pk, zone_id=zone_id)
    if zone is None:
        raise Http404("no such zone")
    zone_delete(zone=zone)
    messages.success(request, f"Zone {zone.name} deleted.")
    return redirect(reverse("cameras:detail", kwargs={"camera_id": camera.pk}) + "#zones")


def _add_errors(form: Any, exc: ValidationError, *, fields: set[str]) -> None:
    """A service's ValidationError onto the form: on its field where the form has one."""
    if not hasattr(exc, "error_dict"):
        form.add_error(None, exc)
        return
    for field, errors in exc.message_dict.items():
        form.add_error(field if field in fields else None, errors)
