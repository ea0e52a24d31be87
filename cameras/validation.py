"""Is an uploaded file a photo or clip we can use? Cheapest checks first, never a full-resolution decode.

Every problem becomes a rejection with one clear sentence; nothing here raises. The order
matters: a decompression bomb is refused from the size its header declares, before Pillow
or OpenCV allocate a pixel (OpenCV's own limit is 2^30 pixels: 30000×30000 would decode to
~2.7 GB). For clips that size comes from our own small readers of the container headers
(MP4/MOV boxes, AVI chunks, Matroska elements: bounded seeks and reads), because FFmpeg's
stream probing inside cv2.VideoCapture may already decode a frame.

Paths are resolved first: a file whose real location is outside its camera folder (through a
symlink, or a symlinked folder on its path) is refused. A JPEG ends at the end-of-image
marker after its scans; bytes after it (a camera's trailer, a motion photo's video, padding)
are counted, not decoded, unless they read as the rest of the scan: then the marker was
damage inside the image. Pure Python + Pillow + OpenCV: no Django, so it can run anywhere.
"""

from __future__ import annotations

import errno
import io
import os
import re
import stat
import struct
import time
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO

if TYPE_CHECKING:
    from PIL import Image

IMAGE_SUFFIXES = {".jpg": "jpeg", ".jpeg": "jpeg", ".png": "png"}
VIDEO_SUFFIXES = {".mp4": "mp4", ".mov": "mov", ".mkv": "mkv", ".avi": "avi"}
ACCEPTED = ", ".join(sorted({*IMAGE_SUFFIXES, *VIDEO_SUFFIXES}))
PADDING = b"\x00\r\n\t "  # some cameras pad after the JPEG end-of-image marker
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
# A full PNG decode costs width×height×4 bytes; above this the CRC walk alone vouches for the data.
PNG_FULL_DECODE_MAX_PIXELS = 4_000_000

_JPEG_SOF = {0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF}
# Segments allowed between SOI and EOI besides SOFn: DHT, DAC, SOS, DQT, DNL, DRI, DHP, EXP, APPn, COM.
_JPEG_SEGMENTS = {0xC4, 0xCC, 0xDA, 0xDB, 0xDC, 0xDD, 0xDE, 0xDF, 0xFE, *range(0xE0, 0xF0)}
# Inside entropy-coded data FF 00 is a stuffed FF and FF FF is fill: anything else is a marker.
_ENTROPY_MARKER = re.compile(rb"\xff[^\x00\xff]")
# ... and of those only the restart markers RST0..RST7 let the scan go on.
_SCAN_ENDING_MARKER = re.compile(rb"\xff[^\x00\xff\xd0-\xd7]")
# How many boxes, chunks or elements one clip's header walk may visit: bounded work per file.
MAX_HEADER_ITEMS = 1000


@dataclass(frozen=True)
class Inspection:
    ok: bool
    reason: str = ""
    media_type: str = ""  # "image" / "video" / ""
    media_format: str = ""  # from the content, not the extension: jpeg png mp4 mov mkv avi
    width: int | None = None
    height: int | None = None
    size: int = 0
    exif_datetime: datetime | None = None  # naive: camera wall-clock time
    decode_ms: float = 0.0  # the decode check alone, for benchmarks
    frame_count: int | None = None
    fps: float | None = None
    duration_s: float | None = None
    codec: str = ""  # clips: the FourCC as FFmpeg reports it
    trailing_bytes: int = 0  # JPEG: bytes after the end-of-image marker (a trailer), not decoded


def _reject(reason: str, size: int = 0) -> Inspection:
    return Inspection(ok=False, reason=reason, size=size)


def _mb(n: int) -> str:
    return f"{n / 2**20:.1f}".removesuffix(".0")


def _too_many_pixels(width: int, height: int, max_pixels: int, what: str = "image") -> str:
    if width * height <= max_pixels:
        return ""
    return (
        f"{what} is {width}×{height} px ({width * height / 1e6:.1f} MP), over the {max_pixels / 1e6:.1f} MP limit "
        "(decompression bomb guard)"
    )


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
    return "", "unrecognised binary data"


