"""Test files, generated at test time: good photos and clips, and a corpus of bad inputs.

BAD_CASES: (kind, build(folder) -> path, substring of the expected rejection reason).
Every builder is deterministic and writes only plain files, directories and symlinks (no
FIFOs: a watcher test builds the whole list in a watched folder). One builder, for
"deleted-before-read", returns a path that no longer exists: the file was written,
closed and removed, as when a camera or a clean-up job deletes an upload before the
worker reaches it. The hostile clips are container headers built byte by byte (mp4_box,
riff_chunk, ebml): they declare a frame size and hold no decodable picture.
"""

from __future__ import annotations

import os
import struct
import tempfile
import zlib
from datetime import datetime
from pathlib import Path

import cv2
import numpy as np
from PIL import Image


def picture(w: int, h: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    img = cv2.GaussianBlur(rng.integers(0, 255, (h, w, 3), dtype=np.uint8), (0, 0), 2)
    cv2.rectangle(img, (w // 4, h // 4), (w // 2, h // 2), (int(seed * 37 % 255), 200, 40), -1)
    cv2.putText(img, f"#{seed}", (10, h - 10), cv2.FONT_HERSHEY_SIMPLEX, 1, (255, 255, 255), 2)
    return img


def jpeg_bytes(w: int = 640, h: int = 360, seed: int = 0) -> bytes:
    return cv2.imencode(".jpg", picture(w, h, seed), [cv2.IMWRITE_JPEG_QUALITY, 85])[1].tobytes()


def good_jpeg(path: Path, w: int = 640, h: int = 360, seed: int = 0, exif_datetime: datetime | None = None) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    if exif_datetime is None:
        path.write_bytes(jpeg_bytes(w, h, seed))
        return path
    image = Image.fromarray(cv2.cvtColor(picture(w, h, seed), cv2.COLOR_BGR2RGB))
    exif = Image.Exif()
    exif.get_ifd(0x8769)[36867] = exif_datetime.strftime("%Y:%m:%d %H:%M:%S")
    image.save(path, "JPEG", exif=exif, quality=85)
    return path


def good_png(path: Path, w: int = 320, h: int = 240, seed: int = 0) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(cv2.imencode(".png", picture(w, h, seed))[1].tobytes())
    return path


def good_clip(path: Path, seconds: float = 3, fps: int = 10, w: int = 320, h: int = 240, fourcc: str = "mp4v") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*fourcc), fps, (w, h))
    for i in range(int(seconds * fps)):
        frame = picture(w, h, 0)
        cv2.circle(frame, (10 + i * 5 % (w - 20), h // 2), 12, (0, 0, 255), -1)
        writer.write(frame)
    writer.release()
    return path


def _png_chunk(kind: bytes, data: bytes, crc: int | None = None) -> bytes:
    crc = zlib.crc32(kind + data) if crc is None else crc
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)


def pixel_bomb_png(width: int = 30000, height: int = 30000) -> bytes:
    """A small file whose header declares width x height pixels (1-bit grey, all zero)."""
    ihdr = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    row = b"\x00" * (1 + (width + 7) // 8)
    compressor = zlib.compressobj(9)
    data = b"".join(compressor.compress(row) for _ in range(height)) + compressor.flush()
    return b"\x89PNG\r\n\x1a\n" + _png_chunk(b"IHDR", ihdr) + _png_chunk(b"IDAT", data) + _png_chunk(b"IEND", b"")


def _write(name: str, data: bytes):
    def build(folder: Path) -> Path:
        path = folder / name
        path.write_bytes(data)
        return path

    return build


def _png_bad_crc(folder: Path) -> Path:
    data = bytearray(cv2.imencode(".png", picture(64, 48, 3))[1].tobytes())
    data[29] ^= 0xFF  # the IHDR chunk's CRC
    path = folder / "bad-crc.png"
    path.write_bytes(bytes(data))
    return path


def _png_truncated(folder: Path) -> Path:
    data = cv2.imencode(".png", picture(64, 48, 4))[1].tobytes()
    path = folder / "no-iend.png"
    path.write_bytes(data[:-12])
    return path


def _jpeg_corrupt_middle(folder: Path) -> Path:
    """512 bytes in the middle of the image data overwritten (seeded noise); markers and the end intact.
    libjpeg only warns about this and Pillow returns a half-grey picture: the marker walk catches it."""
    data = bytearray(jpeg_bytes(seed=8))
    middle = (data.index(b"\xff\xda") + len(data)) // 2
    data[middle : middle + 512] = np.random.default_rng(0).integers(0, 256, 512, dtype=np.uint8).tobytes()
    path = folder / "corrupt-middle.jpg"
    path.write_bytes(bytes(data))
    return path


def jpeg_with_early_end_marker(seed: int = 10) -> bytes:
    """A JPEG whose entropy-coded data holds a stray FF D9 halfway: to a marker walk the
    image "ends" there and the rest of its scan looks like a trailer."""
    data = bytearray(jpeg_bytes(seed=seed))
    middle = (data.index(b"\xff\xda") + len(data)) // 2
    data[middle : middle + 2] = b"\xff\xd9"
    return bytes(data)


def _jpeg_bomb(folder: Path) -> Path:
    """A small JPEG whose frame header claims 30000×30000 pixels."""
    data = bytearray(jpeg_bytes(64, 48, seed=9))
    sof = data.index(b"\xff\xc0")
    data[sof + 5 : sof + 9] = struct.pack(">HH", 30000, 30000)
    path = folder / "bomb.jpg"
    path.write_bytes(bytes(data))
    return path


def _jpeg_broken_huffman(folder: Path) -> Path:
    """Intact markers and end, but the Huffman tables are zeroed: nothing decodes.
    (Damage inside the entropy-coded data alone libjpeg recovers from, with warnings.)"""
    data = bytearray(jpeg_bytes(seed=5))
    start = data.index(b"\xff\xc4")
    for i in range(start + 5, start + 21):
        data[i] = 0
    path = folder / "broken-huffman.jpg"
    path.write_bytes(bytes(data))
    return path


def _mp4_no_frames(folder: Path) -> Path:
    """A zero-frame VideoWriter .mp4: a header without a video stream, which FFmpeg will not open."""
    path = folder / "no-frames.mp4"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), 10, (64, 48))
    writer.release()
    if not path.exists() or path.stat().st_size == 0:
        # Some builds write nothing for zero frames: an ftyp box alone is a clip without frames.
        path.write_bytes(struct.pack(">I4s4sI", 16, b"ftyp", b"isom", 0x200))
    return path


def _avi_no_frames(folder: Path) -> Path:
    """A zero-frame MJPG .avi: it opens (the AVI header names a stream) but holds no frame."""
    path = folder / "no-frames.avi"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 10, (64, 48))
    writer.release()
    return path


