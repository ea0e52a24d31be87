from argparse import ArgumentParser
from typing import Any

from django.contrib.auth import get_user_model
from django.core.management.base import CommandError

from homesec.core.management.base import MaintenanceCommand
from homesec.core.services import api_token_create


class Command(MaintenanceCommand):
    help = "Create an API token for USER and print it once (only its hash is stored)."
    epilog = """
examples:
  manage.py create_api_token admin --name phone

Send it as `Authorization: Bearer <token>` (docs/API.md). Revoke it in the admin, API tokens.
"""

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("username")
        parser.add_argument("--name", default="api", help="A label to tell tokens apart, e.g. 'phone'.")

    def handle(self, *args: Any, username: str, name: str, **options: Any) -> None:
        user = get_user_model().objects.filter(username=username).first()
        if user is None:
            raise CommandError(f"no user named {username!r}")
        _, key = api_token_create(user=user, name=name)
        self.stdout.write(key)
