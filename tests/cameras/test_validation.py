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
from tests.cameras.corpus import BAD_CASES, GOOD_ODD_NAMES, good_clip, good_jpeg, good_png, jpeg_bytes, picture

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


@pytest.mark.parametrize(("name", "fourcc", "codec"), [("clip.mp4", "mp4v", "FMP4"), ("clip.avi", "MJPG", "MJPG")])
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
