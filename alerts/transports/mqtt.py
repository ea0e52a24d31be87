"""MQTT (paho-mqtt), friendly to Home Assistant.

A notification publishes to `<prefix>/events` (every alert, JSON) and
`<prefix>/<camera>/alert` (JSON), and the snapshot to `<prefix>/<camera>/snapshot`
(retained JPEG), over a short connection of its own.

The watcher's clock also holds one long-lived connection per MQTT channel (the
"presence"): its last will sets the retained `<prefix>/availability` to `offline` when
homesec goes away, it sets `online` on connect, publishes Home Assistant discovery for a
risk sensor per camera and keeps each sensor's retained state (`<prefix>/<camera>/risk`)
at the camera's latest assessed risk.
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time
import uuid
from datetime import datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote, urlsplit

import paho.mqtt.client as mqtt
from django.conf import settings
from paho.mqtt.reasoncodes import ReasonCode

from alerts.transports.base import Message, PermanentError, TransientError, short

if TYPE_CHECKING:  # the models import this package (Channel.Kind)
    from alerts.models import Channel

logger = logging.getLogger(__name__)

SECRET_HELP = "The broker password (the user name goes in the URL or in config)."
EXAMPLE = {"url": "mqtt://homeassistant.local:1883", "username": "homesec", "topic_prefix": "homesec"}
REFUSED_LOGIN = {4, 5, 134, 135}  # bad user name or password / not authorised (3.1.1 and 5 codes)


def validate(config: dict[str, Any], secret: str) -> list[str]:
    parts = urlsplit(str(config.get("url", "")))
    if parts.scheme not in ("mqtt", "mqtts") or not parts.hostname:
        return ['config needs "url": mqtt://host:1883 or mqtts://host:8883']
    if parts.password:
        return ["put the password in the secret field, not in the URL (the console shows the URL)"]
    return []


def _prefix(config: dict[str, Any]) -> str:
    return str(config.get("topic_prefix") or "homesec").strip("/")


def _client(config: dict[str, Any], secret: str, client_id: str) -> tuple[mqtt.Client, str, int]:
    parts = urlsplit(config["url"])
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=client_id)
    username = unquote(parts.username or "") or config.get("username", "")
    if username:
        client.username_pw_set(username, secret or unquote(parts.password or "") or None)
    if parts.scheme == "mqtts":
        client.tls_set()
    return client, parts.hostname, parts.port or (8883 if parts.scheme == "mqtts" else 1883)


def _refused(reason: ReasonCode) -> Exception:
    said = f"the broker refused the connection: {reason}"
    return PermanentError(said) if reason.value in REFUSED_LOGIN else TransientError(said)


def send(config: dict[str, Any], secret: str, message: Message) -> None:
    prefix = _prefix(config)
    client, host, port = _client(config, secret, f"homesec-{message.key}-{uuid.uuid4().hex[:8]}")
    answer: dict[str, ReasonCode] = {}
    connected = threading.Event()

    def on_connect(client: mqtt.Client, userdata: Any, flags: Any, reason: ReasonCode, properties: Any) -> None:
        answer["reason"] = reason
        connected.set()

    client.on_connect = on_connect
    deadline = time.monotonic() + settings.NOTIFY_TIMEOUT_S
    try:
        client.connect(host, port, keepalive=30)
    except OSError as exc:
        raise TransientError(f"could not reach the broker {host}:{port}: {short(exc, 200)}") from None
    client.loop_start()
    try:
        if not connected.wait(settings.NOTIFY_TIMEOUT_S):
            raise TransientError(f"no answer from the broker within {settings.NOTIFY_TIMEOUT_S:g} s")
        if answer["reason"].is_failure:
            raise _refused(answer["reason"])
        body = json.dumps(message.data, separators=(",", ":"), sort_keys=True)
        messages: list[tuple[str, str | bytes, bool]] = [(f"{prefix}/events", body, False)]
        if message.camera_id:
            messages.append((f"{prefix}/{message.camera_id}/alert", body, False))
            if message.image:
                messages.append((f"{prefix}/{message.camera_id}/snapshot", message.image, True))
        sent = [client.publish(topic, payload, qos=1, retain=retain) for topic, payload, retain in messages]
        for info in sent:
            try:
                info.wait_for_publish(max(0.1, deadline - time.monotonic()))
            except (RuntimeError, ValueError) as exc:
                raise TransientError(f"the broker connection dropped: {short(exc, 200)}") from None
            if not info.is_published():
                raise TransientError("the broker did not acknowledge the message in time")
    finally:
        client.disconnect()
        client.loop_stop()


# --- Presence: availability, discovery and risk state, held by the watcher -------------------


def discovery(config: dict[str, Any], camera_id: str, camera_name: str) -> tuple[str, dict]:
    """Home Assistant MQTT discovery for a camera's risk sensor: (config topic, payload)."""
    prefix = _prefix(config)
    base = str(config.get("discovery_prefix") or "homeassistant").strip("/")
    return f"{base}/sensor/homesec_{camera_id}/risk/config", {
        "name": "Risk",
        "unique_id": f"homesec_{camera_id}_risk",
        "object_id": f"homesec_{camera_id}_risk",
        "state_topic": f"{prefix}/{camera_id}/risk",
        "value_template": "{{ value_json.score }}",
        "json_attributes_topic": f"{prefix}/{camera_id}/risk",
        "availability_topic": f"{prefix}/availability",
        "payload_available": "online",
        "payload_not_available": "offline",
        "state_class": "measurement",
        "icon": "mdi:shield-home",
        "device": {
            "identifiers": [f"homesec_{camera_id}"],
            "name": camera_name,
            "manufacturer": "homesec",
            "model": "upload-folder camera",
        },
    }


