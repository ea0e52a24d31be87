"""Snapshot links for notifications: the link is a signed detection id, so it opens only
that one picture, for HOMESEC_SNAPSHOT_LINK_DAYS, without a homesec login (a phone's
notification or a webhook receiver has none). The file is looked up by id, never by a
path from the request."""

from __future__ import annotations

from django.conf import settings
from django.http import FileResponse, Http404, HttpRequest
from django.views.decorators.http import require_GET

from alerts.messages import snapshot_detection_id
from detections.selectors import detection_thumbnail


@require_GET
def snapshot(request: HttpRequest, token: str) -> FileResponse:
    detection_id = snapshot_detection_id(token)
    thumbnail = detection_thumbnail(detection_id=detection_id)
    if not thumbnail:
        raise Http404("no such snapshot, or the link has expired")
    root = settings.MEDIA_ROOT.resolve()
    path = (root / thumbnail).resolve()
    if not path.is_relative_to(root) or not path.is_file():
        raise Http404("no such snapshot")
    response = FileResponse(path.open("rb"), content_type="image/jpeg")
    response["Cache-Control"] = "private, max-age=3600"
    return response
