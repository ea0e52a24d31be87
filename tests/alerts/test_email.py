"""The email transport through Django's SMTP backend to a real SMTP server (aiosmtpd)."""

import pytest

from alerts.delivery import notification_send
from alerts.models import Channel, MemberProfile
from tests.alerts.factory import FRIDAY_NOON

pytestmark = pytest.mark.django_db


def test_the_email_has_text_html_and_the_snapshot_attached(smtp, notify, snapshot):
    channel = Channel.objects.create(name="mail", kind="email", config={"to": ["me@example.org"]})
    notification = notify(channel)
    assert notification_send(notification_id=notification.pk, now=FRIDAY_NOON) == "delivered"
    [message] = smtp.messages
    assert message["To"] == "me@example.org" and message["From"] == "homesec@example.org"
    assert message["Subject"].startswith("[homesec] HIGH risk 72 on Front Door")
    assert message["Message-ID"] == f"<homesec-notification-{notification.pk}@example.org>"
    text = message.get_body(("plain",)).get_content()
    html = message.get_body(("html",)).get_content()
    event_url = f"https://homesec.example.org/events/{notification.alert.event_id}/"
    for body in (text, html):
        assert "Front Door" in body and "72" in body and "A person seen by front_door." in body and event_url in body
    [attachment] = list(message.iter_attachments())
    assert attachment.get_filename() == "snapshot.jpg" and attachment.get_content_type() == "image/jpeg"
    assert attachment.get_content() == snapshot[1]


def test_a_members_email_channel_goes_to_the_member(smtp, notify, member):
    MemberProfile.objects.filter(user=member).update(email="member@phone.example")  # not the account's address
    notification = notify(Channel.objects.create(name="member", kind="email", owner=member))
    assert notification_send(notification_id=notification.pk, now=FRIDAY_NOON) == "delivered"
    assert smtp.messages[0]["To"] == "member@phone.example"


def test_a_refused_recipient_is_permanent(smtp, notify):
    smtp.refuse = "550 5.1.1 no such mailbox"
    channel = Channel.objects.create(name="mail", kind="email", config={"to": ["nobody@example.org"]})
    notification = notify(channel)
    assert notification_send(notification_id=notification.pk, now=FRIDAY_NOON) == "failed"
    channel.refresh_from_db()
    assert not channel.enabled and "recipients refused: nobody@example.org (550)" in channel.disabled_reason


def test_an_smtp_server_that_is_down_is_retried(settings, notify):
    from tests.support.processes import free_port

    settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", free_port()
    notification = notify(Channel.objects.create(name="mail", kind="email", config={"to": ["me@example.org"]}))
    assert notification_send(notification_id=notification.pk, now=FRIDAY_NOON) == "retry"
    assert "could not reach the SMTP server" in type(notification).objects.get().error
