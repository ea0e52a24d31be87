"""The built-in FTP receiver: one account per camera, jailed to the camera's folder.

Off unless HOMESEC_FTP_PORT is set; `manage.py run` then supervises `manage.py
ftp_server`. Files land in the camera folder, where the watcher takes them the moment
the upload closes (or the client renames `x.part` into place).

pyftpdlib runs every connection in one thread and one IO loop, so anything slow in a
callback (the password hash, a database write) pauses every transfer for that long.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import logging
import os
import secrets
import threading
import time
from collections import deque

from django.conf import settings
from django.contrib.auth.hashers import check_password, make_password
from django.db import close_old_connections
from django.utils import timezone
from pyftpdlib.authorizers import AuthenticationFailed
from pyftpdlib.handlers import DTPHandler, FTPHandler
from pyftpdlib.servers import FTPServer

from cameras.models import Camera, FtpAccount

logger = logging.getLogger("homesec.ftp")

# What a camera needs, and no more:
#   e  CWD into the folders it makes      l  LIST/NLST/SIZE (some cameras look before MKD)
#   m  MKD for snap/, record/, dated dirs  w  STOR (and STOU)
#   a  APPE (resume into its own upload)  f  RNFR/RNTO (`x.part` -> `x.jpg`)
#   d  DELE/RMD: clients remove a failed upload or an FTP-test file.
# No `r`: nothing a camera does reads files back, and a leaked camera password must not
# download the footage. No `M` (chmod) or `T` (set mtime). The uploads already there are
# the evidence, so CameraFTPHandler narrows `d`, `f`, `a` and overwriting to the files
# written in the same session.
CAMERA_PERMISSIONS = "elmwadf"


def ftp_account_set_password(*, account: FtpAccount, password: str) -> None:
    account.password_hash = make_password(password)
    account.save(update_fields=["password_hash"])


def ftp_account_create(*, camera: Camera, username: str, password: str) -> FtpAccount:
    return FtpAccount.objects.create(camera=camera, username=username, password_hash=make_password(password))


class LoginThrottle:
    """Wrong passwords per client address; `limit` of them within `window_s` lock it out.

    In memory is enough: one process owns the FTP port, and a restart forgetting the
    state costs an attacker a restart per `limit` guesses.
    """

    def __init__(self, *, limit: int, window_s: float) -> None:
        self.limit = limit
        self.window_s = window_s
        self.failures: dict[str, deque[float]] = {}
        self.locked_until: dict[str, float] = {}
        self.lock = threading.Lock()

    def locked(self, ip: str) -> bool:
        with self.lock:
            return self.locked_until.get(ip, 0.0) > time.monotonic()

    def failed(self, ip: str) -> None:
        now = time.monotonic()
        with self.lock:
            recent = self.failures.setdefault(ip, deque())
            recent.append(now)
            while recent and now - recent[0] > self.window_s:
                recent.popleft()
            if len(recent) >= self.limit:
                # A fixed lock-out from the last failure, not a sliding window: the
                # address gets nothing at all for window_s.
                self.locked_until[ip] = now + self.window_s
                del self.failures[ip]
            # Forget addresses that have gone quiet, so the maps stay small.
            for other in [a for a, until in self.locked_until.items() if until <= now]:
                del self.locked_until[other]
            for other in [a for a, times in self.failures.items() if now - times[-1] > self.window_s]:
                del self.failures[other]


class CameraAuthorizer:
    """Accounts from the FtpAccount table; each user's home is its camera's folder."""

    def __init__(self, *, throttle: LoginThrottle) -> None:
        self.throttle = throttle
        self.homes: dict[str, str] = {}
        # username -> (password_hash, HMAC of the password) of the last good login. A
        # camera signs in for every upload, and PBKDF2 (~0.5 s) would stall the IO loop
        # each time; the per-process key means nothing stored here is a password or
        # a hash that outlives the process.
        self.verified: dict[str, tuple[str, bytes]] = {}
        self.key = secrets.token_bytes(32)

    def _password_ok(self, account: FtpAccount | None, password: str) -> bool:
        if account is None:
            # An unusable hash makes check_password run the hasher anyway, so an unknown
            # user name takes as long as a wrong password.
            check_password(password, "")
            return False
        digest = hmac.new(self.key, password.encode(), hashlib.sha256).digest()
        known = self.verified.get(account.username)
        if known and known[0] == account.password_hash and hmac.compare_digest(known[1], digest):
            return True
        if not check_password(password, account.password_hash):
            return False
        self.verified[account.username] = (account.password_hash, digest)
        return True

    def validate_authentication(self, username: str, password: str, handler: FTPHandler) -> None:
        close_old_connections()  # a long-running process: drop connections past their age
        try:
            account = FtpAccount.objects.select_related("camera").filter(username=username).first()
            if not self._password_ok(account, password):
                self.throttle.failed(handler.remote_ip)  # counted now, before the reply's delay
                reason = "unknown user or wrong password"
            elif not account.enabled:
                reason = "account disabled"
            elif not account.camera.enabled:
                reason = "camera disabled"
            else:
                home = settings.CAMERA_ROOT / account.camera.folder
                home.mkdir(parents=True, exist_ok=True)
                self.homes[username] = str(home.resolve())
                FtpAccount.objects.filter(pk=account.pk).update(last_login_at=timezone.now())
                return
        finally:
            close_old_connections()
        logger.warning("FTP login refused for %r from %s: %s", username, handler.remote_ip, reason)
        # One message for every case, so a client cannot tell which user names exist.
        raise AuthenticationFailed("Authentication failed.")

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
        pass  # one OS user owns every camera folder

    def terminate_impersonation(self, username: str) -> None:
        pass


def relative_to_root(path: str) -> str:
    return os.path.relpath(path, settings.CAMERA_ROOT)


class LimitedDTPHandler(DTPHandler):
    """Aborts an upload once the file passes HOMESEC_MAX_UPLOAD_MB."""

    def handle_read(self) -> None:
        super().handle_read()
        limit_mb = settings.MAX_UPLOAD_MB
        # tell(), not tot_bytes_received: REST and APPE add to bytes already there.
        if self.receive and not self._closed and self.file_obj.tell() > limit_mb * 1024 * 1024:
            # Remove the partial file before the 552 goes out (close() sends it), so a
            # client that looks right after the reply finds nothing.
            self.file_obj.close()
            with contextlib.suppress(OSError):
                os.remove(self.file_obj.name)
            self._resp = (f"552 File exceeds the {limit_mb} MB upload limit; transfer aborted.", logger.warning)
            self.close()  # also calls on_incomplete_file_received

    handle_read_event = handle_read  # the base class aliases its own handle_read


class CameraFTPHandler(FTPHandler):
    banner = "homesec FTP receiver ready."
    dtp_handler = LimitedDTPHandler
    authorizer: CameraAuthorizer

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.written: set[str] = set()  # files this session created: the only ones it may change

    def ftp_PASS(self, line: str):  # noqa: N802 - pyftpdlib's command naming
        if self.authorizer.throttle.locked(self.remote_ip):
            self.respond("421 Too many failed logins from this address; try again later.")
            self.close_when_done()
            return None
        return super().ftp_PASS(line)

    def ftp_STOR(self, file: str, mode: str = "w"):  # noqa: N802 - also runs APPE
        if self.fs.lexists(file) and file not in self.written:
            self.respond("553 That file exists; homesec keeps uploads, so send it under a new name.")
            return None
        stored = super().ftp_STOR(file, mode)
        if stored:
            self.written.add(file)
        return stored

    def ftp_DELE(self, path: str):  # noqa: N802
        if path not in self.written:
            self.respond("550 Only files uploaded in this session can be deleted.")
            return None
        self.written.discard(path)
        return super().ftp_DELE(path)

    def ftp_RNFR(self, path: str):  # noqa: N802
        if path not in self.written:
            self.respond("550 Only files uploaded in this session can be renamed.")
            return None
        return super().ftp_RNFR(path)

    def ftp_RNTO(self, path: str):  # noqa: N802
        if self._rnfr and self.fs.lexists(path) and path not in self.written:
            self._rnfr = None
            self.respond("553 That file exists; homesec keeps uploads, so rename to a new name.")
            return None
        renamed = super().ftp_RNTO(path)
        if renamed:
            self.written.discard(renamed[0])
            self.written.add(renamed[1])
        return renamed

    def on_login(self, username: str) -> None:
        self.written = set()
        logger.info("FTP login %s from %s", username, self.remote_ip)

    def on_file_received(self, file: str) -> None:
        self.written.add(file)  # STOU names its own files
        logger.info("FTP upload %s by %s", relative_to_root(file), self.username)

    def on_incomplete_file_received(self, file: str) -> None:
        # A partial upload is not evidence; the camera sends the file again.
        self.written.discard(file)
        with contextlib.suppress(OSError):
            os.remove(file)
        logger.warning("FTP upload %s by %s was incomplete and is removed", relative_to_root(file), self.username)


def build_server(*, host: str, port: int, auth_failed_delay_s: float = 1.0) -> FTPServer:
    """A server for `serve_forever()`; each call gets its own handler class and throttle."""
    throttle = LoginThrottle(limit=settings.FTP_MAX_LOGIN_FAILURES, window_s=settings.FTP_LOCKOUT_S)
    handler = type("ConfiguredCameraFTPHandler", (CameraFTPHandler,), {})
    handler.authorizer = CameraAuthorizer(throttle=throttle)
    # pyftpdlib answers a wrong password after this delay without blocking the loop.
    handler.auth_failed_timeout = auth_failed_delay_s
    handler.max_login_attempts = settings.FTP_MAX_LOGIN_FAILURES  # per connection, then it hangs up
    handler.permit_foreign_addresses = False  # data connections only from the control peer
    handler.passive_ports = list(settings.FTP_PASSIVE_PORTS) if settings.FTP_PASSIVE_PORTS else None
    handler.masquerade_address = settings.FTP_MASQUERADE_ADDRESS or None
    server = FTPServer((host, port), handler)
    server.max_cons = 64
    server.max_cons_per_ip = 8
    return server