class Presence:
    def __init__(self, channel: Channel) -> None:
        self.signature = (channel.config, channel.secrets)
        self.config = dict(channel.config)
        prefix = _prefix(self.config)
        self.availability = f"{prefix}/availability"
        client_id = f"homesec-presence-{channel.pk}-{os.getpid()}"
        self.client, host, port = _client(self.config, channel.secrets.get("secret", ""), client_id)
        self.client.will_set(self.availability, "offline", qos=1, retain=True)
        self.client.reconnect_delay_set(1, 30)
        self.client.on_connect = self._on_connect
        self.client.on_disconnect = self._on_disconnect
        self.connected = False
        self.announced: set[str] = set()  # cameras whose discovery went out on this connection
        self.risk_since: datetime | None = None
        self.client.connect_async(host, port, keepalive=30)
        self.client.loop_start()

    def _on_connect(self, client: mqtt.Client, userdata: Any, flags: Any, reason: ReasonCode, properties: Any) -> None:
        if reason.is_failure:
            logger.warning("MQTT presence: the broker refused the connection: %s", reason)
            return
        client.publish(self.availability, "online", qos=1, retain=True)
        self.announced, self.risk_since, self.connected = set(), None, True

    def _on_disconnect(
        self, client: mqtt.Client, userdata: Any, flags: Any, reason: ReasonCode, properties: Any
    ) -> None:
        self.connected = False

    def tick(self) -> None:
        """Runs in the watcher's thread, where the database is used."""
        if not self.connected:
            return
        from cameras.selectors import camera_names
        from events.selectors import camera_ids_assessed_since, event_latest_assessed

        for camera_id, name in camera_names().items():
            if camera_id not in self.announced:
                topic, payload = discovery(self.config, camera_id, name)
                self.client.publish(topic, json.dumps(payload), qos=1, retain=True)
                self.announced.add(camera_id)
        if self.risk_since is None:
            cameras = self.announced
        else:
            cameras = camera_ids_assessed_since(since=self.risk_since)
        for camera_id in sorted(cameras):
            event = event_latest_assessed(camera_id=camera_id)
            if event is None or event.assessed_at is None:
                continue
            state = {
                "score": event.risk_score,
                "level": event.risk_level,
                "event": event.pk,
                "summary": event.summary,
                "at": event.assessed_at.isoformat(),
            }
            self.client.publish(f"{_prefix(self.config)}/{camera_id}/risk", json.dumps(state), qos=1, retain=True)
            self.risk_since = max(self.risk_since or event.assessed_at, event.assessed_at)

    def stop(self) -> None:
        """A clean goodbye: the broker sends no will for a clean disconnect, so say it."""
        if self.connected:
            try:
                self.client.publish(self.availability, "offline", qos=1, retain=True).wait_for_publish(2)
            except (RuntimeError, ValueError):
                pass  # the connection dropped just now: the broker sends the will instead
        self.client.disconnect()
        self.client.loop_stop()


_presences: dict[int, Presence] = {}


def presence_tick() -> None:
    """A clock job: one presence per enabled MQTT channel, restarted when its settings change."""
    from alerts.models import Channel

    channels = {c.pk: c for c in Channel.objects.filter(kind=Channel.Kind.MQTT, enabled=True)}
    for pk in list(_presences):
        if pk not in channels or _presences[pk].signature != (channels[pk].config, channels[pk].secrets):
            _presences.pop(pk).stop()
    for pk, channel in channels.items():
        if pk not in _presences:
            if validate(channel.config, ""):
                continue
            _presences[pk] = Presence(channel)
        _presences[pk].tick()


def presence_stop() -> None:
    while _presences:
        _presences.popitem()[1].stop()
