"""Paths that try to lead out of the media roots: in the URL (ids are integers, so these
find no route), in a row edited to point elsewhere, through links planted inside a root.
Every one is refused with a 404, and no byte of the file it aims at is in the answer."""

from __future__ import annotations

import os
import secrets
import socket
from dataclasses import dataclass
from pathlib import Path

import pytest
from django.db import DataError, transaction
from django.http import Http404
from django.test import RequestFactory
from django.utils import timezone

from cameras.models import Camera, Ingest
from detections.media import MediaFile, _open, open_inside, ranged_file_response, resolve_inside
from detections.models import Clip, Detection
from homesec.core.services import api_token_create
from tests.detections.test_api_media import detect, ingest_row
from tests.detections.test_media import body

pytestmark = pytest.mark.django_db
PASSWD = b"root:x:0:"


@dataclass(frozen=True)
class Place:
    MEDIA_ROOT: Path
    CAMERA_ROOT: Path
    DATA_DIR: Path
    outside: Path
    secret: bytes


@pytest.fixture
def place(tmp_path, settings):
    """The roots, a file in each that may be served, and outside them the secret."""
    settings.MEDIA_ROOT = tmp_path / "media"
    settings.CAMERA_ROOT = tmp_path / "cameras"
    settings.DATA_DIR = tmp_path / "data"
    (settings.MEDIA_ROOT / "previews").mkdir(parents=True)
    (settings.MEDIA_ROOT / "clips").mkdir()
    (settings.CAMERA_ROOT / "door").mkdir(parents=True)
    settings.DATA_DIR.mkdir()
    outside = tmp_path / "outside"
    outside.mkdir()
    secret = b"homesec-canary-" + secrets.token_hex(16).encode()
    (outside / "secret.jpg").write_bytes(secret)
    (settings.MEDIA_ROOT / "previews" / "ok.jpg").write_bytes(b"\xff\xd8 fine")
    (settings.CAMERA_ROOT / "door" / "ok.mp4").write_bytes(b"a fine clip")
    # Links planted inside the roots: to the secret itself, to its folder, through a chain,
    # relative; and a FIFO, which would hang a server that opened it.
    for root in (settings.MEDIA_ROOT, settings.CAMERA_ROOT):
        (root / "link.jpg").symlink_to(outside / "secret.jpg")
        (root / "linked-dir").symlink_to(outside, target_is_directory=True)
        (root / "chain.jpg").symlink_to("link.jpg")
        (root / "relative.jpg").symlink_to("../outside/secret.jpg")
        os.mkfifo(root / "fifo.jpg")
    return Place(settings.MEDIA_ROOT, settings.CAMERA_ROOT, settings.DATA_DIR, outside, secret)


def leaks(response, secret: bytes) -> bool:
    data = body(response)
    return secret in data or secret[:12] in data or PASSWD in data


def rows() -> tuple[Ingest, Detection]:
    """An upload with its playable copy and a detection, each pointing at a file that may be served."""
    ingest = ingest_row(Camera.objects.create(id="door", name="Door", folder="door"), "door/ok.mp4", size=11)
    Clip.objects.create(ingest=ingest, size=11, playable="previews/ok.jpg", transcode="done", queued_at=timezone.now())
    detection = detect(ingest)
    Detection.objects.filter(pk=detection.pk).update(thumbnail="previews/ok.jpg", preview="previews/ok.jpg")
    return ingest, detection


# --- Through the URL ------------------------------------------------------------------------------

URL_ATTACKS = [
    "../../../../etc/passwd",
    "..%2f..%2f..%2f..%2fetc%2fpasswd",
    "%2e%2e/%2e%2e/%2e%2e/etc/passwd",
    "%2e%2e%2f%2e%2e%2f%2e%2e%2fetc%2fpasswd",
    "%252e%252e%252f%252e%252e%252fetc%252fpasswd",  # encoded twice
    "..%255c..%255cetc%255cpasswd",
    "..\\..\\..\\etc\\passwd",
    "..%5c..%5c..%5cetc%5cpasswd",
    "/etc/passwd",
    "%2fetc%2fpasswd",
    "1%00",
    "1%00.jpg",
    "..%00/etc/passwd",
    "%c0%ae%c0%ae/%c0%ae%c0%ae/etc/passwd",  # overlong UTF-8 dots
    "..%c0%af..%c0%afetc%c0%afpasswd",  # overlong UTF-8 slashes
    "%e0%80%ae%e0%80%ae/etc/passwd",
    "%uff0e%uff0e/etc/passwd",
    "....//....//etc/passwd",
    "..;/..;/etc/passwd",
    ".%2e/.%2e/etc/passwd",  # mixed
    "%2e./%2e./etc/passwd",
    "1/../../../../etc/passwd",
    "1/..%2f..%2f..%2fetc%2fpasswd",
    "1%2f..%2f..%2fsecret.jpg",
    "-1",
    "0x1",
    "%ef%bc%91",  # a full-width digit one
    "1 ",
    "99999999999999999999999999",  # past any id column
]
API_ROUTES = [
    "/api/media/originals/{}",
    "/api/media/clips/{}",
    "/api/media/thumbnails/{}.jpg",
    "/api/media/previews/{}.jpg",
    "/api/cameras/{}/latest.jpg",
]
PAGE_ROUTES = ["/media/originals/{}", "/media/clips/{}", "/media/thumbnails/{}.jpg", "/media/previews/{}.jpg"]


