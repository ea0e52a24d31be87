"""What a notification says: rendered from templates/alerts/, the same words on every
channel, with the event's link and snapshot. Snapshot links are signed, so a webhook
receiver or a phone can fetch the picture without a homesec login, and only that picture."""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.core import signing
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone

from alerts.models import Alert, Notification
from alerts.transports import Message
from detections.models import Detection
from detections.selectors import detection_key_frames

SNAPSHOT_SALT = "homesec.alerts.snapshot"
MAX_IMAGES = 4


def snapshot_token(detection_id: int) -> str:
    return signing.dumps(detection_id, salt=SNAPSHOT_SALT, compress=True)


def snapshot_detection_id(token: str) -> int | None:
    try:
        value = signing.loads(token, salt=SNAPSHOT_SALT, max_age=timedelta(days=settings.SNAPSHOT_LINK_DAYS))
    except signing.BadSignature:
        return None
    return value if isinstance(value, int) else None


ACTION_SALT = "homesec.alerts.action"


def action_token(alert_id: int) -> str:
    return signing.dumps(alert_id, salt=ACTION_SALT, compress=True)


class ActionLinkError(Exception):
    """An action link that is forged, damaged or too old: nothing may be done with it."""


def action_alert_id(token: str) -> int:
    """The alert an action link names; ActionLinkError says why it cannot be used."""
    try:
        value = signing.loads(token, salt=ACTION_SALT, max_age=timedelta(days=settings.ACTION_LINK_DAYS))
    except signing.SignatureExpired:
        raise ActionLinkError(
            f"This link has expired: links in notifications work for {settings.ACTION_LINK_DAYS:g} days."
        ) from None
    except signing.BadSignature:
        raise ActionLinkError("This link is not valid: it was not made by this homesec, or it was cut short.") from None
    if not isinstance(value, int):
        raise ActionLinkError("This link is not valid.")
    return value


def action_url(alert: Alert) -> str:
    """The signed link to the alert's page with its Acknowledge button (alerts/views.py)."""
    return _absolute(reverse("alerts:act", args=[action_token(alert.pk)]))


def _absolute(path: str) -> str:
    return settings.PUBLIC_URL + path


def alert_url(alert: Alert | None) -> str:
    """The event's page; for an alert without one (a camera offline, low disk) the alerts page."""
    if alert is not None and alert.event_id:
        return _absolute(reverse("events:detail", args=[alert.event_id]))
    if alert is not None:
        return _absolute(reverse("alerts:list"))
    return _absolute("/")


def _snapshots(alert: Alert | None) -> list[Detection]:
    """The event's key frames, the most confident first, one per picture."""
    if alert is None or not alert.event_id:
        return []
    return detection_key_frames(event_id=alert.event_id, limit=MAX_IMAGES)


def _read(path: str) -> bytes | None:
    try:
        return (settings.MEDIA_ROOT / path).read_bytes()
    except OSError:
        return None


def _event_data(alert: Alert, url: str) -> dict | None:
    event = alert.event
    if event is None:
        return None
    return {
        "id": event.pk,
        "url": url,
        "status": event.status,
        "risk_score": event.risk_score,
        "risk_level": event.risk_level,
        "summary": event.summary,
        "reasoning": event.reasoning,
        "recommended_action": event.recommended_action,
        "analyzer": event.analyzer,
        "assessment_state": event.assessment_state,
        "started_at": event.started_at.isoformat(),
        "ended_at": event.ended_at.isoformat() if event.ended_at else None,
        "classes": event.classes,
        "zones": event.zones,
        "detection_count": event.detection_count,
    }


def message_for(notification: Notification) -> Message:
    alert, channel = notification.alert, notification.channel
    camera = alert.camera if alert else None
    url = alert_url(alert)
    frames = _snapshots(alert)
    image_urls = [_absolute(reverse("alerts:snapshot", args=[snapshot_token(d.pk)])) for d in frames]
    local = timezone.localtime(alert.created_at if alert else timezone.now(), camera.zoneinfo if camera else None)
    acknowledge = action_url(alert) if alert is not None and not notification.test else ""
    context = {
        "alert": alert,
        "event": alert.event if alert else None,
        "camera": camera,
        "channel": channel,
        "notification": notification,
        "url": url,
        "local": local,
        "reminder": notification.round,
        "acknowledge_url": acknowledge,
    }
    subject = " ".join(render_to_string("alerts/subject.txt", context).split())
    kind = "test" if notification.test or alert is None else alert.kind
    data = {
        "idempotency_key": str(notification.pk),
        "notification": notification.pk,
        "kind": kind,
        "title": subject,
        "url": url,
        "images": image_urls,
        "sent_at": timezone.now().isoformat(),
        "camera": {"id": camera.pk, "name": camera.name} if camera else None,
        "alert": None,
        "event": None,
        # Links that act on the alert after signing in (a test carries none).
        "actions": {"acknowledge": acknowledge} if acknowledge else {},
    }
    if alert is not None:
        data["alert"] = {
            "id": alert.pk,
            "kind": alert.kind,
            "severity": alert.severity,
            "level": alert.level,
            "risk_score": alert.risk_score,
            "title": alert.title,
            "rule": alert.rule_name,
            "dedup_key": alert.dedup_key,
            "matched": alert.matched,
            "escalation": alert.escalation,
            "reminder": notification.round,
            "created_at": alert.created_at.isoformat(),
        }
        data["event"] = _event_data(alert, url)
    return Message(
        key=str(notification.pk),
        kind=kind,
        severity=alert.severity if alert else "low",
        subject=subject,
        text=render_to_string("alerts/message.txt", context).strip() + "\n",
        html=render_to_string("alerts/message.html", context),
        url=url,
        data=data,
        camera_id=camera.pk if camera else "",
        camera_name=camera.name if camera else "",
        risk_score=alert.risk_score if alert else None,
        image=_read(frames[0].thumbnail) if frames else None,
        image_urls=image_urls,
        action_url=acknowledge,
    )
