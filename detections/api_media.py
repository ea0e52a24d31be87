"""Media under /api/: the uploads, clips and stills behind the events, found by id, and each
camera's latest image for Home Assistant's generic camera and phone widgets.

These are async Django views rather than DRF's (sync) views: the body is a file the event
loop sends a chunk at a time as the client takes it (detections/media.py), and a view of
DRF's would render an answer of its own. They still ask DRF's authentication, permission
and throttle classes, as every API view does, and answer errors the same way: RFC 7807
problem+json (homesec/core/api.py), 401 with a WWW-Authenticate challenge for anonymous
calls, 404 for an unknown id or a file that is gone. Nothing in a URL is a path: the ids lead to rows,
and every stored path is checked to stay inside its root before it is opened.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from collections.abc import Callable
from functools import partial
from pathlib import PurePosixPath
from typing import TYPE_CHECKING, cast

from asgiref.sync import sync_to_async
from django.contrib.auth.base_user import AbstractBaseUser
from django.http import Http404, HttpRequest, HttpResponse
from django.http.response import HttpResponseBase
from django.views.decorators.csrf import csrf_exempt
from rest_framework import exceptions
from rest_framework.authentication import BaseAuthentication
from rest_framework.permissions import BasePermission
from rest_framework.renderers import JSONRenderer
from rest_framework.request import Request
from rest_framework.settings import api_settings
from rest_framework.throttling import BaseThrottle
from rest_framework.views import APIView

from cameras.services import camera_latest_media
from detections.media import MediaFile, open_inside, ranged_file_response
from detections.models import Detection
from detections.selectors import detection_still, detections_pictured, ingest_clip_playable, ingest_original
from detections.thumbnails import COLOURS
from detections.views import STILL_MAX_AGE
from homesec.core.api import problem_exception_handler
from homesec.core.auth import user_for_token

if TYPE_CHECKING:
    import numpy as np

SAFE = ("GET", "HEAD")
# DRF's permission and throttle classes are handed a view; the configured ones read nothing
# from it, and a plain APIView is what a scoped throttle would look for a scope on.
_VIEW = APIView()


class ApiTokenBasicAuthentication(BaseAuthentication):
    """HTTP Basic whose password is an API token, with any user name: Home Assistant's
    generic camera (and many a widget) can send only Basic credentials. A member's real
    password is never accepted here, so the token stays the only secret a device holds."""

    def authenticate(self, request: Request) -> tuple[AbstractBaseUser, None] | None:
        scheme, _, credentials = request.META.get("HTTP_AUTHORIZATION", "").partition(" ")
        if scheme.lower() != "basic":
            return None
        try:
            decoded = base64.b64decode(credentials.strip(), validate=True).decode()
        except (binascii.Error, UnicodeDecodeError) as exc:
            raise exceptions.AuthenticationFailed("Malformed Basic credentials.") from exc
        key = decoded.partition(":")[2]
        user = user_for_token(key) if key else None
        if user is None:
            raise exceptions.AuthenticationFailed("Invalid or revoked API token.")
        return (user, None)

    def authenticate_header(self, request: Request) -> str:
        return 'Basic realm="homesec"'


# --- Asking DRF's classes, answering as DRF would ---------------------------------------------


def _problem(exc: Exception, *, challenge: str = "") -> HttpResponseBase:
    """The API's problem+json answer to `exc` (an APIException or Http404)."""
    if challenge and isinstance(exc, (exceptions.NotAuthenticated, exceptions.AuthenticationFailed)):
        exc.auth_header = challenge  # type: ignore[union-attr]  # as APIView.handle_exception does
    response = problem_exception_handler(exc, {})
    if response is None:  # not an error the API answers: let Django's handling have it
        raise exc
    response.accepted_renderer = JSONRenderer()
    response.accepted_media_type = "application/json"
    response.renderer_context = {}  # type: ignore[attr-defined]  # read by render(), not in the stubs
    return response.render()


def _denied(request: HttpRequest, *, basic: bool) -> HttpResponseBase | None:
    """None when the caller may read; otherwise the problem answer (401, 403, 429, 405).
    The API's authentication (a token, the session), and with `basic` Basic with a token,
    offered last so that the Bearer challenge leads the 401."""
    # api_settings imports the configured classes; the stubs type them as the dotted names.
    configured = cast("list[type[BaseAuthentication]]", api_settings.DEFAULT_AUTHENTICATION_CLASSES)
    instances = [cls() for cls in configured] + ([ApiTokenBasicAuthentication()] if basic else [])
    drf_request = Request(request, authenticators=instances)
    challenge = ", ".join(header for auth in instances if (header := auth.authenticate_header(drf_request)))
    permissions = [cls() for cls in cast("list[type[BasePermission]]", api_settings.DEFAULT_PERMISSION_CLASSES)]
    throttles = [cls() for cls in cast("list[type[BaseThrottle]]", api_settings.DEFAULT_THROTTLE_CLASSES)]
    try:
        drf_request.user  # noqa: B018 (authenticates; sets request.user for the rest of Django)
        for permission in permissions:
            if not permission.has_permission(drf_request, _VIEW):
                if drf_request.successful_authenticator is None:
                    raise exceptions.NotAuthenticated()
                raise exceptions.PermissionDenied(getattr(permission, "message", None))
        for throttle in throttles:
            if not throttle.allow_request(drf_request, _VIEW):
                raise exceptions.Throttled(throttle.wait())
        if request.method not in SAFE:
            raise exceptions.MethodNotAllowed(request.method or "")
    except exceptions.APIException as exc:
        response = _problem(exc, challenge=challenge)
        if isinstance(exc, exceptions.MethodNotAllowed):
            response["Allow"] = ", ".join(SAFE)
        return response
    return None


