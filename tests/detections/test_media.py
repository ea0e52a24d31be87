"""Clean previews written at detection time, and the media views: by id, signed in only,
never outside their root, with HTTP Range for seeking in clips."""

from __future__ import annotations

import asyncio
import os

import cv2
import numpy as np
import pytest

from cameras.ingest import ingest_process, ingest_register
from cameras.models import Camera, Ingest
from detections.backends import get_detector
from detections.media import parse_range
from detections.models import Clip, Detection
from detections.services import clip_transcode, detection_accept, detection_process
from tests.cameras.corpus import good_clip, good_jpeg

# --- Previews at detection time -----------------------------------------------------------------


@pytest.fixture
def pipeline(tmp_path, settings, server):
    settings.CAMERA_ROOT = tmp_path / "cameras"
    settings.MEDIA_ROOT = tmp_path / "media"
    settings.CAMERA_ROOT.mkdir()
    settings.INGEST_NEXT_STAGE = ""
    settings.DETECTOR, settings.DETECTOR_URL, settings.DETECTOR_API = "http", server.url, "reference"
    get_detector.cache_clear()
    yield settings
    get_detector.cache_clear()


def detect(settings, name: str, *, clip: bool = False) -> None:
    path = settings.CAMERA_ROOT / "Front Door" / name
    good_clip(path, seconds=5, fps=10) if clip else good_jpeg(path, w=1280, h=720, seed=3)
    ids = ingest_register(paths=[path])
    ingest_process(ingest_ids=ids)
    Camera.objects.update(filters={"cat": {"min_confidence": 0.1}})  # keep the detector's small cat too
    detection_process(run_ids=detection_accept(ingest_ids=ids))


@pytest.mark.django_db(transaction=True)
def test_a_photo_gets_one_clean_preview_shared_by_its_detections_beside_the_boxed_thumbnail(pipeline):
    settings = pipeline
    detect(settings, "a.jpg")
    person, cat = Detection.objects.get(label="person"), Detection.objects.get(label="cat")
    assert person.preview == cat.preview and person.preview.startswith("previews/")
    assert person.thumbnail == cat.thumbnail and person.thumbnail != person.preview
    original = cv2.imread(str(settings.CAMERA_ROOT / Ingest.objects.get().path))
    preview = cv2.imread(str(settings.MEDIA_ROOT / person.preview))
    thumbnail = cv2.imread(str(settings.MEDIA_ROOT / person.thumbnail))
    assert preview.shape[:2] == (540, 960)  # downscaled, the frame's shape kept
    # Along the person's box edge the thumbnail has the drawn line, the preview the picture.
    scale = 960 / 1280
    x, y, w = round(person.x * scale), round(person.y * scale), round(person.width * scale)
    expected = cv2.resize(original, (960, 540), interpolation=cv2.INTER_AREA)
    edge = slice(y, y + 2), slice(x, x + w)
    assert np.abs(preview[edge].astype(int) - expected[edge].astype(int)).mean() < 6
    thumb_edge = (
        slice(round(y * 640 / 960), round(y * 640 / 960) + 2),
        slice(round(x * 640 / 960), round((x + w) * 640 / 960)),
    )
    small = cv2.resize(original, (640, 360), interpolation=cv2.INTER_AREA)
    assert np.abs(thumbnail[thumb_edge].astype(int) - small[thumb_edge].astype(int)).mean() > 30


@pytest.mark.django_db(transaction=True)
def test_each_sampled_clip_frame_gets_its_own_preview(pipeline):
    settings = pipeline
    detect(settings, "record.mp4", clip=True)
    previews = dict(Detection.objects.filter(label="person").values_list("frame_offset_s", "preview"))
    assert sorted(previews) == [0.0, 2.0, 4.0] and len(set(previews.values())) == 3
    assert all((settings.MEDIA_ROOT / p).is_file() for p in previews.values())


@pytest.mark.django_db(transaction=True)
def test_deleting_detections_removes_their_previews_too(pipeline):
    from detections.services import detections_delete

    settings = pipeline
    detect(settings, "a.jpg")
    preview = settings.MEDIA_ROOT / Detection.objects.first().preview
    assert preview.is_file()
    detections_delete(detections=Detection.objects.all())
    assert not preview.exists()


# --- The media views ------------------------------------------------------------------------------


@pytest.fixture
def media(tmp_path, settings):
    settings.MEDIA_ROOT = tmp_path / "media"
    settings.CAMERA_ROOT = tmp_path / "cameras"
    (settings.MEDIA_ROOT / "previews").mkdir(parents=True)
    (settings.CAMERA_ROOT / "door").mkdir(parents=True)
    return settings


