"""First run: the channels declared in the environment (HOMESEC_NOTIFY_*) and the default
rule. The watcher runs `alerts_setup` when it starts (and so does `manage.py run`)."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

from alerts.models import AlertRule, Channel
from alerts.services import household_get_or_create
from alerts.transports import get_transport
from events.selectors import level_names
from homesec.env import url_parts

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Declared:
    """A channel declared by a HOMESEC_NOTIFY_* variable; `problem` names the variable and
    says what is wrong, and a channel with a problem is kept disabled with it as the reason."""

    kind: str
    config: dict
    secret: str = ""
    problem: str = ""


def _mqtt(url: str) -> Declared:
    try:
        parts = url_parts("HOMESEC_NOTIFY_MQTT_URL", url)
    except ImproperlyConfigured as exc:
        return Declared("mqtt", {}, problem=str(exc))
    netloc = parts.host + (f":{parts.port}" if parts.port else "")
    config = {"url": f"{parts.scheme}://{netloc}"}  # no password in what the console shows
    if parts.username:
        config["username"] = parts.username
    return Declared("mqtt", config, parts.password)


def _ntfy(url: str, token: str) -> Declared:
    server, _, topic = url.rstrip("/").rpartition("/")
    if not server.startswith(("http://", "https://")) or not server.split("://", 1)[1] or not topic:
        problem = f"HOMESEC_NOTIFY_NTFY_URL={url!r} names no topic: give the server and the topic, e.g. https://ntfy.sh/homesec-6f2a"
        return Declared("ntfy", {}, problem=problem)
    return Declared("ntfy", {"server": server, "topic": topic}, token)


def environment_channels() -> dict[str, Declared]:
    """Channels declared by HOMESEC_NOTIFY_*, each checked on its own."""
    declared = {}
    if settings.NOTIFY_WEBHOOK_URL:
        declared["webhook (environment)"] = Declared(
            "webhook", {"url": settings.NOTIFY_WEBHOOK_URL}, settings.NOTIFY_WEBHOOK_SECRET
        )
    if settings.NOTIFY_EMAIL_TO:
        declared["email (environment)"] = Declared("email", {"to": list(settings.NOTIFY_EMAIL_TO)})
    if settings.NOTIFY_MQTT_URL:
        declared["mqtt (environment)"] = _mqtt(settings.NOTIFY_MQTT_URL)
    if settings.NOTIFY_NTFY_URL:
        declared["ntfy (environment)"] = _ntfy(settings.NOTIFY_NTFY_URL, settings.NOTIFY_NTFY_TOKEN)
    for name, channel in declared.items():
        if not channel.problem:
            problems = get_transport(channel.kind).validate(channel.config, channel.secret)
            if problems:
                variable = VARIABLES[channel.kind]
                declared[name] = Declared(channel.kind, channel.config, problem=f"{variable}: {'; '.join(problems)}")
    return declared


VARIABLES = {
    "webhook": "HOMESEC_NOTIFY_WEBHOOK_URL",
    "email": "HOMESEC_NOTIFY_EMAIL_TO",
    "mqtt": "HOMESEC_NOTIFY_MQTT_URL",
    "ntfy": "HOMESEC_NOTIFY_NTFY_URL",
}


def channels_sync_from_environment() -> list[Channel]:
    """One bad variable disables its own channel, with the reason, and nothing else."""
    declared = environment_channels()
    synced = []
    for name, wanted in declared.items():
        channel = Channel.objects.filter(name=name).first()
        secrets = {"secret": wanted.secret} if wanted.secret else {}
        if wanted.problem:
            logger.error("channel %r is not used: %s", name, wanted.problem)
            fields = {"kind": wanted.kind, "config": wanted.config, "secrets": {}, "enabled": False}
            fields["disabled_reason"] = wanted.problem[:500]
        elif channel is None or (channel.kind, channel.config, channel.secrets) != (
            wanted.kind,
            wanted.config,
            secrets,
        ):
            # New, or changed settings: a fix, so the channel is enabled again.
            fields = {"kind": wanted.kind, "config": wanted.config, "secrets": secrets, "enabled": True}
            fields["disabled_reason"] = ""
        else:
            fields = {}  # unchanged: a channel disabled by a permanent error stays disabled
        if channel is None:
            channel = Channel.objects.create(name=name, from_environment=True, **fields)
        elif fields or not channel.from_environment:
            Channel.objects.filter(pk=channel.pk).update(from_environment=True, **fields)
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
        if household_get_or_create().default_rule_removed:
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
