"""Thin django-q2 tasks for alerts: ids in, one service call."""

from alerts import delivery, engine


def alerts_evaluate(event_id: int) -> int:
    """The assessment stage's hand-off (HOMESEC_ASSESS_NEXT_STAGE)."""
    return len(engine.alerts_evaluate(event_id=int(event_id)))


def notifications_send(notification_ids: list[int]) -> dict[str, int]:
    return delivery.notifications_send(notification_ids=list(notification_ids))


def notification_replay(payload: dict) -> dict[str, int]:
    return delivery.notification_replay(notification_ids=list(payload["notification_ids"]))