# Errors of the disk or the system, not of the file: the caller retries them later.
TRANSIENT_ERRNOS = {
    errno.EIO,
    errno.EAGAIN,
    errno.EBUSY,
    errno.ESTALE,
    errno.ETIMEDOUT,
    errno.EINTR,
    errno.ENOMEM,
    errno.EMFILE,
    errno.ENFILE,
    errno.ENOSPC,
}


def inspect_upload(path: Path, *, camera_root: Path, max_bytes: int, max_pixels: int) -> Inspection:
    """Never raises for anything the file does; raises OSError only for transient system
    errors (TRANSIENT_ERRNOS), which say nothing about the file and are worth a retry."""
    try:
        return _inspect(Path(path), camera_root=Path(camera_root), max_bytes=max_bytes, max_pixels=max_pixels)
    except FileNotFoundError:
        return _reject("file vanished before it could be read")
    except OSError as exc:
        if exc.errno in TRANSIENT_ERRNOS:
            raise
        return _reject(f"could not be read: {exc.__class__.__name__}: {str(exc)[:200]}")
    except Exception as exc:  # noqa: BLE001 - whatever a hostile file does, it is a rejection
        return _reject(f"could not be read: {exc.__class__.__name__}: {str(exc)[:200]}")


def _inspect(path: Path, *, camera_root: Path, max_bytes: int, max_pixels: int) -> Inspection:
    suffix = path.suffix.lower()  # the name as uploaded decides the type, even through a symlink
    # Resolve every path, not only a symlinked file: a symlinked folder (door/nas -> /home/...)
    # would otherwise let any file on the machine in.
    try:
        target = path.resolve()
    except RuntimeError:  # Python 3.11's resolve() reports a loop anywhere on the path this way
        return _reject("symlink loop")
    is_link = stat.S_ISLNK(os.lstat(path).st_mode)
    if not target.is_relative_to(camera_root.resolve()):
        if is_link:
            return _reject("symlink points outside the camera folder")
        return _reject("a symlinked folder on its path leads outside the camera folder")
    if is_link and not target.exists():
        return _reject("symlink points to a file that does not exist")
    st = os.stat(target)
    path = target
    if not stat.S_ISREG(st.st_mode):
        kinds = ((stat.S_ISDIR, "a directory"), (stat.S_ISFIFO, "a FIFO"), (stat.S_ISSOCK, "a socket"))
        kind = next((name for test, name in kinds if test(st.st_mode)), "a device")
        return _reject(f"not a regular file ({kind})")  # never opened: reading a FIFO would block
    size = st.st_size
    if size == 0:
        return _reject("empty file (0 bytes)")
    if size > max_bytes:
        return _reject(f"file is {size / 2**20:.1f} MB, over the {_mb(max_bytes)} MB limit", size)
    if suffix not in IMAGE_SUFFIXES and suffix not in VIDEO_SUFFIXES:
        return _reject(f"unsupported file type {suffix or '(no extension)'} (accepted: {ACCEPTED})", size)
    with open(path, "rb") as handle:
        head = handle.read(64)
    media_type, fmt = sniff(head)
    if not media_type:
        return _reject(f"content is {fmt}, not an image or video", size)
    # Within images (or clips) the content wins: a PNG named .jpg is a PNG. Across them it is refused.
    if media_type != ("image" if suffix in IMAGE_SUFFIXES else "video"):
        return _reject(f"extension {suffix} does not match the content ({fmt.upper()} {media_type})", size)
    if media_type == "video":
        return _inspect_video(path, fmt, size, max_pixels)
    if fmt == "png":
        return _inspect_png(path, head, size, max_pixels)
    return _inspect_jpeg(path, size, max_pixels)


def _inspect_jpeg(path: Path, size: int, max_pixels: int) -> Inspection:
    data = path.read_bytes()  # at most max_bytes; read once, walked and decoded from memory
    if b"\xff\xd9" not in data:  # a half-written upload, told in one fast scan
        return _reject("truncated JPEG: no end-of-image marker", size)
    dims, end, problem = _jpeg_walk(data)
    if dims and (bomb := _too_many_pixels(*dims, max_pixels)):
        return _reject(bomb, size)
    if problem:
        return _reject(problem, size)
    trailing = len(data) - end
    # The decoder stops at the end marker anyway; handing it only the image keeps a trailer
    # (possibly megabytes of motion-photo video) out of the decode check.
    return _decode_image(io.BytesIO(data[:end] if trailing else data), "jpeg", size, max_pixels, trailing)


