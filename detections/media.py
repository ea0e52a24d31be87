"""Serving media files (previews, thumbnails, clips, originals) to signed-in users.

A file is always found by id (detections/selectors.py), never by a path from the request;
the stored relative path is still checked here, so a bad row cannot lead out of its root
either: no absolute path, no `..`, no symlink that resolves outside, regular files only,
and the final open refuses a symlink swapped in after the check.

Django's FileResponse answers no Range request, and browsers need them to seek in a
video: `ranged_file_response` answers `Range: bytes=…` with 206 and the asked bytes
(one range; several are answered with the whole file, as RFC 9110 allows), 416 past the
end, and honours If-Range and If-None-Match. Under ASGI (daphne) the body is an async
iterator reading chunks in a thread: a sync iterator would be read into memory whole.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import stat
from collections.abc import AsyncIterator, Generator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import BinaryIO

from django.core.handlers.asgi import ASGIRequest
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseBase, StreamingHttpResponse
from django.utils.http import content_disposition_header, http_date

CHUNK = 256 * 1024
CONTENT_TYPES = {
    "jpeg": "image/jpeg",
    "jpg": "image/jpeg",
    "png": "image/png",
    "mp4": "video/mp4",
    "mov": "video/quicktime",
    "mkv": "video/x-matroska",
    "avi": "video/x-msvideo",
}


@dataclass(frozen=True)
class MediaFile:
    """A stored file: `relative` to `root` (the media root or the camera root)."""

    root: Path
    relative: str
    content_type: str
    filename: str  # offered to a download


def content_type_for(name_or_format: str) -> str:
    key = name_or_format.rsplit(".", 1)[-1].lower()
    return CONTENT_TYPES.get(key, "application/octet-stream")


def resolve_inside(root: Path, relative: str) -> Path | None:
    """The regular file `relative` names under `root`, or None."""
    if not relative or "\x00" in relative or "\\" in relative:
        return None
    parts = PurePosixPath(relative)
    if parts.is_absolute() or ".." in parts.parts:
        return None
    base = root.resolve()
    try:
        path = (base / parts).resolve(strict=True)
    except (OSError, RuntimeError):  # missing, or a symlink loop
        return None
    if path == base or not path.is_relative_to(base) or not path.is_file():
        return None
    return path


def parse_range(header: str, size: int) -> tuple[int, int] | None:
    """(first, last) byte asked for by a single `bytes=` range; None to send the whole file
    (no header, a malformed one, several ranges). Raises ValueError when it cannot be met."""
    unit, _, spec = header.partition("=")
    if unit.strip().lower() != "bytes" or not spec or "," in spec:
        return None
    first_text, dash, last_text = spec.strip().partition("-")
    if not dash:
        return None
    first_text, last_text = first_text.strip(), last_text.strip()
    if not (first_text.isdigit() or first_text == "") or not (last_text.isdigit() or last_text == ""):
        return None
    if first_text == "":  # the last N bytes
        if last_text == "":
            return None
        wanted = int(last_text)
        if wanted == 0 or size == 0:
            raise ValueError("empty suffix range")
        return max(0, size - wanted), size - 1
    first = int(first_text)
    if last_text and int(last_text) < first:
        return None  # invalid: ignored (RFC 9110 14.1.1)
    if first >= size:
        raise ValueError("range starts past the end")
    return first, min(int(last_text), size - 1) if last_text else size - 1


def _chunks(handle: BinaryIO, start: int, length: int) -> Generator[bytes]:
    try:
        handle.seek(start)
        while length > 0:
            chunk = handle.read(min(CHUNK, length))
            if not chunk:
                break
            length -= len(chunk)
            yield chunk
    finally:
        handle.close()


async def _achunks(chunks: Generator[bytes]) -> AsyncIterator[bytes]:
    """The same reads, each in a thread: under ASGI Django would otherwise read a sync
    iterator whole into memory before sending the first byte."""
    try:
        while (chunk := await asyncio.to_thread(next, chunks, None)) is not None:
            yield chunk
    finally:
        # A client that goes away mid-read (a video player seeking) cancels us while the
        # thread still reads: closing then raises "generator already executing". The read
        # ends by itself, and the file closes with the generator.
        with contextlib.suppress(ValueError):
            chunks.close()


def open_inside(media: MediaFile) -> tuple[BinaryIO, os.stat_result]:
    """The stored file open for reading, and its stat, once its path is checked to stay
    inside its root; Http404 for a missing file or a path that leads out. Every media
    answer opens its file here, a range of it or the whole file read into memory."""
    path = resolve_inside(media.root, media.relative)
    if path is None:
        raise Http404("no such file")
    return _open(path)


def _open(path: Path) -> tuple[BinaryIO, os.stat_result]:
    """Open without following a symlink at the last step, and check it is a regular file."""
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
    except OSError as exc:
        raise Http404("no such file") from exc
    info = os.fstat(fd)
    if not stat.S_ISREG(info.st_mode):
        os.close(fd)
        raise Http404("no such file")
    return os.fdopen(fd, "rb"), info


def ranged_file_response(
    request: HttpRequest, media: MediaFile | None, *, download: bool = False, max_age: int = 3600
) -> HttpResponseBase:
    """The file, whole (200), in part (206), not at all (416), or unchanged (304)."""
    if media is None:
        raise Http404("no such file")
    handle, info = open_inside(media)
    size = info.st_size
    etag = f'"{info.st_mtime_ns:x}-{size:x}"'
    headers = {
        "Accept-Ranges": "bytes",
        "ETag": etag,
        "Last-Modified": http_date(info.st_mtime),
        "Cache-Control": f"private, max-age={max_age}",
        "X-Content-Type-Options": "nosniff",
    }
    if download:
        headers["Content-Disposition"] = content_disposition_header(True, media.filename) or "attachment"
    if etag in request.headers.get("If-None-Match", ""):
        handle.close()
        return HttpResponse(status=304, headers=headers)

    wanted: tuple[int, int] | None = None
    header = request.headers.get("Range", "")
    if_range = request.headers.get("If-Range", "")
    if header and (not if_range or if_range == etag):
        try:
            wanted = parse_range(header, size)
        except ValueError:
            handle.close()
            return HttpResponse(status=416, headers={**headers, "Content-Range": f"bytes */{size}"})
    start, last = wanted if wanted else (0, size - 1)
    length = max(0, last - start + 1)
    headers["Content-Length"] = str(length)
    if wanted:
        headers["Content-Range"] = f"bytes {start}-{last}/{size}"
    status = 206 if wanted else 200
    if request.method == "HEAD":
        handle.close()
        response: HttpResponseBase = HttpResponse(status=status, content_type=media.content_type, headers=headers)
        response["Content-Length"] = str(length)
        return response
    chunks = _chunks(handle, start, length)
    body = _achunks(chunks) if isinstance(request, ASGIRequest) else chunks
    return StreamingHttpResponse(body, status=status, content_type=media.content_type, headers=headers)