def _answer(request: HttpRequest, respond: Callable[[], HttpResponseBase], *, basic: bool = False) -> HttpResponseBase:
    """Authorise, then `respond`; a missing row or file is a 404 problem, not a page."""
    denied = _denied(request, basic=basic)
    if denied is not None:
        return denied
    try:
        return respond()
    except Http404 as exc:
        return _problem(exc)


# sync_to_async keeps the thread-sensitive default: the database connection of the request's
# thread is the one Django closes at its end. The body itself is streamed by the event loop.
_answer_async = sync_to_async(_answer)


def _download(request: HttpRequest) -> bool:
    return request.GET.get("download") == "1"


def _file(request: HttpRequest, find: Callable[[], MediaFile | None], max_age: int = 3600) -> HttpResponseBase:
    return ranged_file_response(request, find(), download=_download(request), max_age=max_age)


# --- Stored media by id -----------------------------------------------------------------------


@csrf_exempt
async def original(request: HttpRequest, ingest_id: int) -> HttpResponseBase:
    """The upload as the camera sent it."""
    find = partial(ingest_original, ingest_id=ingest_id)
    return await _answer_async(request, partial(_file, request, find))


@csrf_exempt
async def clip(request: HttpRequest, ingest_id: int) -> HttpResponseBase:
    """The clip as a browser or phone plays it: the H.264 copy once made, else the upload."""
    find = partial(ingest_clip_playable, ingest_id=ingest_id)
    return await _answer_async(request, partial(_file, request, find))


@csrf_exempt
async def thumbnail(request: HttpRequest, detection_id: int) -> HttpResponseBase:
    """The detection's frame, downscaled, with the boxes drawn in."""
    find = partial(detection_still, detection_id=detection_id, kind="thumbnail")
    return await _answer_async(request, partial(_file, request, find, STILL_MAX_AGE))


@csrf_exempt
async def preview(request: HttpRequest, detection_id: int) -> HttpResponseBase:
    """The detection's frame, downscaled, without boxes."""
    find = partial(detection_still, detection_id=detection_id, kind="preview")
    return await _answer_async(request, partial(_file, request, find, STILL_MAX_AGE))


# --- A camera's latest image --------------------------------------------------------------------


@csrf_exempt
async def camera_latest(request: HttpRequest, camera_id: str) -> HttpResponseBase:
    """The camera's newest image (at most 640 wide); `?boxes=1` draws the detections in."""
    return await _answer_async(request, partial(_latest, request, camera_id), basic=True)


def _latest(request: HttpRequest, camera_id: str) -> HttpResponseBase:
    media = camera_latest_media(camera_id=camera_id)
    if media is None:
        raise Http404("No image from this camera yet.")
    # The service names each image after its upload's id.
    stem = PurePosixPath(media.relative).stem
    boxes = detections_pictured(ingest_id=int(stem)) if request.GET.get("boxes") == "1" and stem.isdigit() else []
    if not boxes:
        # Asked again each time (mostly a 304): a new upload replaces it under the same URL.
        return ranged_file_response(request, media, download=_download(request), max_age=0)
    return _boxed(request, media, boxes)


def _boxed(request: HttpRequest, media: MediaFile, boxes: list[Detection]) -> HttpResponseBase:
    """The image with the boxes drawn in, made in memory. Its ETag changes with the image
    and with the boxes, which a detection run adds after the image was made."""
    handle, info = open_inside(media)
    with handle:
        data = handle.read()
    drawn = hashlib.sha256(repr(sorted((b.pk, b.label, b.x, b.y, b.width, b.height) for b in boxes)).encode())
    headers = {
        "ETag": f'"{info.st_mtime_ns:x}-{info.st_size:x}-{drawn.hexdigest()[:16]}"',
        "Cache-Control": "private, max-age=0",
        "X-Content-Type-Options": "nosniff",
    }
    if headers["ETag"] in request.headers.get("If-None-Match", ""):
        return HttpResponse(status=304, headers=headers)
    # OpenCV is loaded by the first request that draws, not by every web process at start-up.
    import cv2
    import numpy as np

    image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    if image is None:
        raise Http404("The image cannot be read.")
    _draw(image, boxes)
    ok, encoded = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, 85])
    if not ok:
        raise Http404("The image cannot be drawn.")
    body = encoded.tobytes()
    response = HttpResponse(b"" if request.method == "HEAD" else body, content_type="image/jpeg", headers=headers)
    response["Content-Length"] = str(len(body))
    return response


def _draw(image: np.ndarray, boxes: list[Detection]) -> None:
    """Boxes are in pixels of the frame the detector saw: scaled to this image."""
    import cv2

    height, width = image.shape[:2]
    for box in boxes:
        sx, sy = width / box.frame_width, height / box.frame_height
        x0, y0 = round(box.x * sx), round(box.y * sy)
        x1, y1 = round((box.x + box.width) * sx), round((box.y + box.height) * sy)
        colour = COLOURS.get(box.label, (200, 200, 200))
        cv2.rectangle(image, (x0, y0), (x1, y1), colour, 2)
        label = f"{box.label} {box.confidence:.0%}"
        cv2.putText(image, label, (x0 + 2, max(12, y0 - 4)), cv2.FONT_HERSHEY_SIMPLEX, 0.45, colour, 1, cv2.LINE_AA)
