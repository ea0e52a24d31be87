"""inspect_upload: good files pass with their facts, every bad input is refused with a reason.

Django-free: only cameras.validation and the corpus are imported.
"""

import io
import os
import time
from datetime import datetime

import cv2
import numpy as np
import pytest
from PIL import Image, PngImagePlugin

from cameras.validation import inspect_upload
from tests.cameras.corpus import (
    BAD_CASES,
    GOOD_ODD_NAMES,
    avi_header_bomb,
    good_clip,
    good_jpeg,
    good_png,
    jpeg_bytes,
    jpeg_with_early_end_marker,
    mkv_header_bomb,
    mp4_header_bomb,
    picture,
)

MB = 1024 * 1024


def inspect(path, root):
    return inspect_upload(path, camera_root=root, max_bytes=1 * MB, max_pixels=40_000_000)


@pytest.fixture
def folder(tmp_path):
    path = tmp_path / "cameras" / "cam"
    path.mkdir(parents=True)
    return path


@pytest.mark.parametrize(("kind", "build", "reason"), BAD_CASES, ids=[c[0] for c in BAD_CASES])
def test_every_bad_input_is_rejected_with_a_clear_reason(folder, kind, build, reason):
    result = inspect(build(folder), folder)
    assert not result.ok
    assert reason in result.reason


def test_bad_cases_are_distinct_and_cover_the_corpus():
    kinds = [case[0] for case in BAD_CASES]
    assert len(kinds) == len(set(kinds)) >= 22


@pytest.mark.parametrize("kind", ["pixel-bomb", "jpeg-pixel-bomb"])
def test_pixel_bombs_are_refused_from_their_header_without_decoding(folder, kind):
    path = dict((c[0], c[1]) for c in BAD_CASES)[kind](folder)
    assert path.stat().st_size < 200_000
    started = time.perf_counter()
    result = inspect(path, folder)
    assert time.perf_counter() - started < 0.5  # a decode would allocate 0.9-2.7 GB and take seconds
    assert not result.ok
    assert "image is 30000×30000 px (900.0 MP), over the 40.0 MP limit (decompression bomb guard)" == result.reason


def test_the_size_limit_is_stated_in_the_reason(folder):
    path = dict((c[0], c[1]) for c in BAD_CASES)["over-size-limit"](folder)
    assert inspect(path, folder).reason == f"file is {path.stat().st_size / MB:.1f} MB, over the 1 MB limit"


def test_a_fifo_is_refused_without_being_opened(folder):
    path = folder / "pipe.jpg"
    os.mkfifo(path)  # opening it for reading would block forever
    assert inspect(path, folder).reason == "not a regular file (a FIFO)"


def test_a_symlink_loop_is_refused(folder):
    path = folder / "loop.jpg"
    path.symlink_to(path)
    result = inspect(path, folder)
    assert not result.ok and "symlink" in result.reason


def test_good_photos_are_accepted_with_their_size_and_exif_time(folder):
    jpeg = inspect(good_jpeg(folder / "a.JPG", w=1280, h=720, exif_datetime=datetime(2026, 3, 4, 5, 6, 7)), folder)
    assert (jpeg.ok, jpeg.media_type, jpeg.media_format, jpeg.width, jpeg.height) == (True, "image", "jpeg", 1280, 720)
    assert jpeg.exif_datetime == datetime(2026, 3, 4, 5, 6, 7)
    assert jpeg.decode_ms > 0
    png = inspect(good_png(folder / "b.png"), folder)
    assert (png.ok, png.media_format, png.width, png.height, png.exif_datetime) == (True, "png", 320, 240, None)


def test_exif_datetime_falls_back_to_datetime_and_garbage_exif_is_ignored(folder):
    image = Image.fromarray(picture(320, 240, 2))
    exif = Image.Exif()
    exif[306] = "2026:02:03 04:05:06"  # IFD0 DateTime, no DateTimeOriginal
    image.save(folder / "dt.jpg", "JPEG", exif=exif)
    assert inspect(folder / "dt.jpg", folder).exif_datetime == datetime(2026, 2, 3, 4, 5, 6)
    exif = Image.Exif()
    exif.get_ifd(0x8769)[36867] = "0000:00:00 00:00:00"  # what a camera with an unset clock writes
    image.save(folder / "garbage.jpg", "JPEG", exif=exif)
    result = inspect(folder / "garbage.jpg", folder)
    assert (result.ok, result.exif_datetime) == (True, None)


def _cv2_jpeg(*params: int, grey: bool = False) -> bytes:
    image = picture(640, 360, 4)
    return cv2.imencode(".jpg", cv2.cvtColor(image, cv2.COLOR_BGR2GRAY) if grey else image, list(params))[1].tobytes()


