"""Media for signed-in users, found by id (detections/selectors.py) and served with HTTP
Range (detections/media.py): previews, thumbnails, clips and the uploads themselves."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest
from django.http.response import HttpResponseBase
from django.views.decorators.http import require_safe

from detections.media import ranged_file_response
from detections.selectors import detection_still, ingest_clip_playable, ingest_original

# Stored stills never change under their name; clips may be replaced by their copy.
STILL_MAX_AGE = 86400


def _download(request: HttpRequest) -> bool:
    return request.GET.get("download") == "1"


@login_required
@require_safe
def preview(request: HttpRequest, detection_id: int) -> HttpResponseBase:
    media = detection_still(detection_id=detection_id, kind="preview")
    return ranged_file_response(request, media, download=_download(request), max_age=STILL_MAX_AGE)


@login_required
@require_safe
def thumbnail(request: HttpRequest, detection_id: int) -> HttpResponseBase:
    media = detection_still(detection_id=detection_id, kind="thumbnail")
    return ranged_file_response(request, media, download=_download(request), max_age=STILL_MAX_AGE)


@login_required
@require_safe
def clip(request: HttpRequest, ingest_id: int) -> HttpResponseBase:
    return ranged_file_response(request, ingest_clip_playable(ingest_id=ingest_id), download=_download(request))


@login_required
@require_safe
def original(request: HttpRequest, ingest_id: int) -> HttpResponseBase:
    return ranged_file_response(request, ingest_original(ingest_id=ingest_id), download=_download(request))
