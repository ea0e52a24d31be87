"""The built-in FTP receiver with Python's ftplib as the camera."""

import ftplib
import io
import threading

import pytest
from django.contrib.auth.hashers import PBKDF2PasswordHasher, check_password
from django.db import connection

from cameras.ftp import build_server, ftp_account_create, ftp_account_set_password
from cameras.models import Camera, FtpAccount
from tests.cameras.corpus import jpeg_bytes
from tests.support.processes import free_port, wait_for

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def ftp(tmp_path, settings):
    settings.CAMERA_ROOT = tmp_path / "cameras"
    settings.MAX_UPLOAD_MB = 1
    settings.FTP_MAX_LOGIN_FAILURES = 3
    front = Camera.objects.create(id="front_door", name="Front Door", folder="Front Door")
    back = Camera.objects.create(id="back", name="Back", folder="back")
    ftp_account_create(camera=front, username="frontcam", password="front-secret-1")
    ftp_account_create(camera=back, username="backcam", password="back-secret-1")
    (settings.CAMERA_ROOT / "back").mkdir(parents=True)
    (settings.CAMERA_ROOT / "back" / "secret.jpg").write_bytes(b"private")
    port = free_port()
    server = build_server(host="127.0.0.1", port=port, auth_failed_delay_s=0.05)
    server.handler.throttle.failures.clear()

    def serve():
        try:
            server.serve_forever(timeout=0.1, handle_exit=False)
        finally:
            connection.close()  # the server thread's own database connection

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield port, settings.CAMERA_ROOT
    server.close_all()
    thread.join(timeout=5)


def client(port, user="frontcam", password="front-secret-1"):
    session = ftplib.FTP()
    session.connect("127.0.0.1", port, timeout=5)
    session.login(user, password)
    return session


def test_a_photo_uploaded_by_ftp_lands_in_the_camera_folder(ftp):
    port, root = ftp
    photo = jpeg_bytes(seed=3)
    with client(port) as session:
        session.mkd("snap")
        session.storbinary("STOR snap/MDAlarm_20260101-171020.jpg", io.BytesIO(photo))
    assert (root / "Front Door" / "snap" / "MDAlarm_20260101-171020.jpg").read_bytes() == photo
    assert FtpAccount.objects.get(username="frontcam").last_login_at is not None


def test_a_part_file_renamed_into_place_works(ftp):
    port, root = ftp
    with client(port) as session:
        session.storbinary("STOR x.jpg.part", io.BytesIO(jpeg_bytes()))
        session.rename("x.jpg.part", "x.jpg")
    assert sorted(p.name for p in (root / "Front Door").iterdir()) == ["x.jpg"]


@pytest.mark.parametrize(
    "attempt",
    [
        lambda s: s.cwd(".."),
        lambda s: s.cwd("/../back"),
        lambda s: s.retrbinary("RETR ../back/secret.jpg", lambda _: None),
        lambda s: s.retrbinary("RETR /../back/secret.jpg", lambda _: None),
        lambda s: s.storbinary("STOR ../back/planted.jpg", io.BytesIO(b"x")),
        lambda s: s.storbinary("STOR /../../etc/planted.jpg", io.BytesIO(b"x")),
        lambda s: s.nlst("../back"),
        lambda s: s.retrbinary("RETR link-out/secret.jpg", lambda _: None),
    ],
)
def test_a_camera_account_cannot_leave_its_folder(ftp, attempt):
    port, root = ftp
    (root / "Front Door").mkdir(exist_ok=True)
    (root / "Front Door" / "link-out").symlink_to(root / "back")
    with client(port) as session:
        try:
            result = attempt(session)
        except ftplib.error_perm as exc:
            assert str(exc)[:3] in ("550", "553")
        else:
            # cwd("..") at the top of a jail stays at the top; a listing shows only the jail.
            assert session.pwd() == "/" and (result is None or "secret.jpg" not in str(result))
    assert not (root / "back" / "planted.jpg").exists()
    assert (root / "back" / "secret.jpg").read_bytes() == b"private"


def test_a_wrong_password_is_refused_and_repeated_failures_lock_the_address(ftp):
    port, _ = ftp
    for _ in range(3):
        with pytest.raises(ftplib.error_perm, match="530"):
            client(port, password="wrong")
    with pytest.raises((ftplib.error_temp, ftplib.error_perm, EOFError), match="421"):
        client(port)  # the right password, but this address is locked out for now


