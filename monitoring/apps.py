from typing import Any

from django.apps import AppConfig


class MonitoringConfig(AppConfig):
    name = "monitoring"

    def ready(self) -> None:
        from django.contrib.auth.signals import user_logged_in, user_logged_out, user_login_failed

        from homesec.core.audit import audited
        from monitoring.audit import audit_received, audit_sign_in_failed, audit_signed_in, audit_signed_out

        audited.connect(audit_received, dispatch_uid="monitoring.audit")
        # The audit log's sign-ins: the login page, the console (it signs in through the
        # login page) and the API's token sign-in all go through Django's authentication.
        user_logged_in.connect(audit_signed_in, dispatch_uid="monitoring.audit.sign_in")
        user_logged_out.connect(audit_signed_out, dispatch_uid="monitoring.audit.sign_out")
        user_login_failed.connect(audit_sign_in_failed, dispatch_uid="monitoring.audit.sign_in_failed")

        from homesec.core.deadletters import dead_letter_recorded

        dead_letter_recorded.connect(_count_dead_letter, dispatch_uid="monitoring.dead_letters")


def _count_dead_letter(sender: Any, *, key: str, **kwargs: Any) -> None:
    """Dead letters by stage (the key's prefix: ingest, detect, transcode, notification),
    counted in the transaction that records the letter."""
    from monitoring.metrics import metric_inc

    metric_inc("homesec_dead_letters_total", {"stage": key.split(":", 1)[0]})
