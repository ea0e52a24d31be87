"""Writes for cameras: discovery from their folders, what an upload says about them, and the
offline check. Taking uploads in is cameras/ingest.py."""

from __future__ import annotations

import logging
import re
import unicodedata
from datetime import datetime, timedelta

from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone

from cameras.models import Camera

logger = logging.getLogger(__name__)

ERROR_AFTER_REJECTIONS = 3


# --- Cameras -----------------------------------------------------------------------


def camera_normalise_id(folder: str) -> str:
    """`Front Door` -> `front_door`; accents folded, anything else becomes `_`."""
    ascii_name = unicodedata.normalize("NFKD", folder).encode("ascii", "ignore").decode()
    slug = re.sub(r"[^a-z0-9]+", "_", ascii_name.lower()).strip("_")
    return slug[:90] or "camera"


def camera_get_or_create_for_folder(*, folder: str) -> Camera:
    camera = Camera.objects.filter(folder=folder).first()
    if camera is not None:
        return camera
    base = camera_normalise_id(folder)
    for n in range(1, 1000):
        camera_id = base if n == 1 else f"{base}_{n}"
        if Camera.objects.filter(pk=camera_id).exists():
            continue
        try:
            with transaction.atomic():
                camera = Camera.objects.create(id=camera_id, name=folder.strip() or camera_id, folder=folder)
        except IntegrityError:
            # Another process created this folder's camera, or took the id, just now.
            camera = Camera.objects.filter(folder=folder).first()
            if camera is not None:
                return camera
            continue
        if n > 1:
            logger.warning(
                "folder %r normalises to the taken camera id %r; it became camera %r", folder, base, camera_id
            )
        else:
            logger.info("new camera %r from folder %r", camera_id, folder)
        return camera
    raise RuntimeError(f"no free camera id for folder {folder!r}")


def camera_saw_upload(camera: Camera, *, rejected: bool, reason: str, now: datetime) -> None:
    """last_seen_at on every upload; `error` while uploads keep being rejected."""
    if rejected:
        Camera.objects.filter(pk=camera.pk).update(last_seen_at=now, rejected_streak=F("rejected_streak") + 1)
        Camera.objects.filter(pk=camera.pk, rejected_streak__gte=ERROR_AFTER_REJECTIONS).update(
            status=Camera.Status.ERROR, status_reason=f"uploads keep being rejected: {reason}"[:300]
        )
    else:
        Camera.objects.filter(pk=camera.pk).update(
            last_seen_at=now, rejected_streak=0, status=Camera.Status.ONLINE, status_reason=""
        )


def camera_check_offline() -> list[str]:
    """Cameras with an opt-in silence limit that have been silent longer go offline."""
    now = timezone.now()
    gone = []
    for camera in Camera.objects.filter(offline_after_min__isnull=False).exclude(status=Camera.Status.OFFLINE):
        if camera.offline_after_min is None:  # excluded by the query
            continue
        last = camera.last_seen_at or camera.created_at
        if now - last > timedelta(minutes=camera.offline_after_min):
            updated = (
                Camera.objects.filter(pk=camera.pk)
                .exclude(status=Camera.Status.OFFLINE)
                .update(status=Camera.Status.OFFLINE, status_reason=f"no upload for {camera.offline_after_min} min")
            )
            if updated:
                gone.append(camera.pk)
                logger.warning("camera %s is offline: no upload for %d min", camera.pk, camera.offline_after_min)
    return gone
