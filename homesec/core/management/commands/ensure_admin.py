from django.conf import settings
from django.core.management.base import BaseCommand

from homesec.core.services import admin_ensure


class Command(BaseCommand):
    help = "Make sure an admin account exists (HOMESEC_ADMIN_USER / HOMESEC_ADMIN_PASSWORD, or a generated password)."

    def handle(self, *args, **options):
        user, generated = admin_ensure(username=settings.ADMIN_USER, password=settings.ADMIN_PASSWORD or None)
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
