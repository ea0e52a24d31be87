"""System checks: a channel declared in the environment that cannot work is named at
start (it stays disabled, the others work); a default level the severity table does not
know stops homesec at start with what is wrong."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from django.apps import AppConfig
from django.core.checks import CheckMessage, Error, Warning, register
from django.db import DatabaseError


@register()
def environment_channels_check(app_configs: Sequence[AppConfig] | None, **kwargs: Any) -> list[CheckMessage]:
    """A warning per bad channel variable, naming it: that channel stays disabled with the
    reason, and homesec starts with the others (one bad value must not silence them all)."""
    from alerts.setup import environment_channels

    return [
        Warning(f"{name}: {channel.problem}", hint="See HOMESEC_NOTIFY_* in .env.example.", id="alerts.W001")
        for name, channel in environment_channels().items()
        if channel.problem
    ]


@register(deploy=False)
def alert_min_level_check(
    app_configs: Sequence[AppConfig] | None, databases: Sequence[str] | None = None, **kwargs: Any
) -> list[CheckMessage]:
    from django.conf import settings

    from events.selectors import level_names

    if not databases:
        return []
    try:
        levels = level_names()
    except DatabaseError:  # not migrated yet
        return []
    if settings.ALERT_MIN_LEVEL not in levels:
        return [
            Error(
                f"HOMESEC_ALERT_MIN_LEVEL={settings.ALERT_MIN_LEVEL!r} is not a level of the severity table",
                hint=f"Use one of: {', '.join(levels)}.",
                id="alerts.E002",
            )
        ]
    return []