def _pil_jpeg(**options) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(picture(640, 360, 4)[:, :, ::-1]).save(buffer, "JPEG", **options)
    return buffer.getvalue()


@pytest.mark.parametrize(
    "variant",
    [
        pytest.param(lambda: _cv2_jpeg(cv2.IMWRITE_JPEG_PROGRESSIVE, 1), id="progressive"),
        pytest.param(lambda: _cv2_jpeg(cv2.IMWRITE_JPEG_RST_INTERVAL, 3), id="restart-markers"),
        pytest.param(lambda: _pil_jpeg(optimize=True, subsampling=0, comment=b"cam 1"), id="optimized-444-comment"),
        pytest.param(lambda: jpeg_bytes(seed=4) + b"\x00" * 3000, id="zero-padding-after-end"),
        pytest.param(lambda: jpeg_bytes(seed=4) + b"\r\n", id="newline-after-end"),
        pytest.param(lambda: jpeg_bytes(seed=4)[:-2] + b"\xff\xff\xd9", id="fill-byte-before-end"),
        pytest.param(lambda: jpeg_bytes(seed=4) + jpeg_bytes(160, 90, seed=5), id="appended-thumbnail"),
        pytest.param(lambda: _cv2_jpeg(grey=True), id="grey"),
    ],
)
def test_legitimate_jpeg_variants_pass_the_structure_check(folder, variant):
    path = folder / "variant.jpg"
    path.write_bytes(variant())
    result = inspect(path, folder)
    assert (result.ok, result.reason, result.width, result.height) == (True, "", 640, 360)


def test_a_large_png_is_accepted_on_its_crc_walk_without_a_full_decode(folder, monkeypatch):
    path = folder / "big.png"
    cv2.imwrite(str(path), np.full((1800, 2600, 3), 90, np.uint8))  # 4.7 MP: over the full-decode bound

    decoded = []
    monkeypatch.setattr(PngImagePlugin.PngImageFile, "load", lambda self: decoded.append(self.size))
    result = inspect(path, folder)
    assert (result.ok, result.reason, result.width, result.height) == (True, "", 2600, 1800)
    assert decoded == []  # not even to look for EXIF


def test_a_small_png_is_decoded_and_timed(folder):
    result = inspect(good_png(folder / "small.png", w=640, h=360), folder)
    assert result.ok and result.decode_ms > 0


def test_content_wins_over_a_wrong_image_extension(folder):
    path = good_png(folder / "really-a-png.jpg")
    result = inspect(path, folder)
    assert (result.ok, result.media_format) == (True, "png")


@pytest.mark.parametrize(
    ("name", "fourcc", "codec"),
    [
        ("clip.mp4", "mp4v", "FMP4"),
        ("clip.mov", "mp4v", "FMP4"),
        ("clip.avi", "MJPG", "MJPG"),
        ("clip.mkv", "MJPG", "MJPG"),
    ],
)
def test_clips_are_accepted_with_frames_duration_and_codec(folder, name, fourcc, codec):
    result = inspect(good_clip(folder / name, seconds=3, fps=10, fourcc=fourcc), folder)
    assert (result.ok, result.media_type, result.width, result.height) == (True, "video", 320, 240)
    assert result.frame_count == 30 and result.fps == 10 and result.duration_s == pytest.approx(3.0)
    assert result.codec == codec  # as FFmpeg names it: mp4v is MPEG-4 part 2, "FMP4"


@pytest.mark.parametrize("name", GOOD_ODD_NAMES)
def test_odd_file_names_are_fine(folder, name):
    path = folder / name
    (good_png if name.endswith(".png") else good_jpeg)(path)
    assert inspect(path, folder).ok


def test_a_symlink_inside_the_camera_folder_is_followed(folder):
    target = good_jpeg(folder / "real.jpg")
    link = folder / "link.jpg"
    link.symlink_to(target)
    assert inspect(link, folder).ok


@pytest.mark.parametrize(
    "trailer",
    [
        pytest.param(lambda tmp: b"\r\nHSCAM-7 model=DC200 serial=A1B2C3 fw=2.4.1 motion=1\r\n", id="camera-text"),
        pytest.param(lambda tmp: b"\x00" * 10_000, id="padding-longer-than-4kb"),
        pytest.param(lambda tmp: good_clip(tmp / "motion.mp4", seconds=1).read_bytes(), id="motion-photo-mp4"),
    ],
)
def test_a_jpeg_with_a_camera_trailer_is_accepted_and_the_trailer_counted(folder, tmp_path, trailer):
    tail = trailer(tmp_path)
    path = folder / "trailer.jpg"
    path.write_bytes(jpeg_bytes(seed=4) + tail)
    result = inspect(path, folder)
    assert (result.ok, result.reason, result.width, result.height) == (True, "", 640, 360)
    assert result.trailing_bytes == len(tail)


