"""Email through Django's SMTP backend: text and HTML, the event's snapshot attached.

The Message-ID is made from the notification id, so a mail client shows a repeat sent
after a crash as the same message."""

from __future__ import annotations

import smtplib
from typing import Any

from django.conf import settings
from django.core.mail import EmailMultiAlternatives, get_connection
from django.core.mail.backends.base import BaseEmailBackend

from alerts.transports.base import Message, PermanentError, TransientError, short

SECRET_HELP = "The SMTP password, when this channel names its own SMTP server; empty: HOMESEC_SMTP_PASSWORD."
EXAMPLE = {"to": ["me@example.org"], "host": "", "port": 587, "username": "", "starttls": True}


def validate(config: dict[str, Any], secret: str) -> list[str]:
    to = config.get("to", [])
    if isinstance(to, str):
        to = [to]
    if not to:
        return ['config needs "to": a list of addresses (a member\'s channel: their profile email)']
    if any("@" not in str(address) for address in to):
        return ['every address in "to" needs an @']
    return []


def _connection(config: dict[str, Any], secret: str) -> BaseEmailBackend:
    own = bool(config.get("host"))  # a channel with its own server carries its own login
    return get_connection(
        "django.core.mail.backends.smtp.EmailBackend",
        host=config.get("host") or settings.EMAIL_HOST,
        port=int(config.get("port") or settings.EMAIL_PORT),
        username=config.get("username", "") if own else settings.EMAIL_HOST_USER,
        password=secret if own else settings.EMAIL_HOST_PASSWORD,
        use_tls=bool(config.get("starttls", False)) if own else settings.EMAIL_USE_TLS,
        use_ssl=bool(config.get("ssl", False)) if own else settings.EMAIL_USE_SSL,
        timeout=settings.NOTIFY_TIMEOUT_S,
        fail_silently=False,
    )


def _text(said: bytes | str) -> str:
    return said.decode(errors="replace") if isinstance(said, bytes) else said


def send(config: dict[str, Any], secret: str, message: Message) -> None:
    to = config.get("to", [])
    to = [to] if isinstance(to, str) else list(to)
    if not to:
        raise PermanentError("no address to send to")
    domain = settings.DEFAULT_FROM_EMAIL.rpartition("@")[2] or "homesec"
    email = EmailMultiAlternatives(
        subject=message.subject,
        body=message.text,
        from_email=config.get("from") or settings.DEFAULT_FROM_EMAIL,
        to=to,
        headers={
            "Message-ID": f"<homesec-notification-{message.key}@{domain}>",
            "X-Homesec-Idempotency-Key": message.key,
        },
        connection=_connection(config, secret),
    )
    email.attach_alternative(message.html, "text/html")
    if message.image:
        email.attach("snapshot.jpg", message.image, "image/jpeg")
    try:
        email.send()
    except smtplib.SMTPRecipientsRefused as exc:
        codes = [code for code, _ in exc.recipients.values()]
        error = "recipients refused: " + ", ".join(f"{a} ({c})" for a, (c, _) in exc.recipients.items())
        if all(code >= 500 for code in codes):
            raise PermanentError(error, status_code=codes[0]) from None
        raise TransientError(error, status_code=codes[0]) from None
    except smtplib.SMTPAuthenticationError as exc:
        raise PermanentError(
            f"the SMTP server refused the login ({exc.smtp_code})", status_code=exc.smtp_code
        ) from None
    except smtplib.SMTPResponseException as exc:
        said = f"SMTP {exc.smtp_code}: {short(_text(exc.smtp_error), 200)}"
        if exc.smtp_code >= 500:
            raise PermanentError(said, status_code=exc.smtp_code) from None
        raise TransientError(said, status_code=exc.smtp_code) from None
    except (TimeoutError, smtplib.SMTPException, OSError) as exc:
        raise TransientError(f"could not reach the SMTP server: {exc.__class__.__name__}: {short(exc, 200)}") from None
