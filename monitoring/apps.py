from typing import Any

from django.apps import AppConfig


class MonitoringConfig(AppConfig):
    name = "monitoring"

    def ready(self) -> None:
        from homesec.core.deadletters import dead_letter_recorded

        dead_letter_recorded.connect(_count_dead_letter, dispatch_uid="monitoring.dead_letters")


def _count_dead_letter(sender: Any, *, key: str, **kwargs: Any) -> None:
    """Dead letters by stage (the key's prefix: ingest, detect, transcode, notification),
    counted in the transaction that records the letter."""
    from monitoring.metrics import metric_inc

    metric_inc("homesec_dead_letters_total", {"stage": key.split(":", 1)[0]})
