"""Writes for cameras: discovery from their folders, what an upload says about them, and the
offline check. Taking uploads in is cameras/ingest.py."""

from __future__ import annotations

import hashlib
import logging
import os
import re
import secrets
import tempfile
import unicodedata
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import F, Q
from django.utils import timezone

from cameras.models import Camera, FtpAccount, Ingest, Zone
from cameras.selectors import ingests_latest_accepted
from detections.media import MediaFile
from homesec.core.audit import audit, audit_deleted, audit_saved, audit_target
from homesec.core.live import live_publish

if TYPE_CHECKING:
    import numpy as np

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
        failing = Camera.objects.filter(pk=camera.pk, rejected_streak__gte=ERROR_AFTER_REJECTIONS)
        turned = failing.exclude(status=Camera.Status.ERROR).exists()
        failing.update(status=Camera.Status.ERROR, status_reason=f"uploads keep being rejected: {reason}"[:300])
        if turned:  # once, when it turns: the overview's tile shows the reason
            live_publish(stream="events", kind="camera.status", payload={"camera": camera.pk, "status": "error"})
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
                live_publish(stream="events", kind="camera.status", payload={"camera": camera.pk, "status": "offline"})
                logger.warning("camera %s is offline: no upload for %d min", camera.pk, camera.offline_after_min)
    return gone


# --- Cameras added from the pages, their settings and FTP accounts ----------------------

# The name becomes the folder's: letters, digits, spaces, `-`, `_` and `'`, so never a dot
# (no `..`, no hidden or temporary name the watcher skips) and never a slash.
CAMERA_NAME = re.compile(r"\w[\w '-]*")
FILTER_KEYS = ("min_confidence", "min_area", "max_area")


def camera_create(*, name: str) -> Camera:
    """A camera of this name with its folder under the camera root: the watcher and the FTP
    receiver take it exactly as one whose folder appeared by itself."""
    name = " ".join(name.split())
    if not name or len(name) > 100 or not CAMERA_NAME.fullmatch(name):
        raise ValidationError(
            {"name": "Use letters, digits, spaces, - _ and ' (it becomes the folder's name), at most 100."}
        )
    if Camera.objects.filter(Q(folder=name) | Q(name__iexact=name)).exists():
        raise ValidationError({"name": "There is a camera of that name already."})
    try:
        (settings.CAMERA_ROOT / name).mkdir(exist_ok=True)
    except OSError as exc:
        raise ValidationError({"name": f"Its folder could not be made under the camera root: {exc.strerror}"}) from exc
    with transaction.atomic():
        camera = camera_get_or_create_for_folder(folder=name)
        detail = {"name": camera.name, "folder": camera.folder}
        audit(action="camera.create", target=audit_target(camera), detail=detail)
    return camera


def camera_filters_clean(filters: Any) -> dict[str, dict[str, float]]:
    """{"person": {"min_confidence": 0.6, "min_area": 0.001, "max_area": 0.9}, ...}: every
    value between 0 and 1, min_area not above max_area; empty classes dropped."""
    if not isinstance(filters, dict):
        raise ValidationError({"filters": "Give the filters per class."})
    clean: dict[str, dict[str, float]] = {}
    for label, rules in filters.items():
        if not isinstance(label, str) or not isinstance(rules, dict) or set(rules) - set(FILTER_KEYS):
            raise ValidationError({"filters": f"{label}: only {', '.join(FILTER_KEYS)} may be set."})
        values: dict[str, float] = {}
        for key, value in rules.items():
            if value is None or value == "":
                continue
            if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value <= 1:
                raise ValidationError({"filters": f"{label}: {key.replace('_', ' ')} must be between 0 and 1."})
            values[key] = float(value)
        if values.get("min_area", 0.0) > values.get("max_area", 1.0):
            raise ValidationError({"filters": f"{label}: the minimum area is above the maximum area."})
        if values:
            clean[label] = values
    return clean