def stored(settings, *, preview: str = "previews/a.jpg", data: bytes = b"") -> Detection:
    from tests.events.pages import make_event

    if data:
        (settings.MEDIA_ROOT / preview).write_bytes(data)
    event = make_event()
    Detection.objects.filter(events=event).update(preview=preview)
    return Detection.objects.get(events=event)


def video(settings, data: bytes, *, playable: str = "") -> Ingest:
    camera = Camera.objects.get_or_create(pk="door", defaults={"name": "Door", "folder": "door"})[0]
    (settings.CAMERA_ROOT / "door" / "clip.avi").write_bytes(data)
    ingest = Ingest.objects.create(
        camera=camera,
        path="door/clip.avi",
        size=len(data),
        mtime_ns=1,
        status="done",
        media_type="video",
        media_format="avi",
        arrived_at="2026-11-27T12:00Z",
        queued_at="2026-11-27T12:00Z",
    )
    Clip.objects.create(
        ingest=ingest,
        size=len(data),
        playable=playable,
        transcode="done" if playable else "pending",
        queued_at="2026-11-27T12:00Z",
    )
    return ingest


def body(response) -> bytes:
    return b"".join(response.streaming_content) if response.streaming else response.content


@pytest.mark.django_db
def test_a_preview_is_served_to_a_signed_in_user_and_nobody_else(media, viewer_client, client):
    detection = stored(media, data=b"\xff\xd8 a jpeg")
    response = viewer_client.get(f"/media/previews/{detection.pk}.jpg")
    assert response.status_code == 200 and response["Content-Type"] == "image/jpeg"
    assert body(response) == b"\xff\xd8 a jpeg" and response["Accept-Ranges"] == "bytes"
    assert response["Content-Length"] == "9" and "private" in response["Cache-Control"]
    assert client.get(f"/media/previews/{detection.pk}.jpg")["Location"].startswith("/accounts/login/")
    assert viewer_client.get("/media/previews/999999.jpg").status_code == 404


@pytest.mark.django_db
@pytest.mark.parametrize(
    "bad",
    [
        "../outside.jpg",
        "previews/../../outside.jpg",
        "/etc/hostname",
        "previews/link.jpg",
        "previews",
        "previews/gone.jpg",
    ],
)
def test_a_stored_path_that_leads_out_of_the_media_root_is_never_served(media, viewer_client, bad):
    (media.MEDIA_ROOT.parent / "outside.jpg").write_bytes(b"secret")
    os.symlink(media.MEDIA_ROOT.parent / "outside.jpg", media.MEDIA_ROOT / "previews" / "link.jpg")
    detection = stored(media, preview=bad)
    assert viewer_client.get(f"/media/previews/{detection.pk}.jpg").status_code == 404


@pytest.mark.django_db
@pytest.mark.parametrize(
    "url",
    [
        "/media/previews/../../etc/passwd",
        "/media/previews/%2e%2e%2fsecret.jpg",
        "/media/previews/1.jpg/../../secret",
        "/media/clips/..%2f..%2fetc%2fpasswd",
        "/media/thumbs/front_door/1-0.jpg",
    ],
)
def test_paths_in_the_url_are_not_media(media, viewer_client, url):
    assert viewer_client.get(url).status_code == 404


@pytest.mark.django_db
def test_a_clip_answers_range_requests_with_exactly_the_bytes_asked_for(media, viewer_client):
    data = bytes(range(256)) * 40  # 10240 bytes
    ingest = video(media, data)
    url = f"/media/clips/{ingest.pk}"
    whole = viewer_client.get(url)
    assert whole.status_code == 200 and body(whole) == data and whole["Content-Type"] == "video/x-msvideo"

    part = viewer_client.get(url, HTTP_RANGE="bytes=100-299")
    assert part.status_code == 206 and body(part) == data[100:300]
    assert part["Content-Range"] == "bytes 100-299/10240" and part["Content-Length"] == "200"

    assert body(viewer_client.get(url, HTTP_RANGE="bytes=10000-")) == data[10000:]
    assert body(viewer_client.get(url, HTTP_RANGE="bytes=-40")) == data[-40:]
    assert body(viewer_client.get(url, HTTP_RANGE="bytes=10200-99999")) == data[10200:]
    past = viewer_client.get(url, HTTP_RANGE="bytes=10240-")
    assert past.status_code == 416 and past["Content-Range"] == "bytes */10240"
    # Several ranges, another unit or a stale If-Range: the whole file, as RFC 9110 allows.
    assert viewer_client.get(url, HTTP_RANGE="bytes=0-1,5-6").status_code == 200
    assert viewer_client.get(url, HTTP_RANGE="items=0-1").status_code == 200
    assert viewer_client.get(url, HTTP_RANGE="bytes=0-1", HTTP_IF_RANGE='"stale"').status_code == 200
    same = viewer_client.get(url, HTTP_RANGE="bytes=0-1", HTTP_IF_RANGE=whole["ETag"])
    assert same.status_code == 206 and body(same) == data[:2]
    assert viewer_client.get(url, HTTP_IF_NONE_MATCH=whole["ETag"]).status_code == 304
    head = viewer_client.head(url, HTTP_RANGE="bytes=0-9")
    assert head.status_code == 206 and head["Content-Length"] == "10" and head.content == b""


