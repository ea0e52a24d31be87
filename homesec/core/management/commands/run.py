"""`manage.py run`: set up (migrate, static files, an admin) and supervise every process."""

from __future__ import annotations

import logging
import sys
from argparse import ArgumentParser
from typing import Any

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand

from homesec.core.supervisor import ProcessSpec, exec_supervisor


def daphne_args() -> list[str]:
    # No --proxy-headers: daphne would believe X-Forwarded-For from any client, which would
    # defeat the sign-in lock-out; homesec.core.net believes only HOMESEC_TRUSTED_PROXIES.
    # daphne's access log is plain text: with JSON logs the request middleware writes it.
    verbosity = ["-v", "1" if settings.ACCESS_LOG and settings.LOG_FORMAT == "text" else "0"]
    if not settings.TLS_CERT:
        return ["-b", settings.BIND, "-p", str(settings.PORT), *verbosity]
    from twisted.internet.endpoints import quoteStringArgument

    # HTTPS only, through a Twisted endpoint; colons in paths and IPv6 addresses are escaped.
    endpoint = (
        f"ssl:{settings.PORT}:interface={quoteStringArgument(settings.BIND)}"
        f":privateKey={quoteStringArgument(settings.TLS_KEY)}:certKey={quoteStringArgument(settings.TLS_CERT)}"
    )
    with open(settings.TLS_CERT, errors="replace") as cert:
        full_chain = cert.read().count("BEGIN CERTIFICATE") > 1
    if full_chain:
        # A full-chain file: Twisted takes the first certificate from certKey and the chain
        # only from extraCertChain. The leaf then goes out twice, which clients accept.
        endpoint += f":extraCertChain={quoteStringArgument(settings.TLS_CERT)}"
    return ["-e", endpoint, *verbosity]


def process_specs() -> list[ProcessSpec]:
    python = sys.executable
    manage = str(settings.BASE_DIR / "manage.py")
    specs = [
        ProcessSpec("web", [python, "-m", "daphne", *daphne_args(), "homesec.asgi:application"]),
        # Every lane (main, alerts, slow) and the watcher forked from one process that loads
        # Django once (homesec/core/management/commands/worker.py).
        ProcessSpec("workers", [python, manage, "worker", "--all-lanes", "--with-watcher"]),
    ]
    if settings.FTP_PORT:
        specs.append(ProcessSpec("ftp", [python, manage, "ftp_server"]))
    return specs


class Command(BaseCommand):
    help = "Set homesec up and run the web server, the workers and the camera watcher."

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("--no-setup", action="store_true", help="Skip migrate, collectstatic and the admin check.")

    def handle(self, *args: Any, no_setup: bool = False, **options: Any) -> None:
        logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
        if not no_setup:
            call_command("migrate", interactive=False, verbosity=0)
            call_command("collectstatic", interactive=False, verbosity=0)
            call_command("ensure_admin")
        host = "127.0.0.1" if settings.BIND in ("0.0.0.0", "::") else settings.BIND
        url = f"{'https' if settings.TLS_CERT else 'http'}://{host}:{settings.PORT}/"
        self.stdout.write(self.style.SUCCESS(f"homesec is starting at {url}  (Ctrl-C stops it)"))
        self.stdout.write(f"Camera folders: {settings.CAMERA_ROOT}")
        self.stdout.flush()
        # The supervisor needs none of Django: it runs on in a fresh interpreter, same pid.
        exec_supervisor(process_specs())
