"""Is an uploaded file a photo or clip we can use? Cheapest checks first, no full decode.

Every problem becomes a rejection with one clear sentence; nothing here raises. The
order matters: a decompression bomb is refused from its header, before any pixel is
decoded (OpenCV's own limit is 2^30 pixels: 30000 x 30000 would decode to ~2.7 GB).
"""

from __future__ import annotations

import os
import stat
import struct
import time
import zlib
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import cv2
from PIL import Image, ImageFile

IMAGE_SUFFIXES = {".jpg": "jpeg", ".jpeg": "jpeg", ".png": "png"}
VIDEO_SUFFIXES = {".mp4": "mp4", ".mov": "mov", ".mkv": "mkv", ".avi": "avi"}
ACCEPTED = ", ".join(sorted({*IMAGE_SUFFIXES, *VIDEO_SUFFIXES}))
JPEG_TAIL_SLACK = 4096  # some cameras pad after the end-of-image marker
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"

ImageFile.LOAD_TRUNCATED_IMAGES = False


@dataclass(frozen=True)
class Inspection:
    ok: bool
    reason: str = ""
    media_type: str = ""
    media_format: str = ""
    width: int | None = None
    height: int | None = None
    size: int = 0
    exif_datetime: datetime | None = None
    decode_ms: float = 0.0
    frame_count: int | None = None
    fps: float | None = None
    duration_s: float | None = None
    codec: str = ""


def _reject(reason: str, size: int = 0) -> Inspection:
    return Inspection(ok=False, reason=reason, size=size)


def sniff(head: bytes) -> tuple[str, str]:
    """(media_type, format) for media, or ("", description) for anything else."""
    if head.startswith(b"\xff\xd8\xff"):
        return "image", "jpeg"
    if head.startswith(PNG_SIGNATURE):
        return "image", "png"
    if head[4:8] == b"ftyp":
        return "video", "mov" if head[8:12] == b"qt  " else "mp4"
    if head.startswith(b"\x1a\x45\xdf\xa3"):
        return "video", "mkv"
    if head.startswith(b"RIFF") and head[8:12] == b"AVI ":
        return "video", "avi"
    text = head.lstrip().lower()
    for magic, what in (
        (b"pk\x03\x04", "a ZIP archive"),
        (b"%pdf", "a PDF document"),
        (b"gif8", "a GIF image"),
        (b"\x7felf", "an executable (ELF)"),
        (b"<!doctype html", "an HTML document"),
        (b"<html", "an HTML document"),
        (b"<?xml", "an XML document"),
        (b"bm", "a BMP image"),
        (b"riff", "a RIFF file that is not an AVI clip"),
    ):
        if text.startswith(magic) or head.lower().startswith(magic):
            return "", what
    if head and all(32 <= b < 127 or b in (9, 10, 13) for b in head):
        return "", "text"
    return "", "not a known image or video format"


def inspect_upload(path: Path, *, camera_root: Path, max_bytes: int, max_pixels: int) -> Inspection:
    try:
        return _inspect(path, camera_root=camera_root, max_bytes=max_bytes, max_pixels=max_pixels)
    except FileNotFoundError:
        return _reject("file vanished before it could be read")
    except Exception as exc:  # noqa: BLE001 - whatever a hostile file does, it is a rejection
        return _reject(f"could not be read: {exc.__class__.__name__}: {str(exc)[:200]}")


def _inspect(path: Path, *, camera_root: Path, max_bytes: int, max_pixels: int) -> Inspection:
    st = os.lstat(path)
    if stat.S_ISLNK(st.st_mode):
        target = path.resolve()
        if not target.is_relative_to(camera_root.resolve()):
            return _reject("symlink points outside the camera folder")
        if not target.exists():
            return _reject("symlink points to a file that does not exist")
        st = os.stat(target)
        path = target
    if stat.S_ISDIR(st.st_mode):
        return _reject("not a regular file (a directory)")
    if not stat.S_ISREG(st.st_mode):
        return _reject("not a regular file")
    size = st.st_size
    if size == 0:
        return _reject("empty file (0 bytes)")
    if size > max_bytes:
        return _reject(f"file is {size / 2**20:.1f} MB, over the {max_bytes / 2**20:.0f} MB limit", size)
    suffix = path.suffix.lower()
    if suffix not in IMAGE_SUFFIXES and suffix not in VIDEO_SUFFIXES:
        return _reject(f"unsupported file type {suffix or '(no extension)'} (accepted: {ACCEPTED})", size)
    with open(path, "rb") as handle:
        head = handle.read(64)
    media_type, fmt = sniff(head)
    if not media_type:
        return _reject(f"content is {fmt}, not an image or video", size)
    expected = "image" if suffix in IMAGE_SUFFIXES else "video"
    if media_type != expected:
        return _reject(
            f"a {suffix} file must hold {'an' if expected == 'image' else 'a'} {expected}, "
            f"but this one holds a {fmt.upper()} {media_type}",
            size,
        )
    if media_type == "image":
        return _inspect_image(path, fmt, size, max_pixels)
    return _inspect_video(path, fmt, size)


