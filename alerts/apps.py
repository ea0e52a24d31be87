from typing import Any

from django.apps import AppConfig


class AlertsConfig(AppConfig):
    name = "alerts"

    def ready(self) -> None:
        from django.db.models.signals import post_init

        from alerts import checks  # noqa: F401 - registers the system checks
        from alerts.models import Channel

        post_init.connect(_channel_secrets_unlogged, sender=Channel, dispatch_uid="alerts.channel_secrets_unlogged")


def _channel_secrets_unlogged(sender: type, instance: Any, **kwargs: Any) -> None:
    """A channel's secrets, once loaded in a process, are taken out of its log lines (a
    receiver's error may echo the token it was sent). Not loaded just for this: a row read
    without its secrets has none to hide."""
    from homesec.core.logging import secret_learn

    secret_learn(*(instance.__dict__.get("secrets") or {}).values())
