"""Media under /api/: by id, for a token or the pages' session, with HTTP Range for seeking,
errors as problem+json; a camera's latest image for Home Assistant (Basic with a token as
the password), with the boxes drawn in on request; a clip of a gigabyte through daphne
without the web process holding it in memory."""

from __future__ import annotations

import base64
import os
import threading
import time
from pathlib import Path, PurePosixPath

import cv2
import httpx
import numpy as np
import pytest
from django.utils import timezone

from cameras.ingest import ingest_process, ingest_register
from cameras.models import Camera, Ingest
from detections.models import Detection
from homesec.core.services import api_token_create
from tests.cameras.corpus import good_clip, good_jpeg
from tests.detections.test_media import body, stored, video
from tests.support.users import PASSWORD

pytestmark = pytest.mark.django_db
CLIP = bytes(range(256)) * 4  # 1024 bytes, each position telling which it is
ROUTES = [
    "/api/media/originals/{ingest}",
    "/api/media/clips/{ingest}",
    "/api/media/thumbnails/{detection}.jpg",
    "/api/media/previews/{detection}.jpg",
]


@pytest.fixture
def media(tmp_path, settings):
    settings.MEDIA_ROOT = tmp_path / "media"
    settings.CAMERA_ROOT = tmp_path / "cameras"
    settings.DATA_DIR = tmp_path / "data"
    settings.INGEST_NEXT_STAGE = ""
    (settings.MEDIA_ROOT / "previews").mkdir(parents=True)
    (settings.CAMERA_ROOT / "door").mkdir(parents=True)
    settings.DATA_DIR.mkdir()
    return settings


@pytest.fixture
def bearer(viewer) -> dict[str, str]:
    return {"HTTP_AUTHORIZATION": f"Bearer {api_token_create(user=viewer, name='phone')[1]}"}


def problem(response, status: int) -> dict:
    assert response.status_code == status
    assert response["Content-Type"] == "application/problem+json"
    data = response.json()
    assert data["status"] == status and data["title"] and data["detail"]
    return data


