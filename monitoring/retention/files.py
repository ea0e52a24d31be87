"""The files retention weighs and removes: uploads in the camera root, homesec's own media
folders, the cached latest images. Every path is checked to lie inside its root; a link is
removed, never followed."""

from __future__ import annotations

import logging
import os
import shutil
from collections.abc import Iterator
from pathlib import Path

from django.conf import settings
from django.db.models import Q, Sum

from cameras.models import Ingest
from cameras.services import latest_root
from detections.models import Clip, Detection
from monitoring.retention.selections import IN_FLIGHT, MEDIA_PRESENT

logger = logging.getLogger(__name__)

# homesec's own media folders under MEDIA_ROOT (detections/services.py writes them).
MEDIA_FOLDERS = ("thumbs", "previews", "clips")
MB, GB = 1024**2, 1024**3


def within(root: Path, relative: str | Path) -> Path | None:
    """The file `relative` names under `root`, or None when it would lie outside (a `..`,
    a link out). The last part is not resolved: a link is removed, never its target."""
    base = root.resolve()
    path = base / relative
    path = path.parent.resolve() / path.name
    return path if path.is_relative_to(base) and path != base else None


def file_size(path: Path) -> int | None:
    try:
        return path.lstat().st_size
    except OSError:
        return None


def upload_file(ingest: Ingest) -> Path | None:
    """The upload in its camera's folder (the path is relative to the camera root)."""
    parts = Path(ingest.path).parts
    if parts[:1] != (ingest.camera.folder,):
        return None
    return within(settings.CAMERA_ROOT / ingest.camera.folder, Path(*parts[1:]))


def ingest_media(ingests: list[Ingest]) -> dict[int, list[Path]]:
    """Every file each upload is: itself, its clip copy, its detections' pictures, its cached image."""
    media: dict[int, list[Path | None]] = {row.pk: [upload_file(row)] for row in ingests}
    for row in ingests:
        media[row.pk] += [within(latest_root(), f"{row.camera_id}/{row.pk}.{end}") for end in ("jpg", "none")]
    pictures = Detection.objects.filter(ingest_id__in=media).values_list("ingest_id", "thumbnail", "preview")
    copies = Clip.objects.filter(ingest_id__in=media).values_list("ingest_id", "playable", "playable")
    for pk, first, second in [*pictures, *copies]:
        media[pk] += [within(settings.MEDIA_ROOT, name) for name in {first, second} if name]
    return {pk: [path for path in paths if path is not None] for pk, paths in media.items()}


def _is_or_holds(path: Path, other: Path) -> bool:
    return path.is_relative_to(other) or other.is_relative_to(path)


def media_walk() -> Iterator[tuple[str, Path, os.stat_result]]:
    """Files in homesec's media folders, never in (or above) the camera root: each with its
    name as rows store it (relative to the media root), its path and its stat."""
    camera_root = settings.CAMERA_ROOT.resolve()
    for folder in MEDIA_FOLDERS:
        top = (settings.MEDIA_ROOT / folder).resolve()
        if _is_or_holds(top, camera_root) or not top.is_dir():
            continue
        for here, dirs, names in os.walk(top):
            dirs[:] = [d for d in dirs if not _is_or_holds((Path(here) / d).resolve(), camera_root)]
            for name in names:
                path = Path(here, name)
                st = path.lstat()
                if not path.is_symlink():
                    yield f"{folder}/{path.relative_to(top).as_posix()}", path, st


def unlink_measured(path: Path) -> int | None:
    """Remove one file; its size, or None when it was not there or could not be removed."""
    try:
        size = path.lstat().st_size
        path.unlink()
        return size
    except FileNotFoundError:
        return None
    except OSError as exc:
        logger.warning("retention could not remove %s: %s", path, exc)
        return None


def detection_pictures(detections: list[Detection]) -> list[Path]:
    """Thumbnails and previews of these detections that no other detection shares."""
    names = {n for d in detections for n in (d.thumbnail, d.preview) if n}
    ids = [d.pk for d in detections]
    shared = Detection.objects.filter(Q(thumbnail__in=names) | Q(preview__in=names)).exclude(pk__in=ids)
    names -= {n for pair in shared.values_list("thumbnail", "preview") for n in pair}
    return [path for name in names if (path := within(settings.MEDIA_ROOT, name))]


def upload_gone(ingest: Ingest) -> bool:
    """Its file version is no longer in the camera root (gone, or replaced by another)."""
    path = within(settings.CAMERA_ROOT, ingest.path)
    if path is None:
        return False  # a path that cannot be checked: the row stays
    try:
        st = path.stat()
    except FileNotFoundError:
        return True
    return (st.st_size, st.st_mtime_ns) != (ingest.size, ingest.mtime_ns)


def empty_folders_remove(older: float) -> None:
    """Dated folders left empty (thumbs/<camera>/<day>/), once untouched for the grace period."""
    camera_root = settings.CAMERA_ROOT.resolve()
    for folder in MEDIA_FOLDERS:
        top = (settings.MEDIA_ROOT / folder).resolve()
        if _is_or_holds(top, camera_root) or not top.is_dir():
            continue
        for here, _dirs, _names in os.walk(top, topdown=False):
            path = Path(here)
            if path == top or path.is_symlink() or _is_or_holds(path.resolve(), camera_root):
                continue
            try:
                if path.stat().st_mtime < older and not any(path.iterdir()):
                    path.rmdir()
            except OSError:
                pass  # written to meanwhile


def media_usage() -> int:
    """Bytes of media homesec keeps: uploads it has taken (their recorded sizes) and its own media folders."""
    uploads = Ingest.objects.filter(status__in=(*IN_FLIGHT, *MEDIA_PRESENT)).aggregate(total=Sum("size"))["total"]
    return (uploads or 0) + sum(st.st_size for _name, _path, st in media_walk())


def bytes_to_free() -> int:
    """What is over HOMESEC_MEDIA_BUDGET_GB, or missing to HOMESEC_MIN_FREE_GB free, whichever is more."""
    over = media_usage() - int(settings.MEDIA_BUDGET_GB * GB) if settings.MEDIA_BUDGET_GB else 0
    under = int(settings.MIN_FREE_GB * GB) - shutil.disk_usage(settings.DATA_DIR).free
    return max(over, under, 0)


def bytes_label(n: int) -> str:
    """Bytes for people: 1.4 GB, 310.2 MB, 12.0 KB."""
    for unit, size in (("GB", GB), ("MB", MB), ("KB", 1024)):
        if n >= size:
            return f"{n / size:.1f} {unit}"
    return f"{n} bytes"
