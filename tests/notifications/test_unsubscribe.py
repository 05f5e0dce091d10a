"""The signed one-click unsubscribe link: works without logging in, only for that person and that kind."""

from __future__ import annotations

import pytest
from django.test import Client

from notifications import notify
from notifications.choices import Delivery, Kind
from notifications.delivery import send_digests
from notifications.models import Preference
from notifications.outbox import Recipient


@pytest.fixture
def people(admin, admin2):
    admin.email, admin2.email = "alice@example.org", "bob@example.org"
    admin.save()
    admin2.save()
    return admin, admin2


def unsubscribe_path(message) -> str:
    return message["List-Unsubscribe"].strip().strip("<>").removeprefix("https://qos.escape.example")


def test_unsubscribing_without_login_turns_off_that_kind_for_that_person_only(mailbox, committed, people):
    alice, bob = people
    committed(
        notify, Kind.CLASS_AWAITS_APPROVAL, "class:1", [alice, bob], subject="SAFE awaits", path="/qos/SAFE/"
    )
    path = unsubscribe_path(mailbox.to("alice@example.org")[0])
    anonymous = Client()
    confirm = anonymous.get(path)
    assert confirm.status_code == 200 and "alice@example.org" in confirm.text
    assert not Preference.objects.exists()  # a GET (a link checker) changes nothing
    done = anonymous.post(path)  # RFC 8058 one-click: no CSRF token, no session
    assert done.status_code == 200 and "no longer receives" in done.text
    assert Preference.objects.of_user(alice)[Kind.CLASS_AWAITS_APPROVAL] == Delivery.OFF
    assert Preference.objects.of_user(alice)[Kind.ACTION_ASSIGNED] == Delivery.IMMEDIATELY
    assert Preference.objects.of_user(bob)[Kind.CLASS_AWAITS_APPROVAL] == Delivery.IMMEDIATELY

    mailbox.messages.clear()
    mailbox.envelopes.clear()
    committed(
        notify, Kind.CLASS_AWAITS_APPROVAL, "class:2", [alice, bob], subject="FAST awaits", path="/qos/FAST/"
    )
    assert mailbox.recipients() == ["bob@example.org"]


def test_a_changed_token_is_refused_and_changes_nothing(mailbox, committed, people):
    alice, _ = people
    committed(
        notify, Kind.CLASS_AWAITS_APPROVAL, "class:1", [alice], subject="SAFE awaits", path="/qos/SAFE/"
    )
    path = unsubscribe_path(mailbox.messages[0])
    token = path.split("/")[-2]
    forged = path.replace(token, token[:-2] + ("AA" if not token.endswith("AA") else "BB"))
    assert Client().post(forged).status_code == 404
    assert not Preference.objects.exists()


def test_a_person_without_an_account_can_unsubscribe_too(db, mailbox, committed):
    paul = Recipient("paul@desy.example")
    committed(notify, Kind.ACTION_ASSIGNED, "action:1", [paul], subject="Action #1", path="/actions/1/")
    Client().post(unsubscribe_path(mailbox.messages[0]))
    mailbox.envelopes.clear()
    committed(notify, Kind.ACTION_ASSIGNED, "action:2", [paul], subject="Action #2", path="/actions/2/")
    assert mailbox.recipients() == []


def test_the_digest_link_turns_off_what_came_in_the_digest(mailbox, committed, people):
    alice, _ = people
    committed(notify, Kind.MINUTES_SAVED, "meeting:1", [alice], subject="Minutes", path="/meetings/1/")
    send_digests()
    Client().post(unsubscribe_path(mailbox.messages[0]))
    chosen = Preference.objects.of_user(alice)
    assert chosen[Kind.MINUTES_SAVED] == Delivery.OFF
    assert chosen[Kind.CLASS_AWAITS_APPROVAL] == Delivery.IMMEDIATELY  # not a digest kind: untouched
