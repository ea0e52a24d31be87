"""inspect_upload: good files pass with their facts, every bad input is refused with a reason."""

import time
from datetime import datetime

import pytest

from cameras.validation import inspect_upload
from tests.cameras.corpus import BAD_CASES, GOOD_ODD_NAMES, good_clip, good_jpeg, good_png

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


def test_the_pixel_bomb_is_refused_from_its_header_without_decoding(folder):
    path = dict((c[0], c[1]) for c in BAD_CASES)["pixel-bomb"](folder)
    assert path.stat().st_size < 200_000
    started = time.perf_counter()
    result = inspect(path, folder)
    assert time.perf_counter() - started < 0.5
    assert "30000×30000 px (900.0 MP)" in result.reason


def test_good_photos_are_accepted_with_their_size_and_exif_time(folder):
    jpeg = inspect(good_jpeg(folder / "a.JPG", w=1280, h=720, exif_datetime=datetime(2026, 3, 4, 5, 6, 7)), folder)
    assert (jpeg.ok, jpeg.media_type, jpeg.media_format, jpeg.width, jpeg.height) == (True, "image", "jpeg", 1280, 720)
    assert jpeg.exif_datetime == datetime(2026, 3, 4, 5, 6, 7)
    assert jpeg.decode_ms > 0
    png = inspect(good_png(folder / "b.png"), folder)
    assert (png.ok, png.media_format, png.width, png.height, png.exif_datetime) == (True, "png", 320, 240, None)


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