def test_an_upload_over_the_limit_is_refused_and_leaves_nothing(ftp):
    port, root = ftp
    session = client(port)
    with pytest.raises((ftplib.error_perm, ConnectionError)) as raised:
        session.storbinary("STOR huge.jpg", io.BytesIO(b"\xff" * 1_500_000))
    # The server closes the data connection mid-send, so the client may see the reset
    # first and the 552 reply while handling it, or the other way round.
    chain, error = [], raised.value
    while error is not None:
        chain.append(str(error))
        error = error.__context__
    if not any(m.startswith("552") for m in chain):
        with pytest.raises(ftplib.error_perm) as reply:
            session.getresp()  # the reply is waiting on the control connection
        chain.append(str(reply.value))
    assert any(m.startswith("552 File exceeds the 1 MB upload limit") for m in chain), chain
    session.close()
    assert not (root / "Front Door" / "huge.jpg").exists()


def test_a_disabled_account_cannot_sign_in_and_passwords_are_stored_hashed(ftp):
    port, _ = ftp
    account = FtpAccount.objects.get(username="frontcam")
    assert account.password_hash != "front-secret-1" and check_password("front-secret-1", account.password_hash)
    FtpAccount.objects.filter(pk=account.pk).update(enabled=False)
    with pytest.raises(ftplib.error_perm, match="530"):
        client(port)


class ObservedPBKDF2Hasher(PBKDF2PasswordHasher):
    """Django's PBKDF2 hasher at its own default cost (0.3-0.5 s a check here), counting the
    checks running, so that a test can act while a login is in the middle of one."""

    iterations = 1_000_000
    lock = threading.Lock()
    running = 0

    def verify(self, password, encoded):
        cls = type(self)
        with cls.lock:
            cls.running += 1
        try:
            return super().verify(password, encoded)
        finally:
            with cls.lock:
                cls.running -= 1


@pytest.fixture
def slow_logins(ftp, settings):
    """The ftp fixture's frontcam account, its password hashed by ObservedPBKDF2Hasher."""
    cls = ObservedPBKDF2Hasher
    settings.PASSWORD_HASHERS = [f"{cls.__module__}.{cls.__qualname__}"]
    ftp_account_set_password(account=FtpAccount.objects.get(username="frontcam"), password="front-secret-1")
    return cls


def started_login(port):
    """A session that has sent USER and waits to send PASS."""
    session = ftplib.FTP()
    session.connect("127.0.0.1", port, timeout=10)
    session.sendcmd("USER frontcam")
    return session


def test_a_login_in_progress_does_not_hold_up_another_session(ftp, slow_logins):
    port, _ = ftp
    replies = []  # (who, reply) in the order they came back
    with client(port) as a, started_login(port) as b:
        b_login = threading.Thread(target=lambda: replies.append(("B", b.sendcmd("PASS front-secret-1"))))
        b_login.start()
        wait_for(lambda: slow_logins.running == 1, timeout=10, interval=0.005, what="B's password check to begin")
        replies.append(("A", a.voidcmd("NOOP")))
        b_login.join(timeout=10)
    assert [who for who, _ in replies] == ["A", "B"], replies
    assert replies[1][1].startswith("230")


def test_logins_past_the_concurrent_cap_for_an_address_get_421_and_do_not_count_as_failures(ftp, slow_logins, settings):
    port, _ = ftp
    settings.FTP_MAX_CONCURRENT_LOGINS = 2
    settings.FTP_MAX_LOGIN_FAILURES = 1  # one refusal counted as a failure would lock the address
    first, second, third = (started_login(port) for _ in range(3))
    replies = []
    logins = [
        threading.Thread(target=lambda s=s: replies.append(s.sendcmd("PASS front-secret-1"))) for s in (first, second)
    ]
    for login in logins:
        login.start()
    wait_for(lambda: slow_logins.running == 2, timeout=10, interval=0.005, what="two password checks at once")
    with pytest.raises(ftplib.error_temp, match="^421"):
        third.sendcmd("PASS front-secret-1")
    with pytest.raises((EOFError, ConnectionError)):
        third.voidcmd("NOOP")  # the server closed the connection after its 421
    for login in logins:
        login.join(timeout=10)
    assert [reply[:3] for reply in replies] == ["230", "230"]
    with client(port) as again:  # the address is not locked out
        again.voidcmd("NOOP")
    for session in (first, second, third):
        session.close()