def camera_settings_save(
    *,
    camera: Camera,
    name: str,
    enabled: bool,
    time_zone: str,
    offline_after_min: int | None,
    filters: dict[str, Any],
) -> Camera:
    """What the camera page edits; a ValidationError names the field that is wrong."""
    try:
        ZoneInfo(time_zone)
    except Exception as exc:  # noqa: BLE001 - ZoneInfo raises several kinds for a bad name
        raise ValidationError({"time_zone": f"{time_zone!r} is not a time zone."}) from exc
    camera.name = " ".join(name.split())
    camera.enabled = enabled
    camera.time_zone = time_zone
    camera.offline_after_min = offline_after_min
    camera.filters = camera_filters_clean(filters)
    camera.full_clean(exclude=["id", "folder"])
    fields = ["name", "enabled", "time_zone", "offline_after_min", "filters"]
    with transaction.atomic():
        before = Camera.objects.filter(pk=camera.pk).first()
        Camera.objects.filter(pk=camera.pk).update(**{field: getattr(camera, field) for field in fields})
        audit_saved(camera, before)
    return camera


def camera_ftp_account_issue(*, camera: Camera) -> tuple[FtpAccount, str]:
    """The camera's FTP account with a new random password, made if it has none. The
    password is returned this once: only its hash is stored."""
    # Here, not at the top: the FTP module loads pyftpdlib, which only this needs.
    from cameras.ftp import ftp_account_create, ftp_account_set_password

    password = secrets.token_urlsafe(18)  # 144 random bits
    account = FtpAccount.objects.filter(camera=camera).first()
    if account is not None:
        with transaction.atomic():
            ftp_account_set_password(account=account, password=password)
            _audit_ftp_password(camera, account)
        return account, password
    base = camera.pk[:60]
    username, n = base, 1
    while FtpAccount.objects.filter(username=username).exists():
        n += 1
        username = f"{base}{n}"
    try:
        with transaction.atomic():
            account = ftp_account_create(camera=camera, username=username, password=password)
            _audit_ftp_password(camera, account)
    except IntegrityError as exc:  # another admin made one a moment ago
        raise ValidationError("This camera got an FTP account just now; set a new password instead.") from exc
    return account, password


def _audit_ftp_password(camera: Camera, account: FtpAccount) -> None:
    detail = {"ftp_user": account.username, "password": "set"}
    audit(action="camera.ftp_password", target=audit_target(camera), detail=detail)


# --- Zones ----------------------------------------------------------------------------------


def zone_save(*, camera: Camera, zone: Zone | None, name: str, kind: str, polygon: Any, enabled: bool) -> Zone:
    """A new zone of the camera, or changes to one of its zones. The polygon is in 0-1
    coordinates of the frame, at least three points (cameras/geometry.py checks it)."""
    zone = zone if zone is not None else Zone(camera=camera)
    if zone.camera_id != camera.pk:
        raise ValidationError("That zone belongs to another camera.")
    before = Zone.objects.filter(pk=zone.pk).first() if zone.pk else None
    zone.name, zone.kind, zone.polygon, zone.enabled = name.strip(), kind, polygon, enabled
    zone.full_clean()  # the polygon, the kind, and the name unique on the camera
    try:
        with transaction.atomic():
            zone.save()
            audit_saved(zone, before)
    except IntegrityError as exc:
        raise ValidationError({"name": "The camera has a zone of that name already."}) from exc
    return zone


def zone_delete(*, zone: Zone) -> None:
    target = audit_target(zone)
    with transaction.atomic():
        zone.delete()
        audit_deleted(zone, target=target)


# --- The latest image: the newest accepted upload, downscaled, cached on disk ----------------

LATEST_WIDTH = 640


def latest_root() -> Path:
    """Where the latest images are kept, a folder per camera: the root they are served
    from and checked against (the data folder around it holds the secret key and maybe the
    database, which a link planted here must not reach)."""
    return settings.DATA_DIR / "cache" / "latest"


def _latest_cache(camera_id: str) -> Path:
    return latest_root() / camera_id