def _jpeg_walk(data: bytes) -> tuple[tuple[int, int] | None, int, str]:
    """Walk the marker segments and scans: ((width, height) from the frame header, where the
    image ends (just after its end-of-image marker), problem or "").

    libjpeg only *warns* about damaged entropy data and Pillow then hands back a half-grey
    picture, so the structure is checked here: no stray markers inside the image data,
    restart markers in order, and an end-of-image marker after the scans.
    """
    end = len(data)
    dims: tuple[int, int] | None = None
    scans = 0
    pos = 2
    while True:
        while pos + 1 < end and data[pos] == 0xFF and data[pos + 1] == 0xFF:
            pos += 1  # fill bytes before a marker
        if pos + 2 > end:
            return dims, end, "truncated JPEG: no end-of-image marker"
        if data[pos] != 0xFF:
            return dims, end, f"corrupt JPEG: expected a marker at byte {pos}"
        kind = data[pos + 1]
        if kind == 0xD9:
            if not scans:
                return dims, end, "corrupt JPEG: no image data"
            if _continues_the_scan(data, pos + 2):
                return dims, end, f"corrupt JPEG: image data continues after the end-of-image marker at byte {pos}"
            return dims, pos + 2, ""
        if kind not in _JPEG_SOF and kind not in _JPEG_SEGMENTS:
            return dims, end, f"corrupt JPEG: unexpected marker 0xFF{kind:02X} at byte {pos}"
        length = int.from_bytes(data[pos + 2 : pos + 4], "big")
        if pos + 4 > end or pos + 2 + length > end:
            return dims, end, "truncated JPEG: a segment runs past the end of the file"
        if length < 2:
            return dims, end, f"corrupt JPEG: a segment of length {length} at byte {pos}"
        if kind in _JPEG_SOF:
            if dims:
                return dims, end, "corrupt JPEG: a second frame header"
            if length < 7:
                return dims, end, "corrupt JPEG: short frame header"
            height, width = struct.unpack(">HH", data[pos + 5 : pos + 9])
            dims = (width, height)
        pos += 2 + length
        if kind != 0xDA:
            continue
        if dims is None:
            return dims, end, "corrupt JPEG: image data before the frame header"
        scans += 1
        # Entropy-coded data runs to the next marker that is not a restart marker RST0..RST7.
        expected_rst = 0
        for found in _ENTROPY_MARKER.finditer(data, pos, end):
            marker = found.group()[1]
            if 0xD0 <= marker <= 0xD7:
                if marker != 0xD0 + expected_rst:
                    return dims, end, f"corrupt JPEG: restart marker out of order at byte {found.start()}"
                expected_rst = (expected_rst + 1) % 8
                continue
            pos = found.start()
            break
        else:
            return dims, end, "truncated JPEG: image data runs to the end of the file"


def _continues_the_scan(data: bytes, start: int) -> bool:
    """Do the bytes after an end-of-image marker read as more of the scan: every FF stuffed,
    fill or a restart marker, closed by another end marker (padding aside)? Then the first
    FF D9 was damage inside the entropy-coded data, not the image's end. A genuine trailer
    (text, padding, an MP4 box, a second JPEG's FF D8) breaks that pattern or does not end so.
    """
    trailer = data[start:].rstrip(PADDING)
    return (
        len(trailer) > 2
        and trailer.endswith(b"\xff\xd9")
        and not _SCAN_ENDING_MARKER.search(trailer, 0, len(trailer) - 2)
    )


def _inspect_png(path: Path, head: bytes, size: int, max_pixels: int) -> Inspection:
    # IHDR is always the first chunk, inside the 64 bytes already read: the bomb guard needs nothing else.
    if head[12:16] != b"IHDR" or len(head) < 24:
        return _reject("corrupt PNG: the first chunk is not IHDR", size)
    width, height = struct.unpack(">II", head[16:24])
    if bomb := _too_many_pixels(width, height, max_pixels):
        return _reject(bomb, size)
    if problem := _png_chunks_problem(path):
        return _reject(problem, size)
    return _decode_image(path, "png", size, max_pixels)


def _png_chunks_problem(path: Path) -> str:
    """Walk every chunk checking its CRC (what Pillow's verify() does); a PNG must end with IEND."""
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