def basic(user: str, password: str) -> dict[str, str]:
    return {"HTTP_AUTHORIZATION": "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()}


# --- Who may read -----------------------------------------------------------------------------


def test_an_anonymous_call_gets_a_401_problem_with_a_bearer_challenge_on_every_route(media, client):
    ingest, detection = video(media, CLIP), stored(media, data=b"\xff\xd8 a jpeg")
    Detection.objects.filter(pk=detection.pk).update(thumbnail="previews/a.jpg")
    for route in ROUTES:
        url = route.format(ingest=ingest.pk, detection=detection.pk)
        for method in (client.get, client.head):
            response = method(url)
            assert response.status_code == 401, url
            assert response["WWW-Authenticate"] == 'Bearer realm="homesec"'
        problem(client.get(url), 401)


def test_a_viewers_token_reads_a_preview_with_its_headers(media, client, bearer):
    detection = stored(media, data=b"\xff\xd8 a jpeg")
    response = client.get(f"/api/media/previews/{detection.pk}.jpg", **bearer)
    assert response.status_code == 200 and body(response) == b"\xff\xd8 a jpeg"
    assert response["Content-Type"] == "image/jpeg" and response["Content-Length"] == "9"
    assert response["Accept-Ranges"] == "bytes" and response["ETag"]
    assert response["Cache-Control"].startswith("private") and "Content-Disposition" not in response
    assert response["X-Content-Type-Options"] == "nosniff"


def test_the_pages_session_reads_too(media, viewer_client):
    detection = stored(media, data=b"\xff\xd8 a jpeg")
    assert body(viewer_client.get(f"/api/media/previews/{detection.pk}.jpg")) == b"\xff\xd8 a jpeg"
    assert body(viewer_client.get(f"/api/media/originals/{video(media, CLIP).pk}")) == CLIP


def test_an_unknown_or_revoked_token_is_a_401_problem(media, client, viewer):
    from homesec.core.services import api_token_revoke

    detection = stored(media, data=b"\xff\xd8 a jpeg")
    token, key = api_token_create(user=viewer)
    api_token_revoke(token=token)
    for header in (f"Bearer {key}", "Bearer hs_nonsense"):
        response = client.get(f"/api/media/previews/{detection.pk}.jpg", HTTP_AUTHORIZATION=header)
        assert problem(response, 401)["detail"] == "Invalid or revoked API token."


def test_only_get_and_head_are_answered(media, client, bearer, operator):
    ingest = video(media, CLIP)
    admin = {"HTTP_AUTHORIZATION": f"Bearer {api_token_create(user=operator)[1]}"}
    response = client.post(f"/api/media/originals/{ingest.pk}", **admin)
    problem(response, 405)
    assert response["Allow"] == "GET, HEAD"
    # A viewer may change nothing anywhere: 403 before the method is looked at.
    problem(client.delete(f"/api/media/originals/{ingest.pk}", **bearer), 403)


def test_download_asks_the_browser_to_save_the_file(media, client, bearer):
    ingest = video(media, CLIP)
    response = client.get(f"/api/media/originals/{ingest.pk}?download=1", **bearer)
    assert response["Content-Disposition"] == 'attachment; filename="clip.avi"'
    assert response["Content-Type"] == "video/x-msvideo"


def test_a_clip_is_its_playable_copy_once_made_else_the_upload(media, client, bearer):
    ingest = video(media, CLIP)
    assert body(client.get(f"/api/media/clips/{ingest.pk}", **bearer)) == CLIP
    (media.MEDIA_ROOT / "clips").mkdir()
    (media.MEDIA_ROOT / "clips" / "copy.mp4").write_bytes(b"an mp4 copy")
    ingest.clip.playable, ingest.clip.transcode = "clips/copy.mp4", "done"
    ingest.clip.save()
    response = client.get(f"/api/media/clips/{ingest.pk}", **bearer)
    assert body(response) == b"an mp4 copy" and response["Content-Type"] == "video/mp4"
    assert body(client.get(f"/api/media/originals/{ingest.pk}", **bearer)) == CLIP


def test_a_missing_row_or_a_file_gone_from_disk_is_a_404_problem(media, client, bearer):
    ingest, detection = video(media, CLIP), stored(media, data=b"\xff\xd8 a jpeg")
    for url in (
        "/api/media/originals/999999",
        "/api/media/clips/999999",
        "/api/media/previews/999999.jpg",
        f"/api/media/thumbnails/{detection.pk}.jpg",  # the row has no thumbnail
    ):
        problem(client.get(url, **bearer), 404)
    assert client.get("/api/media/previews/a.jpg", **bearer).status_code == 404  # no route: a name, not an id
    (media.CAMERA_ROOT / "door" / "clip.avi").unlink()
    (media.MEDIA_ROOT / "previews" / "a.jpg").unlink()
    for url in (f"/api/media/originals/{ingest.pk}", f"/api/media/previews/{detection.pk}.jpg"):
        problem(client.get(url, **bearer), 404)
        assert client.head(url, **bearer).status_code == 404


# --- Ranges, conditional requests, HEAD -------------------------------------------------------------


@pytest.mark.parametrize(
    ("header", "status", "content_range", "part"),
    [
        ("bytes=10-19", 206, "bytes 10-19/1024", CLIP[10:20]),
        ("bytes=1000-", 206, "bytes 1000-1023/1024", CLIP[1000:]),
        ("bytes=-5", 206, "bytes 1019-1023/1024", CLIP[-5:]),
        ("bytes=1000-5000", 206, "bytes 1000-1023/1024", CLIP[1000:]),
        ("bytes=0-0,10-19", 200, None, CLIP),  # several ranges: the whole file
        ("bytes=20-10", 200, None, CLIP),  # invalid: ignored
        ("items=0-10", 200, None, CLIP),  # not bytes: ignored
    ],
)
def test_a_range_is_answered_with_its_part(media, client, bearer, header, status, content_range, part):
    ingest = video(media, CLIP)
    response = client.get(f"/api/media/clips/{ingest.pk}", HTTP_RANGE=header, **bearer)
    assert response.status_code == status and body(response) == part
    assert response["Content-Length"] == str(len(part)) and response.get("Content-Range") == content_range


@pytest.mark.parametrize("header", ["bytes=1024-", "bytes=5000-6000", "bytes=-0"])
def test_a_range_past_the_end_is_a_416_naming_the_size(media, client, bearer, header):
    ingest = video(media, CLIP)
    response = client.get(f"/api/media/clips/{ingest.pk}", HTTP_RANGE=header, **bearer)
    assert response.status_code == 416 and response["Content-Range"] == "bytes */1024"
    assert CLIP[:16] not in body(response)


def test_if_range_gives_the_part_only_while_the_file_is_the_one_named(media, client, bearer):
    ingest = video(media, CLIP)
    url = f"/api/media/clips/{ingest.pk}"
    etag = client.head(url, **bearer)["ETag"]
    same = client.get(url, HTTP_RANGE="bytes=0-9", HTTP_IF_RANGE=etag, **bearer)
    assert same.status_code == 206 and body(same) == CLIP[:10]
    changed = client.get(url, HTTP_RANGE="bytes=0-9", HTTP_IF_RANGE='"an-older-file"', **bearer)
    assert changed.status_code == 200 and body(changed) == CLIP and "Content-Range" not in changed


def test_an_unchanged_file_is_a_304_and_a_changed_one_is_sent_again(media, client, bearer):
    ingest = video(media, CLIP)
    url = f"/api/media/originals/{ingest.pk}"
    etag = client.get(url, **bearer)["ETag"]
    unchanged = client.get(url, HTTP_IF_NONE_MATCH=etag, **bearer)
    assert unchanged.status_code == 304 and unchanged["ETag"] == etag and not unchanged.content
    (media.CAMERA_ROOT / "door" / "clip.avi").write_bytes(CLIP[::-1])
    os.utime(media.CAMERA_ROOT / "door" / "clip.avi", ns=(1, 1))
    again = client.get(url, HTTP_IF_NONE_MATCH=etag, **bearer)
    assert again.status_code == 200 and body(again) == CLIP[::-1]


def test_head_answers_the_headers_without_the_body(media, client, bearer):
    ingest = video(media, CLIP)
    response = client.head(f"/api/media/clips/{ingest.pk}", **bearer)
    assert response.status_code == 200 and not response.content
    assert response["Content-Length"] == "1024" and response["Accept-Ranges"] == "bytes"
    assert response["Content-Type"] == "video/x-msvideo"
    part = client.head(f"/api/media/clips/{ingest.pk}", HTTP_RANGE="bytes=0-99", **bearer)
    assert part.status_code == 206 and part["Content-Length"] == "100" and not part.content


# --- A camera's latest image --------------------------------------------------------------------


def upload(settings, name: str, *, clip: bool = False) -> Ingest:
    path = settings.CAMERA_ROOT / "porch" / name
    good_clip(path, w=1280, h=720) if clip else good_jpeg(path, w=1280, h=720, seed=4)
    ids = ingest_register(paths=[path])
    ingest_process(ingest_ids=ids)
    return Ingest.objects.get(pk=ids[0], status="done")


def ingest_row(camera: Camera, path: str, *, size: int, mtime_ns: int = 1, kind: str = "video") -> Ingest:
    """A done upload's row, its file put in place by the test."""
    now, media_format = timezone.now(), PurePosixPath(path).suffix.lstrip(".")
    return Ingest.objects.create(
        camera=camera,
        path=path,
        size=size,
        mtime_ns=mtime_ns,
        status="done",
        media_type=kind,
        media_format=media_format,
        arrived_at=now,
        queued_at=now,
    )


def detect(ingest: Ingest, *, offset: float | None = None) -> Detection:
    """A person in frame pixels of the 1280x720 upload: x 400..720, y 160..560."""
    return Detection.objects.create(
        camera=ingest.camera,
        ingest=ingest,
        captured_at=timezone.now(),
        label="person",
        confidence=0.9,
        x=400,
        y=160,
        width=320,
        height=400,
        frame_width=1280,
        frame_height=720,
        frame_offset_s=offset,
    )


def decoded(data: bytes) -> np.ndarray:
    image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    assert image is not None
    return image.astype(int)


def test_the_latest_image_is_read_with_a_bearer_token_the_session_or_basic_with_a_token(
    media, client, viewer, viewer_client
):
    upload(media, "a.jpg")
    key = api_token_create(user=viewer, name="home assistant")[1]
    plain = client.get("/api/cameras/porch/latest.jpg", HTTP_AUTHORIZATION=f"Bearer {key}")
    assert plain.status_code == 200 and plain["Content-Type"] == "image/jpeg"
    image = body(plain)
    assert decoded(image).shape[:2] == (360, 640)
    assert plain["Cache-Control"] == "private, max-age=0"
    assert body(client.get("/api/cameras/porch/latest.jpg", **basic("homeassistant", key))) == image
    assert body(client.get("/api/cameras/porch/latest.jpg", **basic("", key))) == image
    assert body(viewer_client.get("/api/cameras/porch/latest.jpg")) == image
    etag = plain["ETag"]
    assert client.get("/api/cameras/porch/latest.jpg", HTTP_IF_NONE_MATCH=etag, **basic("x", key)).status_code == 304


def test_basic_takes_only_a_token_as_the_password(media, client, viewer):
    upload(media, "a.jpg")
    key = api_token_create(user=viewer)[1]
    for credentials in (basic("viewer", "wrong"), basic("viewer", PASSWORD), basic(key, ""), basic("viewer", key[:-1])):
        response = client.get("/api/cameras/porch/latest.jpg", **credentials)
        assert problem(response, 401)["detail"] == "Invalid or revoked API token."
        assert "Basic" in response["WWW-Authenticate"]
    response = client.get("/api/cameras/porch/latest.jpg", HTTP_AUTHORIZATION="Basic not-base64!")
    problem(response, 401)
    anonymous = client.get("/api/cameras/porch/latest.jpg")
    problem(anonymous, 401)
    assert anonymous["WWW-Authenticate"] == 'Bearer realm="homesec", Basic realm="homesec"'
    # Basic is for the camera image only: the stored media want a Bearer token or the session.
    assert client.get(f"/api/media/originals/{Ingest.objects.get().pk}", **basic("x", key)).status_code == 401


def test_an_unknown_camera_or_one_without_an_image_is_a_404_problem(media, client, bearer):
    Camera.objects.create(id="attic", name="Attic", folder="attic")
    problem(client.get("/api/cameras/attic/latest.jpg", **bearer), 404)
    problem(client.get("/api/cameras/nope/latest.jpg", **bearer), 404)


def test_boxes_are_drawn_in_where_the_detector_found_them(media, client, bearer):
    ingest = upload(media, "a.jpg")
    url = "/api/cameras/porch/latest.jpg"
    unboxed = body(client.get(url + "?boxes=1", **bearer))
    assert unboxed == body(client.get(url, **bearer))  # nothing detected: the image as it is
    detect(ingest)
    response = client.get(url + "?boxes=1", **bearer)
    assert response.status_code == 200 and response["Content-Type"] == "image/jpeg"
    plain, boxed = decoded(unboxed), decoded(body(response))
    assert boxed.shape == plain.shape == (360, 640, 3)
    # The box's top edge, at half the frame's scale: x 200..360, y 80.
    edge = slice(79, 82), slice(200, 360)
    assert np.abs(boxed[edge] - plain[edge]).mean() > 30
    away = slice(300, 350), slice(450, 600)  # far from the box and its label
    assert np.abs(boxed[away] - plain[away]).mean() < 4
    # The drawn image changes with the boxes, so its ETag does too.
    again = client.get(url + "?boxes=1", HTTP_IF_NONE_MATCH=response["ETag"], **bearer)
    assert again.status_code == 304
    detect(ingest)
    assert client.get(url + "?boxes=1", HTTP_IF_NONE_MATCH=response["ETag"], **bearer).status_code == 200
    head = client.head(url + "?boxes=1", **bearer)
    assert head.status_code == 200 and not head.content and int(head["Content-Length"]) > 1000


def test_a_clips_image_gets_only_the_boxes_of_its_first_frame(media, client, bearer):
    ingest = upload(media, "clip.mp4", clip=True)
    url = "/api/cameras/porch/latest.jpg"
    detect(ingest, offset=2.0)  # seconds later: not in the pictured frame
    assert body(client.get(url + "?boxes=1", **bearer)) == body(client.get(url, **bearer))
    detect(ingest, offset=0.0)
    assert body(client.get(url + "?boxes=1", **bearer)) != body(client.get(url, **bearer))


# --- A gigabyte through daphne --------------------------------------------------------------------


def rss_kib(pid: int) -> int:
    """Resident memory of `pid` and its children (daphne forks none; counted if it ever did)."""
    total = 0
    for task in [pid, *children(pid)]:
        try:
            status = Path(f"/proc/{task}/status").read_text()
        except FileNotFoundError:
            continue
        total += int(next(line.split()[1] for line in status.splitlines() if line.startswith("VmRSS:")))
    return total


def children(pid: int) -> list[int]:
    try:
        found = [int(c) for c in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except FileNotFoundError:
        return []
    return [grand for child in found for grand in [child, *children(child)]]


class PeakRss:
    """The most a process's resident memory grew, sampled every 50 ms while in the block."""

    def __init__(self, pid: int) -> None:
        self.pid, self.done = pid, threading.Event()
        self.before = self.peak = rss_kib(pid)
        self.sampler = threading.Thread(target=self.sample)

    def sample(self) -> None:
        while not self.done.is_set():
            self.peak = max(self.peak, rss_kib(self.pid))
            time.sleep(0.05)

    def __enter__(self) -> PeakRss:
        self.sampler.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.done.set()
        self.sampler.join()

    @property
    def grown_mb(self) -> float:
        return (self.peak - self.before) / 1024


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_a_gigabyte_clip_streams_through_daphne_without_the_web_process_holding_it(tmp_path, spawn, viewer):
    """A fast client takes it all; a slow one (a phone on a poor link) takes what it can:
    either way the web process reads the file only as fast as the client takes it."""
    from tests.support.processes import pipeline_env, start_daphne, wait_answers

    env, root = pipeline_env(tmp_path)
    size = 1 << 30
    clip = root / "door" / "big.mp4"
    clip.parent.mkdir()
    with clip.open("wb") as handle:  # sparse: a gigabyte to read, next to nothing on disk
        handle.truncate(size)
        handle.write(b"ftyp-start")
    camera = Camera.objects.create(id="door", name="Door", folder="door")
    ingest = ingest_row(camera, "door/big.mp4", size=size, mtime_ns=clip.stat().st_mtime_ns)
    headers = {"Authorization": f"Bearer {api_token_create(user=viewer)[1]}"}
    daphne, base = start_daphne(spawn, env)
    wait_answers(base + "/health", daphne)
    url = f"{base}/api/media/originals/{ingest.pk}"
    warm = httpx.get(url, headers={**headers, "Range": "bytes=0-1048575"}, timeout=30)  # imports, first queries
    assert warm.status_code == 206 and warm.content.startswith(b"ftyp-start")

    received, started = 0, time.monotonic()
    with PeakRss(daphne.popen.pid) as fast, httpx.stream("GET", url, headers=headers, timeout=60) as response:
        assert response.status_code == 200 and response.headers["Content-Length"] == str(size)
        for chunk in response.iter_raw(1 << 20):
            received += len(chunk)
    seconds = time.monotonic() - started
    print(f"fast client: 1 GiB in {seconds:.1f} s; daphne RSS {fast.before / 1024:.0f} MB, +{fast.grown_mb:.1f} MB")
    assert received == size
    assert fast.grown_mb < 50

    received, started = 0, time.monotonic()
    with PeakRss(daphne.popen.pid) as slow, httpx.stream("GET", url, headers=headers, timeout=60) as response:
        for chunk in response.iter_raw(64 << 10):  # about 5 MB/s, for 4 s
            received += len(chunk)
            time.sleep(0.01)
            if time.monotonic() - started > 4:
                break
    print(f"slow client: {received / 1e6:.0f} MB in 4 s; daphne RSS +{slow.grown_mb:.1f} MB")
    assert slow.grown_mb < 50  # without pacing daphne read ahead and held hundreds of MB
    assert httpx.get(base + "/health", timeout=10).status_code == 200  # and went on serving