def camera_latest_media(*, camera_id: str) -> MediaFile | None:
    """The camera's latest image as a file to serve (detections/media.py checks it lies in
    `latest_root()` when it opens it), named after its upload's id; None when there is none."""
    camera = Camera.objects.filter(pk=camera_id).first()
    path = camera_latest_image(camera=camera) if camera is not None else None
    if path is None:
        return None
    return MediaFile(latest_root(), str(path.relative_to(latest_root())), "image/jpeg", f"{camera_id}.jpg")


def camera_latest_image(*, camera: Camera) -> Path | None:
    """A JPEG at most LATEST_WIDTH wide of the camera's newest accepted upload (for a clip,
    its first frame). Made once per upload and kept under the data folder; an upload that
    cannot be read any more (deleted, replaced since its check) is passed over for the one
    before it, and remembered as such so it is not read again."""
    import cv2  # here, not at the top: the web process loads OpenCV only once it draws

    folder = _latest_cache(camera.pk)
    for ingest in ingests_latest_accepted(camera_id=camera.pk):
        cached = folder / f"{ingest.pk}.jpg"
        if cached.is_file():
            return cached
        unreadable = folder / f"{ingest.pk}.none"
        if unreadable.exists():
            continue
        folder.mkdir(parents=True, exist_ok=True)
        frame = _still(camera, ingest)
        if frame is None:
            unreadable.touch()
            continue
        height, width = frame.shape[:2]
        if width > LATEST_WIDTH:
            size = (LATEST_WIDTH, max(1, round(height * LATEST_WIDTH / width)))
            frame = cv2.resize(frame, size, interpolation=cv2.INTER_AREA)
        ok, encoded = cv2.imencode(".jpg", frame, [cv2.IMWRITE_JPEG_QUALITY, 82])
        if not ok:
            unreadable.touch()
            continue
        fd, part = tempfile.mkstemp(dir=folder, suffix=".part")
        with os.fdopen(fd, "wb") as handle:
            handle.write(encoded.tobytes())
        os.replace(part, cached)  # whole or not at all, also when two requests race
        for old in folder.iterdir():
            # Other uploads' images are not shown again (a newer one's upload was deleted);
            # the marks of newer unreadable ones still save reading them again.
            stem, _, suffix = old.name.partition(".")
            if stem.isdigit() and int(stem) != ingest.pk and (suffix == "jpg" or int(stem) < ingest.pk):
                old.unlink(missing_ok=True)
        return cached
    return None


def camera_latest_image_forget(*, ingests: list[Ingest]) -> None:
    """Deleted uploads leave no picture behind in the latest-image cache."""
    for ingest in ingests:
        for suffix in ("jpg", "none"):
            (_latest_cache(ingest.camera_id) / f"{ingest.pk}.{suffix}").unlink(missing_ok=True)


def _still(camera: Camera, ingest: Ingest) -> np.ndarray | None:
    """The upload's picture, only while the file is still the one its check accepted."""
    import cv2
    import numpy as np

    root = (settings.CAMERA_ROOT / camera.folder).resolve()
    path = (settings.CAMERA_ROOT / ingest.path).resolve()
    if not path.is_relative_to(root):
        return None
    try:
        if ingest.media_type == "video":
            st = path.stat()
            if (st.st_size, st.st_mtime_ns) != (ingest.size, ingest.mtime_ns):
                return None
            capture = cv2.VideoCapture(str(path))
            try:
                ok, frame = capture.read()
            finally:
                capture.release()
            return frame if ok else None
        data = path.read_bytes()
    except OSError:
        return None
    if hashlib.sha256(data).hexdigest() != ingest.sha256:
        return None
    # JPEG decoders can scale down while decoding: much less work for a big photo.
    reduce = next((r for r in (8, 4, 2) if (ingest.width or 0) // r >= LATEST_WIDTH), 1)
    flags = {8: cv2.IMREAD_REDUCED_COLOR_8, 4: cv2.IMREAD_REDUCED_COLOR_4, 2: cv2.IMREAD_REDUCED_COLOR_2}
    decoded = cv2.imdecode(np.frombuffer(data, np.uint8), flags.get(reduce, cv2.IMREAD_COLOR))
    return decoded if decoded is not None and decoded.size else None
