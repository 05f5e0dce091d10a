"""The outbox: one notification per event and recipient, sent after commit by mail (plain text and HTML) to a
real SMTP server, delayed while it is down and never lost or sent twice, a refusal recorded and not retried."""

from __future__ import annotations

import re

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.test import Client
from django.utils import timezone

from notifications import notify
from notifications.choices import Channel, Delivery, Kind, Status
from notifications.delivery import send_digests, send_due
from notifications.models import Notification, Preference
from notifications.outbox import Recipient


@pytest.fixture
def alice(admin):
    admin.email = "alice@example.org"
    admin.save()
    return admin


@pytest.fixture
def bob(admin2):
    admin2.email = "bob@example.org"
    admin2.save()
    return admin2


def tell(kind=Kind.CLASS_AWAITS_APPROVAL, key="class:1:revision:2", recipients=(), **extra):
    return notify(
        kind,
        key,
        recipients,
        subject=extra.pop("subject", "SAFE awaits your approval"),
        path="/qos/SAFE/",
        **extra,
    )


def test_it_mails_each_recipient_once_with_text_html_and_a_link_from_portal_url(
    mailbox, committed, alice, bob
):
    committed(tell, recipients=[alice, bob, alice])
    committed(tell, recipients=[alice, bob])  # the same event again: nothing more
    assert Notification.objects.count() == 2
    assert mailbox.recipients() == ["alice@example.org", "bob@example.org"]
    message = mailbox.to("alice@example.org")[0]
    assert message["Subject"] == "SAFE awaits your approval"
    assert "https://qos.escape.example/qos/SAFE/" in mailbox.text_of(message)
    assert 'href="https://qos.escape.example/qos/SAFE/"' in mailbox.html_of(message)
    assert re.fullmatch(
        r"<https://qos\.escape\.example/notifications/unsubscribe/[^/>]+/>",
        message["List-Unsubscribe"].strip(),
    )
    assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert set(Notification.objects.values_list("status", flat=True)) == {Status.SENT}


def test_it_never_tells_the_person_who_acted(mailbox, committed, alice, bob):
    committed(tell, recipients=[alice, bob], actor=alice)
    assert mailbox.recipients() == ["bob@example.org"]


def test_a_person_without_an_account_is_mailed_at_their_address(db, mailbox, committed):
    committed(
        tell, Kind.ACTION_ASSIGNED, "action:7:owners", [Recipient("paul@desy.example")], subject="Action #7"
    )
    assert mailbox.recipients() == ["paul@desy.example"]


def test_nothing_is_written_if_the_change_rolls_back(mailbox, committed, alice):
    from django.db import transaction

    def change_that_fails():
        with transaction.atomic():
            tell(recipients=[alice])
            raise RuntimeError("the change failed")

    with pytest.raises(RuntimeError):
        committed(change_that_fails)
    assert Notification.objects.count() == 0
    assert mailbox.messages == []


def test_the_digest_sends_one_mail_for_several_events(mailbox, committed, alice):
    for number in range(3):
        committed(
            tell,
            Kind.MINUTES_SAVED,
            f"meeting:{number}:minutes",
            [alice],
            subject=f"Minutes of meeting {number}",
        )
    assert mailbox.messages == []  # minutes come in the digest by default
    assert send_digests().sent == 3
    assert len(mailbox.messages) == 1
    text = mailbox.text_of(mailbox.messages[0])
    assert all(f"Minutes of meeting {number}" in text for number in range(3))
    assert send_digests().sent == 0  # sent once


def test_a_kind_turned_off_is_not_written(mailbox, committed, alice, bob):
    Preference.objects.choose(kind=Kind.CLASS_AWAITS_APPROVAL, delivery=Delivery.OFF, user=alice)
    committed(tell, recipients=[alice, bob])
    assert mailbox.recipients() == ["bob@example.org"]


def test_mail_server_down_delays_the_mail_which_arrives_once_when_it_is_back(mailbox, committed, alice):
    mailbox.stop()
    committed(tell, recipients=[alice])
    waiting = Notification.objects.get()
    assert waiting.status == Status.PENDING and waiting.attempts == 1
    assert waiting.next_attempt_at > timezone.now() and "unavailable" in waiting.last_error
    assert send_due().sent == 0  # still waiting out its wait
    mailbox.start()
    call_command("send_notifications")  # the operator does not wait
    call_command("send_notifications")
    assert mailbox.recipients() == ["alice@example.org"]
    assert Notification.objects.get().status == Status.SENT


def test_the_command_says_when_mail_must_wait(mailbox, committed, alice):
    mailbox.stop()
    tell(recipients=[alice])
    with pytest.raises(CommandError, match="wait"):
        call_command("send_notifications")
    assert Notification.objects.get().status == Status.PENDING


def test_a_refused_address_is_recorded_and_not_retried(mailbox, committed, alice, bob):
    mailbox.refuse.add("alice@example.org")
    committed(tell, recipients=[alice, bob])
    refused = Notification.objects.get(address="alice@example.org")
    assert refused.status == Status.FAILED and "550" in refused.last_error
    assert refused.next_attempt_at is None
    assert send_due(waited_or_not=True).sent == 0
    assert mailbox.recipients() == ["bob@example.org"]


def test_admins_see_failed_notifications_in_the_admin(mailbox, committed, alice, django_user_model):
    mailbox.refuse.add("alice@example.org")
    committed(tell, recipients=[alice])
    superuser = django_user_model.objects.create_superuser("root", "root@example.org", "root-pw")
    client = Client()
    client.force_login(superuser)
    page = client.get("/admin/notifications/notification/?status__exact=failed")
    assert page.status_code == 200
    assert "alice@example.org" in page.text and "550" in page.text


def test_group_wide_events_go_to_the_chat_webhook_as_text(mailbox, chat, committed, alice):
    committed(tell, recipients=[alice], chat=True)
    assert chat.posts == [{"text": "SAFE awaits your approval\nhttps://qos.escape.example/qos/SAFE/"}]
    assert Notification.objects.get(channel=Channel.CHAT).status == Status.SENT


def test_a_webhook_that_fails_delays_the_chat_message(mailbox, chat, committed, alice):
    chat.status = 503
    committed(tell, recipients=[alice], chat=True)
    waiting = Notification.objects.get(channel=Channel.CHAT)
    assert waiting.status == Status.PENDING and "503" in waiting.last_error
    assert chat.url not in waiting.last_error  # the webhook's address is a secret
    chat.status = 200
    send_due(waited_or_not=True)
    assert len(chat.posts) == 1


def test_without_a_webhook_no_chat_message_is_written(mailbox, no_chat, committed, alice):
    committed(tell, recipients=[alice], chat=True)
    assert not Notification.objects.filter(channel=Channel.CHAT).exists()
