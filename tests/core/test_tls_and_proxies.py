"""TLS (served by daphne itself, or by a trusted proxy in front), HSTS, and the client address
behind a proxy: the deploy checks, the redirect, WebSocket origins, the lock-out, throttling."""

from __future__ import annotations

import asyncio
import datetime
import ipaddress
import json
import ssl
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
import websockets
from django.test import RequestFactory, override_settings

from homesec.core.models import LoginFailure
from tests.support.processes import REPO, database_url_for_tests, free_port, process_env, wait_for
from tests.support.users import PASSWORD

YEAR = 365 * 24 * 3600


def manage(env: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, str(REPO / "manage.py"), *args], env=env, cwd=REPO, capture_output=True, text=True, timeout=60
    )


def deploy_check(tmp_path: Path, **extra: str) -> subprocess.CompletedProcess:
    env = process_env(
        tmp_path / "var",
        HOMESEC_DEBUG="0",
        HOMESEC_ALLOWED_HOSTS="cams.example.org",
        # The test session sets it for its own ORM calls; a deployment never has it.
        DJANGO_ALLOW_ASYNC_UNSAFE="<unset>",
        **extra,
    )
    return manage(env, "check", "--deploy", "--fail-level", "WARNING")


def self_signed(folder: Path) -> tuple[Path, Path]:
    """A certificate for 127.0.0.1 and its key, as PEM files."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import rsa
    from cryptography.x509.oid import NameOID

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = folder / "cert.pem", folder / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return cert_path, key_path


def status(url: str, **kwargs) -> int | None:
    try:
        return httpx.get(url, timeout=2, **kwargs).status_code
    except httpx.HTTPError:
        return None


def start_daphne(spawn, env: dict[str, str], argv: list[str], url: str, **kwargs) -> None:
    proc = spawn([sys.executable, "-m", "daphne", *argv, "homesec.asgi:application"], env, name="daphne")
    wait_for(lambda: status(f"{url}/health", **kwargs) == 200, timeout=20, what=proc.output)


def ws_opens(url: str, *, origin: str, headers: dict[str, str], **kwargs) -> bool:
    async def go() -> bool:
        try:
            async with websockets.connect(url, origin=origin, additional_headers=headers, open_timeout=5, **kwargs):
                return True
        except websockets.exceptions.InvalidStatus as refused:
            assert refused.response.status_code == 403
            return False

    return asyncio.run(go())


def session_cookie(client) -> str:
    """The session cookie of a signed-in test client."""
    return f"sessionid={client.cookies['sessionid'].value}"


# --- check --deploy ------------------------------------------------------------------------


def test_check_deploy_is_clean_with_tls_through_a_trusted_proxy(tmp_path):
    for trusted in ("1", "127.0.0.1", "10.0.0.0/8,192.0.2.7"):
        done = deploy_check(tmp_path, HOMESEC_TLS="1", HOMESEC_TRUSTED_PROXIES=trusted)
        assert done.returncode == 0, done.stderr
        assert "no issues" in done.stdout


def test_check_deploy_is_clean_with_tls_served_by_daphne_itself(tmp_path):
    cert, key = self_signed(tmp_path)
    done = deploy_check(tmp_path, HOMESEC_TLS="1", HOMESEC_TLS_CERT=str(cert), HOMESEC_TLS_KEY=str(key))
    assert done.returncode == 0, done.stderr
    assert "no issues" in done.stdout


def test_without_tls_check_deploy_names_the_warnings_the_readme_explains(tmp_path):
    done = deploy_check(tmp_path)
    warned = sorted(set(word.strip("():") for word in done.stderr.split() if word.startswith("(security.")))
    assert warned == ["security.W004", "security.W008", "security.W012", "security.W016"]
    readme = (REPO / "README.md").read_text()
    for code in ("W004", "W008", "W012", "W016"):
        assert code in readme


def test_tls_without_a_certificate_or_a_trusted_proxy_stops_at_start(tmp_path):
    done = deploy_check(tmp_path, HOMESEC_TLS="1")
    assert done.returncode != 0
    assert "HOMESEC_TLS_CERT" in done.stderr and "HOMESEC_TRUSTED_PROXIES" in done.stderr


def test_a_certificate_needs_its_key_and_both_files_must_exist(tmp_path):
    cert, key = self_signed(tmp_path)
    half = deploy_check(tmp_path, HOMESEC_TLS_CERT=str(cert))
    assert half.returncode != 0 and "HOMESEC_TLS_KEY" in half.stderr
    missing = deploy_check(tmp_path, HOMESEC_TLS_CERT=str(tmp_path / "nope.pem"), HOMESEC_TLS_KEY=str(key))
    assert missing.returncode != 0 and "nope.pem" in missing.stderr


@pytest.mark.parametrize("value", ["not-an-address", "10.0.0.0/33", "-1"])
def test_a_bad_trusted_proxies_value_stops_at_start(tmp_path, value):
    done = deploy_check(tmp_path, HOMESEC_TRUSTED_PROXIES=value)
    assert done.returncode != 0 and "HOMESEC_TRUSTED_PROXIES" in done.stderr


# --- TLS through the real web server ---------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_daphne_serves_https_itself_with_the_configured_certificate(tmp_path, spawn, viewer_client):
    cert, key = self_signed(tmp_path)
    port = free_port()
    env = process_env(
        tmp_path / "var",
        DATABASE_URL=database_url_for_tests(),
        HOMESEC_TLS_CERT=str(cert),
        HOMESEC_TLS_KEY=str(key),
        HOMESEC_BIND="127.0.0.1",
        PORT=str(port),
    )
    printed = manage(
        env,
        "shell",
        "-v",
        "0",
        "-c",
        "import json; from homesec.core.management.commands.run import daphne_args; print(json.dumps(daphne_args()))",
    )
    assert printed.returncode == 0, printed.stderr
    trust = ssl.create_default_context(cafile=str(cert))
    start_daphne(spawn, env, json.loads(printed.stdout), f"https://127.0.0.1:{port}", verify=trust)

    page = httpx.get(f"https://127.0.0.1:{port}/accounts/login/", verify=trust)
    assert page.status_code == 200
    assert page.headers["strict-transport-security"] == f"max-age={YEAR}; includeSubDomains"
    assert "Secure" in page.headers["set-cookie"]  # the CSRF cookie

    # A browser on this page opens wss:// from https://127.0.0.1:PORT; http:// is another origin.
    cookie = {"Cookie": session_cookie(viewer_client)}
    url = f"wss://127.0.0.1:{port}/ws/events"
    assert ws_opens(url, origin=f"https://127.0.0.1:{port}", headers=cookie, ssl=trust)
    assert not ws_opens(url, origin=f"http://127.0.0.1:{port}", headers=cookie, ssl=trust)


@pytest.mark.django_db(transaction=True)
def test_behind_a_trusted_tls_proxy_https_requests_get_hsts_and_plain_http_is_redirected(
    tmp_path, spawn, viewer_client
):
    port = free_port()
    env = process_env(
        tmp_path / "var",
        DATABASE_URL=database_url_for_tests(),
        HOMESEC_TLS="1",
        HOMESEC_TRUSTED_PROXIES="127.0.0.1",
        HOMESEC_ALLOWED_HOSTS="cams.example.org,127.0.0.1",
    )
    start_daphne(spawn, env, ["-b", "127.0.0.1", "-p", str(port)], f"http://127.0.0.1:{port}")
    url = f"http://127.0.0.1:{port}/accounts/login/"
    via_proxy = httpx.get(url, headers={"Host": "cams.example.org", "X-Forwarded-Proto": "https"})
    assert via_proxy.status_code == 200
    assert via_proxy.headers["strict-transport-security"] == f"max-age={YEAR}; includeSubDomains"
    plain = httpx.get(url, headers={"Host": "cams.example.org"})
    assert plain.status_code == 301
    assert plain.headers["location"] == "https://cams.example.org/accounts/login/"
    # Health probes that talk to homesec directly are not sent to the proxy.
    assert status(f"http://127.0.0.1:{port}/health") == 200

    cookie = {"Cookie": session_cookie(viewer_client), "X-Forwarded-Proto": "https"}
    ws_url = f"ws://cams.example.org:{port}/ws/events"
    # The proxy passes Host, so the socket's Host is cams.example.org:PORT.
    own = f"https://cams.example.org:{port}"
    assert ws_opens(ws_url, origin=own, headers=cookie, host="127.0.0.1", port=port)
    assert not ws_opens(ws_url, origin=f"http://cams.example.org:{port}", headers=cookie, host="127.0.0.1", port=port)


@pytest.mark.django_db(transaction=True)
def test_a_forwarded_scheme_from_an_untrusted_peer_is_ignored(tmp_path, spawn, viewer_client):
    port = free_port()
    env = process_env(
        tmp_path / "var",
        DATABASE_URL=database_url_for_tests(),
        HOMESEC_TRUSTED_PROXIES="192.0.2.7",  # not the loopback address the test connects from
        HOMESEC_ALLOWED_HOSTS="127.0.0.1",
    )
    start_daphne(spawn, env, ["-b", "127.0.0.1", "-p", str(port)], f"http://127.0.0.1:{port}")
    headers = {"Cookie": session_cookie(viewer_client), "X-Forwarded-Proto": "https"}
    url = f"ws://127.0.0.1:{port}/ws/events"
    assert not ws_opens(url, origin=f"https://127.0.0.1:{port}", headers=headers)
    assert ws_opens(url, origin=f"http://127.0.0.1:{port}", headers=headers)


# --- The client address: one answer for the lock-out and for throttling --------------------------


def proxies(value: str):
    """HOMESEC_TRUSTED_PROXIES=value, as the settings hold it."""
    from homesec.core.net import trusted_proxies_parse

    return trusted_proxies_parse(value)


def fail_sign_in(client, username: str, **meta) -> None:
    assert client.post("/accounts/login/", {"username": username, "password": "wrong"}, **meta).status_code == 200


@pytest.mark.django_db
@override_settings(LOGIN_MAX_FAILURES=2)
def test_behind_a_trusted_proxy_one_locked_out_client_does_not_lock_out_the_others(client, settings, viewer):
    settings.TRUSTED_PROXIES = proxies("1")
    for n in range(6):  # an address is refused after three times the per-name limit
        fail_sign_in(client, f"guess-{n}", HTTP_X_FORWARDED_FOR="203.0.113.7")
    assert set(LoginFailure.objects.values_list("ip", flat=True)) == {"203.0.113.7"}
    locked = client.post(
        "/accounts/login/", {"username": "viewer", "password": PASSWORD}, HTTP_X_FORWARDED_FOR="203.0.113.7"
    )
    assert locked.status_code == 429
    other = client.post(
        "/accounts/login/", {"username": "viewer", "password": PASSWORD}, HTTP_X_FORWARDED_FOR="198.51.100.9"
    )
    assert other.status_code == 302


@pytest.mark.django_db
def test_the_lockout_walks_forwarded_for_from_the_right_past_trusted_proxies(client, settings):
    settings.TRUSTED_PROXIES = proxies("10.0.0.0/8, 192.0.2.7")
    # The client forged the first entry; our two proxies appended the real address and their own.
    fail_sign_in(client, "a", REMOTE_ADDR="10.1.2.3", HTTP_X_FORWARDED_FOR="1.2.3.4, 203.0.113.7, 192.0.2.7")
    # A peer that is not one of our proxies is the client, whatever it forwards.
    fail_sign_in(client, "b", REMOTE_ADDR="198.51.100.9", HTTP_X_FORWARDED_FOR="1.2.3.4")
    assert dict(LoginFailure.objects.values_list("username", "ip")) == {"a": "203.0.113.7", "b": "198.51.100.9"}


@pytest.mark.django_db
def test_without_trusted_proxies_forwarded_for_is_ignored(client):
    fail_sign_in(client, "a", REMOTE_ADDR="198.51.100.9", HTTP_X_FORWARDED_FOR="1.2.3.4")
    assert list(LoginFailure.objects.values_list("ip", flat=True)) == ["198.51.100.9"]


@pytest.mark.parametrize(
    ("trusted", "peer", "forwarded", "expected"),
    [
        ("", "198.51.100.9", "1.2.3.4", "198.51.100.9"),
        ("1", "127.0.0.1", "1.2.3.4, 203.0.113.7", "203.0.113.7"),
        ("2", "127.0.0.1", "1.2.3.4, 203.0.113.7, 10.0.0.2", "203.0.113.7"),
        ("10.0.0.0/8", "10.0.0.1", "1.2.3.4, 203.0.113.7", "203.0.113.7"),
        ("10.0.0.0/8", "198.51.100.9", "1.2.3.4", "198.51.100.9"),
    ],
)
def test_api_throttling_counts_the_same_client_address_as_the_lockout(trusted, peer, forwarded, expected):
    from rest_framework.request import Request
    from rest_framework.settings import api_settings

    with override_settings(TRUSTED_PROXIES=proxies(trusted)):
        request = RequestFactory().get("/api/", REMOTE_ADDR=peer, HTTP_X_FORWARDED_FOR=forwarded)
        throttles = [throttle() for throttle in api_settings.DEFAULT_THROTTLE_CLASSES]
        assert throttles
        assert {throttle.get_ident(Request(request)) for throttle in throttles} == {expected}