@pytest.mark.django_db
def test_a_clip_plays_from_its_browser_copy_once_made_and_downloads_as_an_attachment(media, viewer_client):
    (media.MEDIA_ROOT / "clips").mkdir()
    (media.MEDIA_ROOT / "clips" / "1.mp4").write_bytes(b"an mp4 copy")
    ingest = video(media, b"the avi", playable="clips/1.mp4")
    response = viewer_client.get(f"/media/clips/{ingest.pk}?download=1")
    assert body(response) == b"an mp4 copy" and response["Content-Type"] == "video/mp4"
    assert response["Content-Disposition"] == 'attachment; filename="clip.mp4"'
    original = viewer_client.get(f"/media/originals/{ingest.pk}")
    assert body(original) == b"the avi" and "Content-Disposition" not in original
    Ingest.objects.filter(pk=ingest.pk).update(status="deleted")
    assert viewer_client.get(f"/media/originals/{ingest.pk}").status_code == 404


@pytest.mark.django_db
def test_a_transcoded_copy_really_plays_in_ranges(pipeline, viewer_client):
    settings = pipeline
    detect(settings, "record.mp4", clip=True)
    clip = Clip.objects.get()
    clip_transcode(clip_ids=[clip.pk])
    response = viewer_client.get(f"/media/clips/{clip.ingest_id}", HTTP_RANGE="bytes=0-11")
    assert response.status_code == 206 and body(response)[4:8] == b"ftyp"  # an MP4 from its first box


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("bytes=0-0", (0, 0)),
        ("bytes=5-", (5, 99)),
        ("bytes=-1", (99, 99)),
        ("bytes=-500", (0, 99)),
        ("bytes=90-200", (90, 99)),
        ("bytes=9-3", None),
        ("bytes=a-3", None),
        ("bytes=", None),
        ("bytes=1-2,4-5", None),
        ("", None),
    ],
)
def test_range_headers_are_read_as_rfc_9110_says(header, expected):
    assert parse_range(header, 100) == expected


@pytest.mark.parametrize("header", ["bytes=100-", "bytes=-0", "bytes=200-300"])
def test_ranges_past_the_end_cannot_be_met(header):
    with pytest.raises(ValueError):
        parse_range(header, 100)


@pytest.mark.django_db
def test_under_asgi_the_range_is_streamed_by_an_async_iterator(media, viewer):
    from django.test import AsyncRequestFactory

    from detections.views import clip

    data = os.urandom(700_000)
    ingest = video(media, data)
    request = AsyncRequestFactory().get(f"/media/clips/{ingest.pk}", headers={"Range": "bytes=300000-650000"})
    request.user = viewer
    response = clip(request, ingest_id=ingest.pk)
    assert response.status_code == 206 and response.is_async

    async def received() -> bytes:
        return b"".join([chunk async for chunk in response.streaming_content])

    assert asyncio.run(received()) == data[300000:650001]


def test_a_stream_cancelled_while_a_chunk_is_read_ends_quietly(tmp_path):
    """A player that seeks drops its request mid-read: the stream ends without an error."""
    import threading

    from detections.media import _achunks

    started, release = threading.Event(), threading.Event()

    def slow():
        started.set()
        release.wait(5)
        yield b"late"

    async def cancel_mid_read() -> None:
        stream = _achunks(slow())
        reading = asyncio.ensure_future(stream.__anext__())
        await asyncio.to_thread(started.wait, 5)
        reading.cancel()
        try:
            await reading
        except asyncio.CancelledError:
            pass
        await stream.aclose()
        release.set()

    asyncio.run(cancel_mid_read())
