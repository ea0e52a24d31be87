"""Clips: sample frames for detection, and make a browser-playable H.264 copy.

OpenCV's wheel can decode H.264 but not encode it, so the copy is made with PyAV (libx264
is inside its wheel). Browsers play H.264 in MP4; mp4v, MJPG, .avi, .mov and .mkv they may not.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import numpy as np

# OpenCV and NumPy are imported in the functions that use them: the web process imports
# this module (through the admin and the API) but, unless it draws, never loads them.

PLAYABLE_CODECS = {"avc1", "h264", "H264", "AVC1"}


def sample_frames(path: Path, *, every_s: float, max_frames: int) -> Iterator[tuple[float, np.ndarray]]:
    """(offset in seconds, BGR frame) every `every_s`, at most `max_frames`, starting at 0."""
    import cv2

    capture = cv2.VideoCapture(str(path))
    try:
        fps = capture.get(cv2.CAP_PROP_FPS) or 0.0
        if fps <= 0 or fps > 1000:
            fps = 10.0  # a broken header: keep going at a plausible rate
        step = max(1, round(every_s * fps))
        index, taken = 0, 0
        while taken < max_frames:
            # grab() without decode for the frames in between: much cheaper than read().
            if index % step == 0:
                ok, frame = capture.read()
                if not ok:
                    break
                yield index / fps, frame
                taken += 1
            elif not capture.grab():
                break
            index += 1
    finally:
        capture.release()


def needs_browser_copy(*, media_format: str, codec: str) -> bool:
    return media_format != "mp4" or codec.strip("\x00 ") not in PLAYABLE_CODECS


def transcode_h264(source: Path, target: Path, *, part: str = "part") -> None:
    """Write an H.264 MP4 copy of `source`, to a temp name of the caller's (`part`), then
    renamed into place; the temp file never outlives a failure."""
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(f"{target.stem}.{part}.part.mp4")
    try:
        _encode(source, partial)
        partial.replace(target)
    finally:
        partial.unlink(missing_ok=True)


def _encode(source: Path, partial: Path) -> None:
    import av

    with av.open(str(source)) as src, av.open(str(partial), "w", format="mp4") as dst:
        video_in = src.streams.video[0]
        rate = video_in.average_rate or 10
        video_out = dst.add_stream("libx264", rate=rate)
        video_out.width = video_in.codec_context.width // 2 * 2  # yuv420p needs even sizes
        video_out.height = video_in.codec_context.height // 2 * 2
        video_out.pix_fmt = "yuv420p"
        video_out.options = {"preset": "veryfast", "crf": "26", "movflags": "+faststart"}
        for frame in src.decode(video_in):
            frame = frame.reformat(width=video_out.width, height=video_out.height, format="yuv420p")
            frame.pts = None
            for packet in video_out.encode(frame):
                dst.mux(packet)
        for packet in video_out.encode():
            dst.mux(packet)
