"""System checks for settings that need more than the settings module can do when it
loads: Django's password validators need the apps, and a missing model file is better told
once at start than by every detection failing. `manage.py run` runs these before anything
starts, and every other command runs them too. No network calls here: a check must not hang
a start, and `manage.py check_config` does what needs the network."""

from __future__ import annotations

import os
import shutil
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from django.apps import AppConfig
from django.conf import settings
from django.core.checks import CheckMessage, Error, Warning, register
from django.core.exceptions import ValidationError


@register()
def admin_password_check(app_configs: Sequence[AppConfig] | None, **kwargs: Any) -> list[CheckMessage]:
    from django.contrib.auth import get_user_model
    from django.contrib.auth.password_validation import validate_password

    if not settings.ADMIN_PASSWORD:
        return []
    try:
        validate_password(settings.ADMIN_PASSWORD, user=get_user_model()(username=settings.ADMIN_USER))
    except ValidationError as error:
        # The validators' own words; never the password itself.
        return [
            Error(
                f"HOMESEC_ADMIN_PASSWORD does not pass the password rules: {' '.join(error.messages)}",
                hint="Choose a longer, less common password, or unset it to have one generated.",
                id="core.E001",
            )
        ]
    return []


@register()
def detector_model_check(app_configs: Sequence[AppConfig] | None, **kwargs: Any) -> list[CheckMessage]:
    if settings.DETECTOR != "onnx":
        return []
    path = Path(settings.DETECTOR_MODEL)
    if path.is_file() and os.access(path, os.R_OK):
        return []
    return [
        Error(
            f"HOMESEC_DETECTOR_MODEL={str(path)!r} is not a file homesec can read",
            hint="Point it at the YOLO .onnx model file, readable by homesec's user.",
            id="core.E002",
        )
    ]


# --- Folders and tools homesec needs (cheap and offline; `manage.py check_config` also
# tries them for real: writes a file, calls the detector and the language model) ---------


def _writable_folder(path: Path) -> bool:
    return path.is_dir() and os.access(path, os.W_OK | os.X_OK)


@register()
def folders_check(app_configs: Sequence[AppConfig] | None, **kwargs: Any) -> list[CheckMessage]:
    problems: list[CheckMessage] = []
    if not _writable_folder(Path(settings.CAMERA_ROOT)):
        problems.append(
            Warning(
                f"the camera root {settings.CAMERA_ROOT} is not a folder homesec can write to",
                hint="Uploads are read from there and deleted from the console there; the FTP receiver writes there. "
                "Fix its owner or mode, or set HOMESEC_CAMERA_ROOT.",
                id="core.W101",
            )
        )
    if not _writable_folder(Path(settings.MEDIA_ROOT)):
        problems.append(
            Error(
                f"the media root {settings.MEDIA_ROOT} is not a folder homesec can write to",
                hint="Thumbnails and clip copies go there: fix its owner or mode, or set HOMESEC_MEDIA_ROOT.",
                id="core.E102",
            )
        )
    backups = settings.BACKUP_DIR
    if backups is not None:
        existing = next(folder for folder in (backups, *backups.parents) if folder.exists())
        if not _writable_folder(existing):
            problems.append(
                Warning(
                    f"HOMESEC_BACKUP_DIR={backups}: {existing} is not a folder homesec can write to",
                    hint="Scheduled backups would fail: fix its owner or mode, or choose another folder.",
                    id="core.W103",
                )
            )
    return problems


@register()
def pg_dump_check(app_configs: Sequence[AppConfig] | None, **kwargs: Any) -> list[CheckMessage]:
    """Scheduled backups on PostgreSQL run pg_dump: better told at start than at 3 a.m."""
    if settings.BACKUP_DIR is None or settings.USING_SQLITE:
        return []
    found = Path(settings.PG_BIN, "pg_dump") if settings.PG_BIN else shutil.which("pg_dump")
    if found and os.access(found, os.X_OK):
        return []
    return [
        Warning(
            "HOMESEC_BACKUP_DIR is set but pg_dump is not found: scheduled backups of the PostgreSQL database fail",
            hint="Install the PostgreSQL client (postgresql-client-15, or the server's major version), "
            "or set HOMESEC_PG_BIN to the folder that holds pg_dump.",
            id="core.W104",
        )
    ]
