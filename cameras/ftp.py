"""The built-in FTP receiver: one account per camera, jailed to the camera's folder.

Off unless HOMESEC_FTP_PORT is set; `manage.py run` then supervises `manage.py
ftp_server`. Files land in the camera folder, where the watcher takes them the moment
the upload closes (or the client renames `x.part` into place).

Each connection has its own thread (pyftpdlib's ThreadedFTPServer), so a login's password
check (PBKDF2, about half a second) holds up only that login, never another camera's
transfer. An address is locked out after HOMESEC_FTP_MAX_LOGIN_FAILURES wrong passwords,
and may have at most HOMESEC_FTP_MAX_CONCURRENT_LOGINS password checks running at once.
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
import time
from collections import Counter, defaultdict, deque
from typing import Any

from django.conf import settings
from django.contrib.auth.hashers import check_password, make_password
from django.db import connection
from django.utils import timezone
from pyftpdlib.authorizers import AuthenticationFailed
from pyftpdlib.handlers import DTPHandler, FTPHandler
from pyftpdlib.servers import ThreadedFTPServer

from cameras.models import Camera, FtpAccount

logger = logging.getLogger("homesec.ftp")

# e: change directory, l: list, r: retrieve (cameras re-read a file to resume it),
# a: append (resume an upload), d: delete (clients remove a failed partial upload),
# f: rename (`x.part` -> `x.jpg`), m: make directory (snap/, record/, dated folders),
# w: store. No chmod (M) and no site commands (T): a camera needs neither.
CAMERA_PERMISSIONS = "elradfmw"


def ftp_account_set_password(*, account: FtpAccount, password: str) -> None:
    account.password_hash = make_password(password)
    account.save(update_fields=["password_hash"])


def ftp_account_create(*, camera: Camera, username: str, password: str) -> FtpAccount:
    return FtpAccount.objects.create(camera=camera, username=username, password_hash=make_password(password))


def ftp_account_save(*, account: FtpAccount, password: str = "") -> FtpAccount:
    """Store what the console edited; the password is write-only: empty keeps the stored hash."""
    if password:
        account.password_hash = make_password(password)
    account.save()
    return account


class CameraAuthorizer:
    """Accounts from the FtpAccount table; each user's home is its camera's folder."""

    def __init__(self) -> None:
        # Shared by the connections' threads without a lock: each login stores its own user's
        # folder and reads it straight back, and one dict store or lookup is atomic.
        self.homes: dict[str, str] = {}

    def validate_authentication(self, username: str, password: str, handler: FTPHandler) -> None:
        try:
            account = FtpAccount.objects.select_related("camera").filter(username=username).first()
            # Hash even for unknown users, so timing does not tell which user names exist.
            valid = check_password(password, account.password_hash if account else make_password(None))
            if not (account and valid and account.enabled and account.camera.enabled):
                raise AuthenticationFailed("Authentication failed.")
            home = settings.CAMERA_ROOT / account.camera.folder
            home.mkdir(parents=True, exist_ok=True)
            self.homes[username] = str(home.resolve())
            FtpAccount.objects.filter(pk=account.pk).update(last_login_at=timezone.now())
        finally:
            # The login is this thread's only use of the database, and a camera may keep its
            # session open for hours: hand the connection back now rather than hold one per
            # camera (and never leave one behind when the thread ends).
            connection.close()

    def get_home_dir(self, username: str) -> str:
        return self.homes[username]

    def has_user(self, username: str) -> bool:
        return username in self.homes

    def has_perm(self, username: str, perm: str, path: str | None = None) -> bool:
        return perm in CAMERA_PERMISSIONS

    def get_perms(self, username: str) -> str:
        return CAMERA_PERMISSIONS

    def get_msg_login(self, username: str) -> str:
        return "Welcome to the homesec FTP receiver."

    def get_msg_quit(self, username: str) -> str:
        return "Goodbye."

    def impersonate_user(self, username: str, password: str) -> None:
        pass

    def terminate_impersonation(self, username: str) -> None:
        pass


class LoginThrottle:
    """Failed logins and password checks in progress, per client address.

    In memory: one process owns the FTP port. The lock, because each connection has its own
    thread.
    """

    def __init__(self) -> None:
        self.failures: dict[str, deque] = defaultdict(deque)
        self.checking: Counter[str] = Counter()
        self.lock = threading.Lock()

    def _recent(self, ip: str, now: float) -> deque:
        window = self.failures[ip]
        while window and now - window[0] > settings.FTP_LOCKOUT_S:
            window.popleft()
        return window

    def locked(self, ip: str) -> bool:
        with self.lock:
            return len(self._recent(ip, time.monotonic())) >= settings.FTP_MAX_LOGIN_FAILURES

    def failed(self, ip: str) -> None:
        with self.lock:
            self._recent(ip, time.monotonic()).append(time.monotonic())

    def succeeded(self, ip: str) -> None:
        with self.lock:
            self.failures.pop(ip, None)

    def check_started(self, ip: str) -> bool:
        """Takes one of the address's password-check slots; False when all are in use."""
        with self.lock:
            if self.checking[ip] >= settings.FTP_MAX_CONCURRENT_LOGINS:
                return False
            self.checking[ip] += 1
            return True

    def check_finished(self, ip: str) -> None:
        with self.lock:
            self.checking[ip] -= 1
            if not self.checking[ip]:
                del self.checking[ip]


