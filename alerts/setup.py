"""First run: the channels declared in the environment (HOMESEC_NOTIFY_*) and the default
rule. The watcher runs `alerts_setup` when it starts (and so does `manage.py run`)."""

from __future__ import annotations

import logging
from urllib.parse import unquote, urlsplit, urlunsplit

from django.conf import settings

from alerts.models import AlertRule, Channel
from alerts.services import household_get
from events.assessment import level_names

logger = logging.getLogger(__name__)


def environment_channels() -> dict[str, tuple[str, dict, str]]:
    """Channels declared by HOMESEC_NOTIFY_*: name -> (kind, config, secret)."""
    declared = {}
    if settings.NOTIFY_WEBHOOK_URL:
        declared["webhook (environment)"] = (
            "webhook",
            {"url": settings.NOTIFY_WEBHOOK_URL},
            settings.NOTIFY_WEBHOOK_SECRET,
        )
    if settings.NOTIFY_EMAIL_TO:
        declared["email (environment)"] = ("email", {"to": list(settings.NOTIFY_EMAIL_TO)}, "")
    if settings.NOTIFY_MQTT_URL:
        parts = urlsplit(settings.NOTIFY_MQTT_URL)
        netloc = parts.hostname + (f":{parts.port}" if parts.port else "") if parts.hostname else parts.netloc
        config = {"url": urlunsplit((parts.scheme, netloc, "", "", ""))}  # no password in what the console shows
        if parts.username:
            config["username"] = unquote(parts.username)
        declared["mqtt (environment)"] = ("mqtt", config, unquote(parts.password or ""))
    if settings.NOTIFY_NTFY_URL:
        server, _, topic = settings.NOTIFY_NTFY_URL.rstrip("/").rpartition("/")
        declared["ntfy (environment)"] = ("ntfy", {"server": server, "topic": topic}, settings.NOTIFY_NTFY_TOKEN)
    return declared


def channels_sync_from_environment() -> list[Channel]:
    declared = environment_channels()
    synced = []
    for name, (kind, config, secret) in declared.items():
        channel = Channel.objects.filter(name=name).first()
        secrets = {"secret": secret} if secret else {}
        if channel is None:
            channel = Channel.objects.create(
                name=name, kind=kind, config=config, secrets=secrets, from_environment=True
            )
        elif (channel.kind, channel.config, channel.secrets) != (kind, config, secrets) or not channel.from_environment:
            # Changed settings are a fix: the channel is enabled again.
            Channel.objects.filter(pk=channel.pk).update(
                kind=kind, config=config, secrets=secrets, from_environment=True, enabled=True, disabled_reason=""
            )
        synced.append(channel)
    Channel.objects.filter(from_environment=True, enabled=True).exclude(name__in=declared).update(
        enabled=False, disabled_reason="no longer declared in the environment"
    )
    return synced


def default_rule_name() -> str:
    return f"Default: {settings.ALERT_MIN_LEVEL} and above, every channel"


def default_rule_ensure() -> AlertRule | None:
    """Until the operator changes it (then it is theirs) or deletes it (then it stays gone),
    the default rule follows HOMESEC_ALERT_MIN_LEVEL."""
    levels = level_names()
    if settings.ALERT_MIN_LEVEL not in levels:
        # A rule on an unknown level would never match: say so loudly, change nothing.
        logger.error(
            "HOMESEC_ALERT_MIN_LEVEL=%r is not a level of the severity table (%s): the default rule is not changed",
            settings.ALERT_MIN_LEVEL,
            ", ".join(levels),
        )
        return AlertRule.objects.filter(is_default=True).first()
    rule = AlertRule.objects.filter(is_default=True).first()
    if rule is None:
        if household_get().default_rule_removed:
            return None
        return AlertRule.objects.create(
            name=default_rule_name(),
            min_level=settings.ALERT_MIN_LEVEL,
            all_channels=True,
            is_default=True,
            managed=True,
        )
    if rule.managed and (rule.min_level, rule.name) != (settings.ALERT_MIN_LEVEL, default_rule_name()):
        AlertRule.objects.filter(pk=rule.pk).update(min_level=settings.ALERT_MIN_LEVEL, name=default_rule_name())
        rule.refresh_from_db()
    return rule


def alerts_setup() -> None:
    """Run when the watcher starts (and so by `manage.py run`)."""
    channels_sync_from_environment()
    default_rule_ensure()
