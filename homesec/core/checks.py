"""System checks for settings that need more than the settings module can do when it
loads: Django's password validators need the apps, and a missing model file is better told
once at start than by every detection failing. `manage.py run` runs these before anything
starts. No network calls here: a check must not hang the start."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from django.apps import AppConfig
from django.conf import settings
from django.core.checks import CheckMessage, Error, register
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