@pytest.mark.parametrize("attack", URL_ATTACKS)
def test_a_path_in_the_url_finds_no_file_on_any_media_route(place, viewer, viewer_client, attack):
    rows()
    bearer = {"HTTP_AUTHORIZATION": f"Bearer {api_token_create(user=viewer)[1]}"}
    secret_path = str(place.outside / "secret.jpg")
    for route in API_ROUTES + PAGE_ROUTES:
        for target in (attack, attack.replace("etc/passwd", secret_path.lstrip("/"))):
            url = route.format(target)
            headers = bearer if url.startswith("/api/") else {}
            for response in (viewer_client.get(url, **headers), viewer_client.get(url + "?download=1", **headers)):
                assert response.status_code == 404, url
                assert not leaks(response, place.secret), url


def test_a_path_in_the_query_string_is_never_read(place, client, viewer):
    ingest, detection = rows()
    bearer = {"HTTP_AUTHORIZATION": f"Bearer {api_token_create(user=viewer)[1]}"}
    for query in ("path=../outside/secret.jpg", f"file={place.outside / 'secret.jpg'}", "name=../../etc/passwd"):
        response = client.get(f"/api/media/previews/{detection.pk}.jpg?{query}", **bearer)
        assert response.status_code == 200 and body(response) == b"\xff\xd8 fine"


@pytest.mark.django_db(transaction=True)
def test_daphne_answers_raw_request_targets_that_no_client_would_tidy_up(tmp_path, spawn, place, viewer):
    """What a test client or httpx would normalise, sent as the bytes themselves."""
    from tests.support.processes import pipeline_env, start_daphne, wait_answers

    env, _ = pipeline_env(tmp_path)
    key = api_token_create(user=viewer)[1]
    daphne, base = start_daphne(spawn, env)
    wait_answers(base + "/health", daphne)
    port = int(base.rsplit(":", 1)[1])
    for attack in URL_ATTACKS[:24]:
        for route in API_ROUTES:
            target = route.format(attack.replace(" ", "%20")).encode("latin-1")
            with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
                head = f"Host: 127.0.0.1\r\nAuthorization: Bearer {key}\r\nConnection: close\r\n\r\n"
                sock.sendall(b"GET " + target + b" HTTP/1.1\r\n" + head.encode())
                answer = b"".join(iter(lambda s=sock: s.recv(65536), b""))
            status = answer.split(b" ", 2)[1]
            # 404: no such route; 400: a target daphne will not even parse. Never a file.
            assert status in (b"400", b"404"), (target, answer[:200])
            assert PASSWD not in answer and place.secret not in answer, target


# --- Through a stored row ----------------------------------------------------------------------

# Relative to the root the row's file is under (MEDIA_ROOT or CAMERA_ROOT); outside/ is the
# secret's folder, beside both roots.
STORED_ATTACKS = [
    "../outside/secret.jpg",
    "../../../../../../../../{secret}",
    "{secret}",  # absolute
    "previews/../../outside/secret.jpg",  # `..` in the middle
    "door/../../outside/secret.jpg",
    "previews/./../../outside/secret.jpg",
    "previews//../../outside/secret.jpg",
    "..\\outside\\secret.jpg",
    "previews\\..\\..\\outside\\secret.jpg",
    "%2e%2e/outside/secret.jpg",
    "file://{secret}",
    "link.jpg",  # a link inside the root to the secret
    "linked-dir/secret.jpg",  # through a linked folder
    "chain.jpg",  # a link to that link
    "relative.jpg",  # a relative link climbing out
    "fifo.jpg",  # not a regular file
    ".",  # the root itself
    "previews",  # a folder
    "/etc/passwd",
    "../../../../../../../../etc/passwd",
    "/proc/self/environ",
]
FIELDS = {
    "Ingest.path": ("/api/media/originals/{ingest}", lambda i, d, p: Ingest.objects.filter(pk=i.pk).update(path=p)),
    "Clip.playable": ("/api/media/clips/{ingest}", lambda i, d, p: Clip.objects.filter(ingest=i).update(playable=p)),
    "Detection.thumbnail": (
        "/api/media/thumbnails/{detection}.jpg",
        lambda i, d, p: Detection.objects.filter(pk=d.pk).update(thumbnail=p),
    ),
    "Detection.preview": (
        "/api/media/previews/{detection}.jpg",
        lambda i, d, p: Detection.objects.filter(pk=d.pk).update(preview=p),
    ),
}