def _mp4_truncated(folder: Path) -> Path:
    """The first half of a good clip: a half-written upload (mp4v puts its index at the end)."""
    with tempfile.TemporaryDirectory() as scratch:  # not in `folder`: a watcher may be looking at it
        whole = good_clip(Path(scratch) / "whole.mp4", seconds=1).read_bytes()
    path = folder / "half-written.mp4"
    path.write_bytes(whole[: len(whole) // 2])
    return path


def mp4_box(kind: bytes, *payload: bytes) -> bytes:
    body = b"".join(payload)
    return struct.pack(">I4s", 8 + len(body), kind) + body


def _mp4_track(handler: bytes, width: int, height: int, entry: bytes) -> bytes:
    matrix = struct.pack(">9I", 0x10000, 0, 0, 0, 0x10000, 0, 0, 0, 0x40000000)
    # tkhd version 0: flags, times, track id, duration; layer, group, volume; matrix; 16.16 width and height.
    tkhd = (
        struct.pack(">I5I8x4H", 3, 0, 0, 1, 0, 0, 0, 0, 0, 0) + matrix + struct.pack(">II", width << 16, height << 16)
    )
    hdlr = struct.pack(">II4s12x", 0, 0, handler) + b"handler\x00"
    stsd = struct.pack(">II", 0, 1) + entry
    return mp4_box(
        b"trak",
        mp4_box(b"tkhd", tkhd),
        mp4_box(b"mdia", mp4_box(b"hdlr", hdlr), mp4_box(b"minf", mp4_box(b"stbl", mp4_box(b"stsd", stsd)))),
    )


def mp4_header_bomb(width: int = 30000, height: int = 30000) -> bytes:
    """ftyp, a 64-bit-sized mdat, then moov (at the end, as cameras write it) with one mp4v
    track whose tkhd and sample entry both declare width x height."""
    entry = mp4_box(
        b"mp4v",
        bytes(6),
        struct.pack(">H", 1),
        bytes(16),
        struct.pack(">HHII4xH32xHh", width, height, 0x480000, 0x480000, 1, 24, -1),
    )
    ftyp = mp4_box(b"ftyp", b"isom", struct.pack(">I", 0x200), b"isomiso2mp41")
    mdat = struct.pack(">I4sQ", 1, b"mdat", 16 + 4096) + bytes(4096)
    return ftyp + mdat + mp4_box(b"moov", _mp4_track(b"vide", width, height, entry))


def mp4_audio_only() -> bytes:
    entry = mp4_box(b"mp4a", bytes(6), struct.pack(">H", 1), bytes(8), struct.pack(">HHHHI", 2, 16, 0, 0, 44100 << 16))
    ftyp = mp4_box(b"ftyp", b"isom", struct.pack(">I", 0x200), b"isomiso2mp41")
    return ftyp + mp4_box(b"moov", _mp4_track(b"soun", 0, 0, entry)) + mp4_box(b"mdat", bytes(512))


def _real_mp4_claiming(folder: Path) -> Path:
    """A clip VideoWriter made (moov at the end), its tkhd and sample entry rewritten to 30000×30000."""
    with tempfile.TemporaryDirectory() as scratch:  # not in `folder`: a watcher may be looking at it
        data = bytearray(good_clip(Path(scratch) / "real.mp4", seconds=1).read_bytes())
    tkhd = data.index(b"tkhd") + 4
    at = tkhd + (88 if data[tkhd] == 1 else 76)
    data[at : at + 8] = struct.pack(">II", 30000 << 16, 30000 << 16)
    at = data.index(b"stsd") + 4 + 40
    data[at : at + 4] = struct.pack(">HH", 30000, 30000)
    path = folder / "real-claims-30000.mp4"
    path.write_bytes(bytes(data))
    return path


def riff_chunk(fourcc: bytes, *payload: bytes) -> bytes:
    body = b"".join(payload)
    return fourcc + struct.pack("<I", len(body)) + body + b"\x00" * (len(body) % 2)


def avi_header_bomb(width: int = 30000, height: int = 30000) -> bytes:
    """An MJPG AVI header: avih and the video stream's BITMAPINFOHEADER declare width x height."""
    avih = struct.pack("<14I", 100_000, 0, 0, 0x10, 1, 0, 1, 0, width, height, 0, 0, 0, 0)
    strh = b"vidsMJPG" + struct.pack("<IHHIIIIIIIIhhhh", 0, 0, 0, 0, 1, 10, 0, 1, 0, 0xFFFFFFFF, 0, 0, 0, width, height)
    strf = struct.pack("<IiiHH4sIiiII", 40, width, height, 1, 24, b"MJPG", 0, 0, 0, 0, 0)
    strl = riff_chunk(b"LIST", b"strl", riff_chunk(b"strh", strh), riff_chunk(b"strf", strf))
    hdrl = riff_chunk(b"LIST", b"hdrl", riff_chunk(b"avih", avih), strl)
    return riff_chunk(b"RIFF", b"AVI ", hdrl, riff_chunk(b"LIST", b"movi"))


def ebml(element_id: int, *payload: bytes) -> bytes:
    body = b"".join(payload)
    size = (1 << 56 | len(body)).to_bytes(8, "big")  # an 8-byte size vint, as muxers write placeholders
    return element_id.to_bytes((element_id.bit_length() + 7) // 8, "big") + size + body


def _ebml_uint(element_id: int, value: int) -> bytes:
    return ebml(element_id, value.to_bytes(max(1, (value.bit_length() + 7) // 8), "big"))


def mkv_header_bomb(width: int = 30000, height: int = 30000) -> bytes:
    """EBML header, then a Segment of unknown size (a live recording) whose one video track
    declares width x height, then a Cluster of unknown size."""
    header = ebml(0x1A45DFA3, _ebml_uint(0x4286, 1), ebml(0x4282, b"matroska"))
    video = ebml(0xE0, _ebml_uint(0xB0, width), _ebml_uint(0xBA, height))
    entry = ebml(0xAE, _ebml_uint(0xD7, 1), _ebml_uint(0x83, 1), ebml(0x86, b"V_MJPEG"), video)
    unknown = bytes.fromhex("01ffffffffffffff")
    return (
        header
        + bytes.fromhex("18538067")
        + unknown
        + ebml(0x1654AE6B, entry)
        + bytes.fromhex("1f43b675")
        + unknown
        + bytes(64)
    )


def _symlink_out(folder: Path) -> Path:
    outside = folder.parent.parent / "outside-secret.jpg"
    outside.write_bytes(jpeg_bytes(seed=6))
    path = folder / "link-out.jpg"
    os.symlink(outside, path)
    return path


def _dangling(folder: Path) -> Path:
    path = folder / "dangling.jpg"
    os.symlink(folder / "never-there.jpg", path)
    return path


def _directory(folder: Path) -> Path:
    path = folder / "x.jpg"
    path.mkdir()
    return path


def _deleted(folder: Path) -> Path:
    """Written, closed, and deleted at once: the watcher sees it close, the worker finds nothing."""
    path = folder / "deleted-before-read.jpg"
    path.write_bytes(jpeg_bytes(seed=7))
    path.unlink()
    return path


def _mp4_named_jpg() -> bytes:
    return struct.pack(">I4s4sI", 16, b"ftyp", b"isom", 0x200) + b"\x00" * 64


_GOOD = jpeg_bytes(seed=1)
OVERSIZE_BYTES = 1_500_000  # the tests set the limit to 1 MB

BAD_CASES = [
    ("empty", _write("empty.jpg", b""), "empty file"),
    ("truncated-jpeg", _write("truncated.jpg", _GOOD[: len(_GOOD) * 6 // 10]), "truncated JPEG"),
    ("jpeg-header-then-garbage", _write("garbage.jpg", _GOOD[:600] + bytes(range(256)) * 20), "truncated JPEG"),
    ("jpeg-corrupt-middle", _jpeg_corrupt_middle, "corrupt JPEG"),
    ("jpeg-end-marker-inside-image-data", _write("early-end.jpg", jpeg_with_early_end_marker()), "corrupt JPEG"),
    (
        "jpeg-end-marker-inside-image-data-then-padding",
        _write("early-end-padded.jpg", jpeg_with_early_end_marker() + b"\x00" * 6000),
        "corrupt JPEG",
    ),
    ("jpeg-broken-huffman-tables", _jpeg_broken_huffman, "undecodable JPEG"),
    ("png-bad-crc", _png_bad_crc, "bad CRC"),
    ("png-truncated", _png_truncated, "truncated PNG"),
    ("text-as-jpg", _write("notes.jpg", b"this is not a photo\n" * 10), "content is text"),
    ("html-as-jpg", _write("page.jpg", b"<!DOCTYPE html><html><body>404</body></html>"), "an HTML document"),
    ("zip-as-jpg", _write("archive.jpg", b"PK\x03\x04" + b"\x00" * 100), "a ZIP archive"),
    ("pdf-as-png", _write("doc.png", b"%PDF-1.7\n" + b"\x00" * 100), "a PDF document"),
    ("gif-as-jpg", _write("anim.jpg", b"GIF89a" + b"\x00" * 100), "a GIF image"),
    ("elf-as-png", _write("binary.png", b"\x7fELF\x02\x01\x01" + b"\x00" * 100), "an executable"),
    ("pixel-bomb", _write("bomb.png", pixel_bomb_png()), "decompression bomb"),
    ("jpeg-pixel-bomb", _jpeg_bomb, "30000×30000 px"),
    ("over-size-limit", _write("huge.jpg", _GOOD[:-2] + b"\x00" * OVERSIZE_BYTES + b"\xff\xd9"), "over the 1 MB limit"),
    ("symlink-out-of-root", _symlink_out, "outside the camera folder"),
    ("dangling-symlink", _dangling, "does not exist"),
    ("directory-named-jpg", _directory, "not a regular file"),
    ("clip-without-frames", _avi_no_frames, "clip has no decodable frames"),
    ("mp4-header-only", _mp4_no_frames, "clip cannot be opened"),
    ("mp4-half-written", _mp4_truncated, "clip cannot be opened"),
    ("mp4-header-pixel-bomb", _write("bomb.mp4", mp4_header_bomb()), "clip is 30000×30000 px"),
    ("mp4-rewritten-header-pixel-bomb", _real_mp4_claiming, "clip is 30000×30000 px"),
    ("avi-header-pixel-bomb", _write("bomb.avi", avi_header_bomb()), "clip is 30000×30000 px"),
    ("mkv-header-pixel-bomb", _write("bomb.mkv", mkv_header_bomb()), "clip is 30000×30000 px"),
    ("mp4-audio-only", _write("audio-only.mp4", mp4_audio_only()), "declares no frame size"),
    ("garbage-as-mp4", _write("noise.mp4", bytes(range(256)) * 8), "content is unrecognised binary data"),
    ("text-file", _write("readme.txt", b"camera log\n"), "unsupported file type .txt"),
    ("clip-named-jpg", _write("clip.jpg", _mp4_named_jpg()), "extension .jpg does not match the content (MP4 video)"),
    ("photo-named-mp4", _write("photo.mp4", _GOOD), "extension .mp4 does not match the content (JPEG image)"),
    ("deleted-before-read", _deleted, "vanished"),
]

GOOD_ODD_NAMES = ["Ünïcödé façade.jpg", "with spaces and (brackets).jpg", "new\nline.jpg", "日本語.png"]


def heavy_clip(path: Path, frames: int = 400, w: int = 1920, h: int = 1080) -> Path:
    """A clip that keeps a transcode busy for a long while: full-HD Motion JPEG (browsers need
    the H.264 copy) of coarse noise sliding sideways, so every frame costs the encoder work.
    Twenty frames are drawn and cycled, so writing it stays cheap."""
    rng = np.random.default_rng(7)
    blocks = (rng.random((h // 32, w // 32, 3)) * 255).astype(np.uint8)
    drawn = [cv2.resize(np.roll(blocks, shift, axis=1), (w, h), interpolation=cv2.INTER_NEAREST) for shift in range(20)]
    path.parent.mkdir(parents=True, exist_ok=True)
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 10, (w, h))
    for n in range(frames):
        writer.write(drawn[n % len(drawn)])
    writer.release()
    return path