def test_a_jpeg_that_ends_at_its_end_marker_has_no_trailing_bytes(folder):
    result = inspect(good_jpeg(folder / "plain.jpg"), folder)
    assert (result.ok, result.trailing_bytes) == (True, 0)


def test_an_end_marker_inside_the_image_data_is_damage_not_a_trailer(folder):
    """What follows a stray FF D9 is the rest of the scan (stuffed bytes, then the real end
    marker): refused, where a genuine trailer would have been accepted."""
    data = jpeg_with_early_end_marker()
    path = folder / "early-end.jpg"
    path.write_bytes(data)
    stray = data.index(b"\xff\xd9", data.index(b"\xff\xda"))
    assert inspect(path, folder).reason == (
        f"corrupt JPEG: image data continues after the end-of-image marker at byte {stray}"
    )


def _no_opencv(monkeypatch) -> list:
    opened = []
    real = cv2.VideoCapture
    monkeypatch.setattr(cv2, "VideoCapture", lambda *args: opened.append(args) or real(*args))
    return opened


@pytest.mark.parametrize(
    ("name", "build"),
    [("bomb.mp4", mp4_header_bomb), ("bomb.avi", avi_header_bomb), ("bomb.mkv", mkv_header_bomb)],
)
def test_a_clip_header_declaring_a_huge_frame_is_refused_before_opencv_opens_it(folder, monkeypatch, name, build):
    opened = _no_opencv(monkeypatch)
    path = folder / name
    path.write_bytes(build())
    result = inspect(path, folder)
    assert result.reason == "clip is 30000×30000 px (900.0 MP), over the 40.0 MP limit (decompression bomb guard)"
    assert opened == []


def test_a_real_clip_with_a_rewritten_header_is_refused_before_opencv_opens_it(folder, monkeypatch):
    opened = _no_opencv(monkeypatch)
    build = dict((c[0], c[1]) for c in BAD_CASES)["mp4-rewritten-header-pixel-bomb"]
    result = inspect(build(folder), folder)
    assert result.reason == "clip is 30000×30000 px (900.0 MP), over the 40.0 MP limit (decompression bomb guard)"
    assert opened == []


@pytest.mark.parametrize(
    ("name", "fourcc"), [("clip.mp4", "mp4v"), ("clip.mov", "mp4v"), ("clip.avi", "MJPG"), ("clip.mkv", "MJPG")]
)
def test_the_frame_size_of_a_real_clip_is_read_from_its_header(folder, monkeypatch, name, fourcc):
    path = good_clip(folder / name, seconds=1, fourcc=fourcc)
    opened = _no_opencv(monkeypatch)
    result = inspect_upload(path, camera_root=folder, max_bytes=1 * MB, max_pixels=320 * 240 - 1)
    assert result.reason == "clip is 320×240 px (0.1 MP), over the 0.1 MP limit (decompression bomb guard)"
    assert opened == []


def test_a_clip_whose_header_declares_no_frame_size_is_refused(folder, monkeypatch):
    opened = _no_opencv(monkeypatch)
    build = dict((c[0], c[1]) for c in BAD_CASES)["mp4-audio-only"]
    result = inspect(build(folder), folder)
    assert result.reason == "clip cannot be opened: its header declares no frame size (no video track)"
    assert opened == []


def test_a_file_in_a_symlinked_folder_outside_the_camera_folder_is_refused(folder, tmp_path):
    elsewhere = tmp_path / "home" / "someone"
    good_jpeg(elsewhere / "x.jpg")
    (folder / "nas").symlink_to(elsewhere, target_is_directory=True)
    result = inspect(folder / "nas" / "x.jpg", folder)
    assert (result.ok, result.reason) == (False, "a symlinked folder on its path leads outside the camera folder")


def test_a_symlinked_folder_inside_the_camera_folder_is_followed(folder):
    good_jpeg(folder / "2026" / "x.jpg")
    (folder / "latest").symlink_to(folder / "2026", target_is_directory=True)
    assert inspect(folder / "latest" / "x.jpg", folder).ok


def test_a_symlinked_folder_that_loops_is_refused(folder):
    (folder / "loop").symlink_to(folder / "loop", target_is_directory=True)
    result = inspect(folder / "loop" / "x.jpg", folder)
    assert (result.ok, result.reason) == (False, "symlink loop")
