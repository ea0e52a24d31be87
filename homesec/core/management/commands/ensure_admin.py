from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.management.base import CommandError

from homesec.core.management.base import MaintenanceCommand
from homesec.core.services import admin_ensure


class Command(MaintenanceCommand):
    help = "Make sure an admin account exists (HOMESEC_ADMIN_USER / HOMESEC_ADMIN_PASSWORD, or a generated password)."
    epilog = """
examples:
  manage.py ensure_admin
  HOMESEC_ADMIN_USER=alice HOMESEC_ADMIN_PASSWORD='a long passphrase' manage.py ensure_admin

A generated password is printed once. An existing admin is left as it is, except that
HOMESEC_ADMIN_PASSWORD sets the named admin's password: the way back in after a lost one.
"""

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            user, generated = admin_ensure(username=settings.ADMIN_USER, password=settings.ADMIN_PASSWORD or None)
        except ValidationError as error:  # the validators' messages, never the password
            raise CommandError(
                f"HOMESEC_ADMIN_PASSWORD does not pass the password rules: {' '.join(error.messages)}"
            ) from None
        if generated:
            self.stdout.write(
                self.style.WARNING(
                    "\n  First run: an admin account was created.\n"
                    f"    user:     {user.get_username()}\n"
                    f"    password: {generated}\n"
                    "  This password is shown once. Change it after signing in, or reset it with\n"
                    f"  .venv/bin/python manage.py changepassword {user.get_username()}\n"
                )
            )