def _decode_image(
    source: Path | io.BytesIO, fmt: str, size: int, max_pixels: int, trailing_bytes: int = 0
) -> Inspection:
    # Pillow and OpenCV are imported where they decode: the web process, which imports this
    # module through the admin, never decodes an upload and so never loads them.
    from PIL import Image, ImageFile

    # A truncated image must fail, never be silently padded with grey.
    ImageFile.LOAD_TRUNCATED_IMAGES = False
    # Our own guard ran on the header already; Pillow's (process-wide) guard only has to not be lower.
    if Image.MAX_IMAGE_PIXELS is not None and Image.MAX_IMAGE_PIXELS < max_pixels:
        Image.MAX_IMAGE_PIXELS = max_pixels
    name = fmt.upper()
    try:
        image = Image.open(source, formats=[name])
    except Image.DecompressionBombError as exc:
        return _reject(f"image over the {max_pixels / 1e6:.1f} MP limit (decompression bomb guard): {exc}", size)
    except Exception as exc:  # noqa: BLE001
        return _reject(f"undecodable {name}: {str(exc)[:150]}", size)
    with image:
        width, height = image.size
        if bomb := _too_many_pixels(width, height, max_pixels):
            return _reject(bomb, size)
        exif_time = _exif_datetime(image)
        started = time.perf_counter()
        try:
            if fmt == "jpeg":
                # DCT-scaled decode at 1/8 size: cheap, and it still walks every
                # entropy-coded block, so broken tables and data fail here.
                image.draft("RGB", (max(1, width // 8), max(1, height // 8)))
                image.load()
            elif width * height <= PNG_FULL_DECODE_MAX_PIXELS:
                image.load()  # inflates and unfilters every row: catches a bad zlib stream
        except Exception as exc:  # noqa: BLE001
            return _reject(f"undecodable {name}: {str(exc)[:150]}", size)
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
        trailing_bytes=trailing_bytes,
    )


def _exif_datetime(image: Image.Image) -> datetime | None:
    """DateTimeOriginal (Exif IFD), else DateTime (IFD0); anything unreadable is simply no time."""
    if image.format == "PNG" and "exif" not in image.info:
        return None  # Pillow's PNG getexif() would decode the whole image to look for a late eXIf chunk
    try:
        exif = image.getexif()
        raw = exif.get_ifd(0x8769).get(36867) or exif.get(306)
        if isinstance(raw, bytes):
            raw = raw.decode("ascii", "replace")
        return datetime.strptime(str(raw).strip("\x00 "), "%Y:%m:%d %H:%M:%S") if raw else None
    except Exception:  # noqa: BLE001 - bad EXIF is ignored, the time falls back to mtime
        return None


def _inspect_video(path: Path, fmt: str, size: int, max_pixels: int) -> Inspection:
    # Before OpenCV sees the file: opening it runs FFmpeg's stream probing, which can decode a frame.
    with open(path, "rb") as handle:
        sizes, missing = _CONTAINER_READERS[fmt](handle, size, iter(range(MAX_HEADER_ITEMS)))
    sizes = [(width, height) for width, height in sizes if width and height]
    if not sizes:
        return _reject(f"clip cannot be opened: its header declares no frame size ({missing})", size)
    widest, tallest = max(sizes, key=lambda wh: wh[0] * wh[1])
    if bomb := _too_many_pixels(widest, tallest, max_pixels, "clip"):
        return _reject(bomb, size)
    import cv2

    capture = cv2.VideoCapture(str(path))
    try:
        if not capture.isOpened():
            return _reject("clip cannot be opened (no readable video stream)", size)
        # What FFmpeg makes of the stream, still before the first frame is decoded into memory.
        declared = int(capture.get(cv2.CAP_PROP_FRAME_WIDTH) or 0), int(capture.get(cv2.CAP_PROP_FRAME_HEIGHT) or 0)
        if bomb := _too_many_pixels(*declared, max_pixels, "clip"):
            return _reject(bomb, size)
        started = time.perf_counter()
        ok, frame = capture.read()  # one frame only: never the whole clip
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
    return Inspection(
        ok=True,
        media_type="video",
        media_format=fmt,
        width=width,
        height=height,
        size=size,
        decode_ms=decode_ms,
        frame_count=frames if frames > 0 else None,
        fps=fps if fps > 0 else None,
        duration_s=frames / fps if frames > 0 and fps > 0 else None,
        codec=codec,
    )


# The container readers: (frame sizes the header declares, what was missing when none).
# They seek from header to header and read a few bytes at a time, so a clip's size does not
# matter; `budget` caps how many boxes, chunks or elements one file makes them visit.


def _read_span(handle: BinaryIO, span: tuple[int, int] | None, limit: int) -> bytes:
    if span is None:
        return b""
    handle.seek(span[0])
    return handle.read(max(0, min(limit, span[1] - span[0])))


def _mp4_boxes(handle: BinaryIO, start: int, end: int, budget: Iterator[int]) -> Iterator[tuple[bytes, int, int]]:
    """(type, payload start, payload end) of each ISO-BMFF box in [start, end)."""
    pos = start
    while pos + 8 <= end and next(budget, None) is not None:
        handle.seek(pos)
        head = handle.read(16)
        if len(head) < 8:
            return
        size, kind = struct.unpack(">I4s", head[:8])
        header = 8
        if size == 1 and len(head) == 16:
            size, header = struct.unpack(">Q", head[8:])[0], 16  # 64-bit size: a large mdat
        elif size == 0:
            size = end - pos  # "runs to the end of the file"
        if size < header:
            return  # damaged: nothing after it can be located
        yield kind, pos + header, min(pos + size, end)
        pos += size


def _first_of_each(items: Iterator[tuple[bytes | int, int, int]]) -> dict:
    """{box type, chunk id or element id: (payload start, payload end)} of its first occurrence."""
    found: dict = {}
    for key, start, end in items:
        found.setdefault(key, (start, end))
    return found


def _mp4_children(handle: BinaryIO, span: tuple[int, int] | None, budget: Iterator[int]) -> dict:
    return _first_of_each(_mp4_boxes(handle, *(span or (0, 0)), budget))


def _mp4_frame_sizes(handle: BinaryIO, file_size: int, budget: Iterator[int]) -> tuple[list, str]:
    # moov may come after a large mdat (cameras write the index last): skip boxes by seeking.
    moov = next(
        ((start, end) for kind, start, end in _mp4_boxes(handle, 0, file_size, budget) if kind == b"moov"), None
    )
    if moov is None:
        return [], "no 'moov' box"
    sizes = []
    for kind, start, end in _mp4_boxes(handle, *moov, budget):
        if kind != b"trak":
            continue
        trak = _mp4_children(handle, (start, end), budget)
        mdia = _mp4_children(handle, trak.get(b"mdia"), budget)
        if _read_span(handle, mdia.get(b"hdlr"), 12)[8:12] != b"vide":
            continue  # sound, subtitles, metadata: no frames to decode
        tkhd = _read_span(handle, trak.get(b"tkhd"), 96)
        at = 88 if tkhd[:1] == b"\x01" else 76  # version 1 has 64-bit times
        if len(tkhd) >= at + 8:
            width, height = struct.unpack(">II", tkhd[at : at + 8])
            sizes.append((width >> 16, height >> 16))  # 16.16 fixed point
        stbl = _mp4_children(handle, _mp4_children(handle, mdia.get(b"minf"), budget).get(b"stbl"), budget)
        # stsd: version/flags, entry count, then the first visual sample entry; its width and
        # height sit 24 bytes into the entry, after the reserved and predefined fields.
        stsd = _read_span(handle, stbl.get(b"stsd"), 44)
        if len(stsd) == 44:
            sizes.append(struct.unpack(">HH", stsd[40:44]))
    return sizes, "no video track"


def _riff_chunks(handle: BinaryIO, start: int, end: int, budget: Iterator[int]) -> Iterator[tuple[bytes, int, int]]:
    """(id, payload start, payload end) of each RIFF chunk in [start, end); a LIST is named by its list type."""
    pos = start
    while pos + 8 <= end and next(budget, None) is not None:
        handle.seek(pos)
        head = handle.read(12)
        if len(head) < 8:
            return
        fourcc, size = struct.unpack("<4sI", head[:8])
        payload = pos + 8
        if fourcc == b"LIST" and len(head) == 12:
            fourcc, payload = head[8:12], pos + 12
        yield fourcc, payload, min(pos + 8 + size, end)
        pos += 8 + size + (size & 1)  # chunks are word-aligned


def _avi_frame_sizes(handle: BinaryIO, file_size: int, budget: Iterator[int]) -> tuple[list, str]:
    # The walk starts past "RIFF size AVI " and runs to the file's end: an unfinished
    # recording can carry a wrong RIFF size, and FFmpeg reads it anyway.
    hdrl = next(((s, e) for kind, s, e in _riff_chunks(handle, 12, file_size, budget) if kind == b"hdrl"), None)
    if hdrl is None:
        return [], "no 'hdrl' header list"
    sizes = []
    for kind, start, end in _riff_chunks(handle, *hdrl, budget):
        if kind == b"avih":  # MainAVIHeader: dwWidth, dwHeight after eight other DWORDs
            avih = _read_span(handle, (start, end), 40)
            if len(avih) == 40:
                sizes.append(struct.unpack("<II", avih[32:40]))
        elif kind == b"strl":
            stream = _first_of_each(_riff_chunks(handle, start, end, budget))
            if _read_span(handle, stream.get(b"strh"), 4) == b"vids":
                strf = _read_span(handle, stream.get(b"strf"), 12)  # BITMAPINFOHEADER: biSize, biWidth, biHeight
                if len(strf) == 12:
                    width, height = struct.unpack("<ii", strf[4:12])
                    sizes.append((abs(width), abs(height)))  # a negative height means top-down rows
    return sizes, "no video track"


def _ebml_children(handle: BinaryIO, start: int, end: int, budget: Iterator[int]) -> Iterator[tuple[int, int, int]]:
    """(id, payload start, payload end) of each EBML element in [start, end). An element of
    unknown size (a live recording's Segment or Cluster) runs to `end`, so the walk stops after it."""
    pos = start
    while pos < end and next(budget, None) is not None:
        handle.seek(pos)
        head = handle.read(12)
        id_length = 9 - head[0].bit_length() if head else 9  # leading zero bits + 1
        if id_length > 4 or len(head) <= id_length:
            return
        size_length = 9 - head[id_length].bit_length()
        if size_length > 8 or len(head) < id_length + size_length:
            return
        element_id = int.from_bytes(head[:id_length], "big")
        mask = (1 << 7 * size_length) - 1
        size = int.from_bytes(head[id_length : id_length + size_length], "big") & mask
        payload = pos + id_length + size_length
        pos = end if size == mask else min(payload + size, end)
        yield element_id, payload, pos


# Matroska element ids: Segment > Tracks > TrackEntry > Video > PixelWidth, PixelHeight.
_MKV_SEGMENT = 0x18538067
_MKV_TRACKS = 0x1654AE6B
_MKV_TRACK_ENTRY = 0xAE
_MKV_VIDEO = 0xE0
_MKV_PIXEL_WIDTH = 0xB0
_MKV_PIXEL_HEIGHT = 0xBA


def _mkv_frame_sizes(handle: BinaryIO, file_size: int, budget: Iterator[int]) -> tuple[list, str]:
    def first(element_id: int, start: int, end: int) -> tuple[int, int] | None:
        return next(((s, e) for i, s, e in _ebml_children(handle, start, end, budget) if i == element_id), None)

    segment = first(_MKV_SEGMENT, 0, file_size)
    # Muxers write Tracks before the clusters; one of unknown size cannot be skipped.
    tracks = first(_MKV_TRACKS, *segment) if segment else None
    if tracks is None:
        return [], "no Tracks element before the picture data"
    sizes = []
    for element_id, start, end in _ebml_children(handle, *tracks, budget):
        video = first(_MKV_VIDEO, start, end) if element_id == _MKV_TRACK_ENTRY else None
        if video:
            pixels = _first_of_each(_ebml_children(handle, *video, budget))
            width, height = (
                int.from_bytes(_read_span(handle, pixels.get(i), 8), "big")
                for i in (_MKV_PIXEL_WIDTH, _MKV_PIXEL_HEIGHT)
            )
            sizes.append((width, height))
    return sizes, "no video track"


_CONTAINER_READERS = {
    "mp4": _mp4_frame_sizes,
    "mov": _mp4_frame_sizes,
    "avi": _avi_frame_sizes,
    "mkv": _mkv_frame_sizes,
}