def _inspect_image(path: Path, fmt: str, size: int, max_pixels: int) -> Inspection:
    if fmt == "png":
        problem = _png_chunks_problem(path)
        if problem:
            return _reject(problem, size)
    else:
        with open(path, "rb") as handle:
            handle.seek(max(0, size - JPEG_TAIL_SLACK))
            tail = handle.read().rstrip(b"\x00\r\n\t ")
        if not tail.endswith(b"\xff\xd9"):
            return _reject("truncated JPEG: no end-of-image marker", size)
    Image.MAX_IMAGE_PIXELS = None  # our own cap below, with our own message
    with Image.open(path) as image:
        width, height = image.size
        if width * height > max_pixels:
            return _reject(
                f"image is {width}×{height} px ({width * height / 1e6:.1f} MP), over the {max_pixels / 1e6:.1f} MP "
                "limit (decompression bomb guard)",
                size,
            )
        exif_time = _exif_datetime(image)
        started = time.perf_counter()
        try:
            if fmt == "jpeg":
                # DCT-scaled decode at 1/8 size: cheap, and it still walks every
                # entropy-coded block, so corrupt data fails here.
                image.draft("RGB", (max(1, width // 8), max(1, height // 8)))
            image.load()
        except Exception as exc:  # noqa: BLE001
            return _reject(f"undecodable {fmt.upper()}: {str(exc)[:150]}", size)
        decode_ms = (time.perf_counter() - started) * 1000
    return Inspection(
        ok=True,
        media_type="image",
        media_format=fmt,
        width=width,
        height=height,
        size=size,
        exif_datetime=exif_time,
        decode_ms=decode_ms,
    )


def _png_chunks_problem(path: Path) -> str:
    """Walk every chunk checking its CRC; a PNG must end with IEND."""
    with open(path, "rb") as handle:
        handle.seek(len(PNG_SIGNATURE))
        while True:
            header = handle.read(8)
            if len(header) < 8:
                return "truncated PNG: no IEND chunk"
            length, kind = struct.unpack(">I4s", header)
            data = handle.read(length)
            crc = handle.read(4)
            if len(data) < length or len(crc) < 4:
                return "truncated PNG: a chunk is cut short"
            if zlib.crc32(kind + data) != struct.unpack(">I", crc)[0]:
                return f"PNG chunk {kind.decode('latin1')} has a bad CRC"
            if kind == b"IEND":
                return ""


def _exif_datetime(image: Image.Image) -> datetime | None:
    try:
        exif = image.getexif()
        raw = exif.get_ifd(0x8769).get(36867) or exif.get(306)
        return datetime.strptime(str(raw).strip("\x00 "), "%Y:%m:%d %H:%M:%S") if raw else None
    except Exception:  # noqa: BLE001 - bad EXIF is ignored, the time falls back to mtime
        return None


def _inspect_video(path: Path, fmt: str, size: int) -> Inspection:
    capture = cv2.VideoCapture(str(path))
    try:
        if not capture.isOpened():
            return _reject("clip has no decodable frames (the container cannot be opened)", size)
        started = time.perf_counter()
        ok, frame = capture.read()
        decode_ms = (time.perf_counter() - started) * 1000
        if not ok or frame is None:
            return _reject("clip has no decodable frames", size)
        frames = int(capture.get(cv2.CAP_PROP_FRAME_COUNT) or 0)
        fps = float(capture.get(cv2.CAP_PROP_FPS) or 0.0)
        fourcc = int(capture.get(cv2.CAP_PROP_FOURCC) or 0)
        codec = "".join(chr((fourcc >> 8 * i) & 0xFF) for i in range(4)).strip("\x00 ") if fourcc else ""
        height, width = frame.shape[:2]
    finally:
        capture.release()
    duration = frames / fps if frames > 0 and fps > 0 else None
    return Inspection(
        ok=True,
        media_type="video",
        media_format=fmt,
        width=width,
        height=height,
        size=size,
        decode_ms=decode_ms,
        frame_count=frames or None,
        fps=fps or None,
        duration_s=duration,
        codec=codec,
    )
