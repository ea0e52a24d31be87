"""The base of homesec's maintenance commands: `--help` ends with examples and notes
(`epilog`), kept as written rather than re-wrapped into one paragraph."""

from __future__ import annotations

from argparse import RawDescriptionHelpFormatter
from typing import Any

from django.core.management.base import BaseCommand, CommandParser


class MaintenanceCommand(BaseCommand):
    epilog = ""

    def create_parser(self, prog_name: str, subcommand: str, **kwargs: Any) -> CommandParser:
        return super().create_parser(
            prog_name, subcommand, epilog=self.epilog, formatter_class=RawDescriptionHelpFormatter, **kwargs
        )
