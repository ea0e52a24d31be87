"""System checks: a channel declared in the environment that cannot work, or a default
level the severity table does not know, stops homesec at start with what is wrong."""

from __future__ import annotations

from django.core.checks import Error, register
from django.db import DatabaseError


@register()
def environment_channels_check(app_configs, **kwargs):
    from alerts.setup import environment_channels
    from alerts.transports import get_transport

    errors = []
    for name, (kind, config, secret) in environment_channels().items():
        for problem in get_transport(kind).validate(config, secret):
            errors.append(Error(f"{name}: {problem}", hint="See HOMESEC_NOTIFY_* in .env.example.", id="alerts.E001"))
    return errors


@register(deploy=False)
def alert_min_level_check(app_configs, databases=None, **kwargs):
    from django.conf import settings

    from events.assessment import level_names

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