@pytest.mark.parametrize("field", FIELDS)
def test_a_row_edited_to_point_outside_its_root_is_refused(place, client, viewer, viewer_client, field):
    ingest, detection = rows()
    bearer = {"HTTP_AUTHORIZATION": f"Bearer {api_token_create(user=viewer)[1]}"}
    route, edit = FIELDS[field]
    url = route.format(ingest=ingest.pk, detection=detection.pk)
    assert client.get(url, **bearer).status_code == 200  # the row as it was: served
    secret_path = str(place.outside / "secret.jpg")
    for attack in STORED_ATTACKS:
        edit(ingest, detection, attack.format(secret=secret_path.lstrip("/") if attack[0] == "." else secret_path))
        for response in (
            client.get(url, **bearer),
            client.get(url, HTTP_RANGE="bytes=0-5", **bearer),
            client.head(url, **bearer),
            viewer_client.get(url.removeprefix("/api")),  # the pages' route to the same row
        ):
            assert response.status_code == 404, (attack, response)
            assert not leaks(response, place.secret), attack
            assert b"HOMESEC_" not in body(response), attack
        assert client.get(url, **bearer)["Content-Type"] == "application/problem+json"


@pytest.mark.parametrize("field", FIELDS)
def test_a_nul_in_a_stored_path_is_never_served(place, client, viewer, field):
    """PostgreSQL refuses to store a NUL at all; a database that took one still gets a 404."""
    ingest, detection = rows()
    bearer = {"HTTP_AUTHORIZATION": f"Bearer {api_token_create(user=viewer)[1]}"}
    route, edit = FIELDS[field]
    url = route.format(ingest=ingest.pk, detection=detection.pk)
    try:
        with transaction.atomic():
            edit(ingest, detection, "previews/ok.jpg\x00/../../outside/secret.jpg")
    except (DataError, ValueError):
        pass
    else:
        response = client.get(url, **bearer)
        assert response.status_code == 404 and not leaks(response, place.secret)
    request = RequestFactory().get("/")
    for root in (place.MEDIA_ROOT, place.CAMERA_ROOT):
        for relative in ("previews/ok.jpg\x00", "\x00../outside/secret.jpg", "door/ok.mp4\x00.jpg"):
            assert resolve_inside(root, relative) is None
            with pytest.raises(Http404):
                ranged_file_response(request, MediaFile(root, relative, "image/jpeg", "x.jpg"))


def test_a_link_swapped_in_after_the_check_is_not_followed_by_the_open(place):
    """Between resolve_inside's check and the open, the file is replaced by a link out."""
    media = MediaFile(place.MEDIA_ROOT, "previews/ok.jpg", "image/jpeg", "ok.jpg")
    checked = resolve_inside(media.root, media.relative)
    assert checked is not None and open_inside(media)[0].read() == b"\xff\xd8 fine"
    checked.unlink()
    checked.symlink_to(place.outside / "secret.jpg")
    with pytest.raises(Http404):
        _open(checked)


def test_the_latest_image_is_not_read_through_a_link_planted_in_its_cache(place, client, viewer):
    camera = Camera.objects.create(id="porch", name="Porch", folder="porch")
    ingest = ingest_row(camera, "porch/a.jpg", size=1, kind="image")
    bearer = {"HTTP_AUTHORIZATION": f"Bearer {api_token_create(user=viewer)[1]}"}
    cache = place.DATA_DIR / "cache" / "latest" / "porch"
    cache.mkdir(parents=True)
    (cache / f"{ingest.pk}.jpg").symlink_to(place.outside / "secret.jpg")
    (place.DATA_DIR / "secret_key").write_bytes(place.secret)
    for url in ("/api/cameras/porch/latest.jpg", "/api/cameras/porch/latest.jpg?boxes=1"):
        response = client.get(url, **bearer)
        assert response.status_code == 404 and not leaks(response, place.secret)
        (cache / f"{ingest.pk}.jpg").unlink()
        (cache / f"{ingest.pk}.jpg").symlink_to(place.DATA_DIR / "secret_key")  # inside the data folder
    response = client.get("/api/cameras/porch/latest.jpg", **bearer)
    assert response.status_code == 404 and not leaks(response, place.secret)
