"""The base of homesec's maintenance commands: `--help` ends with examples and notes
(`epilog`), kept as written rather than re-wrapped into one paragraph."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandParser, DjangoHelpFormatter


class _Formatter(DjangoHelpFormatter):
    """Django's (the command's own options first), with text of several lines kept as is."""

    def _fill_text(self, text: str, width: int, indent: str) -> str:
        if "\n" in text.strip():
            return "".join(indent + line for line in text.strip("\n").splitlines(keepends=True))
        return super()._fill_text(text, width, indent)


class MaintenanceCommand(BaseCommand):
    epilog = ""

    def create_parser(self, prog_name: str, subcommand: str, **kwargs: Any) -> CommandParser:
        return super().create_parser(prog_name, subcommand, epilog=self.epilog, formatter_class=_Formatter, **kwargs)