class LimitedDTPHandler(DTPHandler):
    """Aborts an upload once it passes HOMESEC_MAX_UPLOAD_MB."""

    def handle_read(self) -> None:
        super().handle_read()
        limit = settings.MAX_UPLOAD_MB * 1024 * 1024
        if self.receive and not self._closed and self.tot_bytes_received > limit:
            # Remove the partial file before the 552 goes out, so a client that looks
            # right after the reply finds nothing.
            self.file_obj.close()
            with contextlib.suppress(OSError):
                os.remove(self.file_obj.name)
            self._resp = (
                f"552 File exceeds the {settings.MAX_UPLOAD_MB} MB upload limit; transfer aborted.",
                logger.warning,
            )
            self.close()

    handle_read_event = handle_read  # the base class aliases its own handle_read


# pyftpdlib checks a CWD by moving the whole process into the folder and back; two
# connection threads doing that at once could leave the process in a camera's folder.
_cwd_lock = threading.Lock()


class CameraFTPHandler(FTPHandler):
    banner = "homesec FTP receiver ready."
    dtp_handler = LimitedDTPHandler
    throttle = LoginThrottle()

    def ftp_PASS(self, line: str) -> Any:  # noqa: N802 - pyftpdlib's command naming
        if self.throttle.locked(self.remote_ip):
            self.respond("421 Too many failed logins from this address; try again later.")
            self.close_when_done()
            return
        # Each check costs a core for half a second: one address must not take them all.
        # Turned away here is not a wrong password, so it does not count towards a lock-out.
        if not self.throttle.check_started(self.remote_ip):
            self.respond("421 Too many logins in progress from this address; try again later.")
            self.close_when_done()
            return
        try:
            return super().ftp_PASS(line)
        finally:
            self.throttle.check_finished(self.remote_ip)

    def ftp_CWD(self, path: str) -> Any:  # noqa: N802 - pyftpdlib's command naming
        with _cwd_lock:
            return super().ftp_CWD(path)

    def on_login(self, username: str) -> None:
        self.throttle.succeeded(self.remote_ip)
        logger.info("camera account %s signed in from %s", username, self.remote_ip)

    def on_login_failed(self, username: str, password: str) -> None:
        self.throttle.failed(self.remote_ip)
        logger.warning("failed FTP login for %r from %s", username, self.remote_ip)

    def on_file_received(self, file: str) -> None:
        logger.info("received %s", file)

    def on_incomplete_file_received(self, file: str) -> None:
        # A partial upload is not evidence; the camera will send the file again.
        with contextlib.suppress(OSError):
            os.remove(file)


def build_server(*, host: str, port: int, auth_failed_delay_s: float = 1.0) -> ThreadedFTPServer:
    handler: type[CameraFTPHandler] = type("ConfiguredCameraFTPHandler", (CameraFTPHandler,), {})
    handler.authorizer = CameraAuthorizer()
    handler.auth_failed_timeout = auth_failed_delay_s
    handler.max_login_attempts = settings.FTP_MAX_LOGIN_FAILURES
    handler.permit_foreign_addresses = False
    if settings.FTP_PASSIVE_PORTS:
        handler.passive_ports = settings.FTP_PASSIVE_PORTS
    if settings.FTP_MASQUERADE_ADDRESS:
        handler.masquerade_address = settings.FTP_MASQUERADE_ADDRESS
    # A thread per connection, rather than pyftpdlib's single event loop: the password hash
    # (hashlib lets go of the GIL), the database and a slow disk then stall one session only.
    # A worker thread for the check alone would have to resume the command inside
    # pyftpdlib's loop by hand; a process per connection would fork Django's database
    # connections. Threads stay bounded by max_cons.
    server = ThreadedFTPServer((host, port), handler)
    server.max_cons = 64
    server.max_cons_per_ip = 8
    return server
