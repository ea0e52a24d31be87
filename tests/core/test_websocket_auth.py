"""WebSocket sign-in: which origins may open a session socket, and open sockets that close
once their credentials are gone (sign-out, a revoked token, a deactivated user, a new password)."""

import asyncio

import pytest
from asgiref.sync import sync_to_async
from channels.testing import WebsocketCommunicator
from django.test import override_settings

from homesec.asgi import application
from homesec.core.services import api_token_create, api_token_revoke

pytestmark = pytest.mark.django_db(transaction=True)

# The close code for "your credentials are gone": distinct from 4401 (refused at the
# handshake) and 4408 (idle), so a client knows to sign in again rather than reconnect.
CLOSE_SIGNED_OUT = 4403


async def session_cookie(client, user) -> bytes:
    await sync_to_async(client.force_login)(user)
    return f"sessionid={client.cookies['sessionid'].value}".encode()


async def opens(headers: list[tuple[bytes, bytes]], path: str = "/ws/events") -> bool:
    communicator = WebsocketCommunicator(application, path, headers=headers)
    connected, _ = await communicator.connect(timeout=5)
    if connected:
        await communicator.disconnect()
    return connected


async def open_socket(headers: list[tuple[bytes, bytes]]) -> WebsocketCommunicator:
    communicator = WebsocketCommunicator(application, "/ws/events", headers=headers)
    connected, _ = await communicator.connect(timeout=5)
    assert connected
    return communicator


async def still_open_after(communicator, seconds: float) -> bool:
    """True when the socket survives `seconds` (several re-checks) and still answers a ping."""
    await asyncio.sleep(seconds)
    await communicator.send_json_to({"type": "ping"})
    while True:
        output = await communicator.receive_output(timeout=5)
        if output["type"] == "websocket.close":
            return False
        if '"pong"' in output.get("text", ""):
            return True


async def close_code(communicator, timeout: float = 5.0) -> int | None:
    async with asyncio.timeout(timeout):
        while True:
            output = await communicator.receive_output(timeout=timeout)
            if output["type"] == "websocket.close":
                return output.get("code")


# --- Origins -----------------------------------------------------------------------------


@override_settings(ALLOWED_HOSTS=["cams.lan"], PUBLIC_URL="http://127.0.0.1:8000", CSRF_TRUSTED_ORIGINS=[])
async def test_a_session_socket_origin_must_match_scheme_host_and_port(client, viewer):
    cookie = await session_cookie(client, viewer)
    cases = [
        ("cams.lan:8000", "http://cams.lan:8000", True),
        ("cams.lan:8000", "https://cams.lan:8000", False),
        ("cams.lan:8000", "http://cams.lan:9000", False),
        ("cams.lan:8000", "http://cams.lan", False),
        ("cams.lan", "http://cams.lan:80", True),
        ("cams.lan", "https://cams.lan", False),
        # A Host that is not ours does not make its own origin ours.
        ("evil.example", "http://evil.example", False),
        ("cams.lan:8000", "null", False),
    ]
    for host, origin, allowed in cases:
        headers = [(b"cookie", cookie), (b"host", host.encode()), (b"origin", origin.encode())]
        assert await opens(headers) is allowed, (host, origin)


@override_settings(ALLOWED_HOSTS=["*"], PUBLIC_URL="http://127.0.0.1:8000", CSRF_TRUSTED_ORIGINS=[])
async def test_allowing_every_host_does_not_allow_every_origin(client, viewer):
    cookie = await session_cookie(client, viewer)
    host = (b"host", b"127.0.0.1:8000")
    assert not await opens([(b"cookie", cookie), host, (b"origin", b"http://evil.example")])
    assert await opens([(b"cookie", cookie), host, (b"origin", b"http://127.0.0.1:8000")])


@override_settings(
    ALLOWED_HOSTS=["127.0.0.1"],
    PUBLIC_URL="https://cams.example.org",
    CSRF_TRUSTED_ORIGINS=["https://home.example.net:8443"],
)
async def test_the_public_url_and_the_trusted_origins_may_open_session_sockets(client, viewer):
    cookie = await session_cookie(client, viewer)
    cases = [
        ("https://cams.example.org", True),
        ("https://cams.example.org:443", True),
        ("http://cams.example.org", False),
        ("https://home.example.net:8443", True),
        ("https://home.example.net", False),
    ]
    for origin, allowed in cases:
        headers = [(b"cookie", cookie), (b"host", b"127.0.0.1:8000"), (b"origin", origin.encode())]
        assert await opens(headers) is allowed, origin


# --- Open sockets follow their credentials ---------------------------------------------------


@override_settings(WS_RECHECK_S=0.5)
async def test_a_token_socket_closes_once_its_token_is_revoked(viewer):
    token, key = await sync_to_async(api_token_create)(user=viewer)
    communicator = await open_socket([(b"authorization", f"Bearer {key}".encode())])
    assert await still_open_after(communicator, 1.2)
    await sync_to_async(api_token_revoke)(token=token)
    assert await close_code(communicator) == CLOSE_SIGNED_OUT


@override_settings(WS_RECHECK_S=0.5)
async def test_a_token_socket_closes_once_its_user_is_deactivated(viewer):
    _, key = await sync_to_async(api_token_create)(user=viewer)
    communicator = await open_socket([(b"authorization", f"Bearer {key}".encode())])
    assert await still_open_after(communicator, 1.2)
    viewer.is_active = False
    await sync_to_async(viewer.save)(update_fields=["is_active"])
    assert await close_code(communicator) == CLOSE_SIGNED_OUT


@override_settings(WS_RECHECK_S=0.5)
async def test_a_session_socket_closes_after_sign_out(client, viewer):
    cookie = await session_cookie(client, viewer)
    communicator = await open_socket([(b"cookie", cookie), (b"origin", b"http://127.0.0.1:8000")])
    assert await still_open_after(communicator, 1.2)
    await sync_to_async(client.logout)()
    assert await close_code(communicator) == CLOSE_SIGNED_OUT


@override_settings(WS_RECHECK_S=0.5)
async def test_a_session_socket_closes_once_the_password_changes(client, viewer):
    cookie = await session_cookie(client, viewer)
    communicator = await open_socket([(b"cookie", cookie), (b"origin", b"http://127.0.0.1:8000")])
    assert await still_open_after(communicator, 1.2)
    # A new password signs out every other session; its sockets go with them.
    viewer.set_password("a-new-password-456")
    await sync_to_async(viewer.save)(update_fields=["password"])
    assert await close_code(communicator) == CLOSE_SIGNED_OUT
