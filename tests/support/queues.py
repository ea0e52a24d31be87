"""What waits on each task queue (django-q2 cluster), read from the real broker: Redis under
`make test`, the database (ORM broker) otherwise."""

from __future__ import annotations

from django.conf import settings

LANES = ("homesec", "alerts", "slow")


def _broker(lane: str):
    from django_q.brokers import get_broker

    return get_broker(lane)


def _payloads(lane: str) -> list:
    broker = _broker(lane)
    if settings.REDIS_URL:
        return broker.connection.lrange(broker.list_key, 0, -1)
    from django_q.models import OrmQ

    return list(OrmQ.objects.filter(key=broker.list_key).order_by("id").values_list("payload", flat=True))


def queued(lane: str) -> list[tuple[str, tuple]]:
    """(dotted task name, args) of every task waiting on `lane`, oldest first."""
    from django_q.signing import SignedPackage

    return [(task["func"], tuple(task["args"])) for task in map(SignedPackage.loads, _payloads(lane))]


def purge() -> None:
    for lane in LANES:
        broker = _broker(lane)
        if settings.REDIS_URL:
            broker.connection.delete(broker.list_key)
        else:
            from django_q.models import OrmQ

            OrmQ.objects.filter(key=broker.list_key).delete()
