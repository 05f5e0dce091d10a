"""Each event of the catalogue, the requirements and the meetings reaches exactly the right people, with a
working link, through a real SMTP server; never the person who acted, and never a proposer asked to approve
their own proposal."""

from __future__ import annotations

import datetime

import pytest
from django.test import Client
from django.utils import timezone

from engagement.models import Requirement
from meetings.models import ActionReview, Person
from notifications.choices import Channel, Status
from notifications.delivery import send_digests
from notifications.models import Notification
from tests.engagement.conftest import ARCHIVE_NEEDS
from tests.meetings.meeting_factories import make_meeting, make_series, person_for

PORTAL = "https://qos.escape.example"


@pytest.fixture
def addresses(admin, admin2, coordinator, liaison_cta, member):
    """Every persona has a mail address: alice and bob are QoS admins, dave liaison of CTA."""
    for user in (admin, admin2, coordinator, liaison_cta, member):
        user.email = f"{user.username}@example.org"
        user.save()
    return {user.username: user.email for user in (admin, admin2, coordinator, liaison_cta, member)}


def link_in(mailbox, message) -> str:
    return next(line for line in mailbox.text_of(message).splitlines() if line.startswith(PORTAL + "/"))


def opens_for(user, link: str) -> bool:
    client = Client()
    client.force_login(user)
    return client.get(link.removeprefix(PORTAL)).status_code == 200


def test_a_proposal_asks_every_other_qos_admin_and_never_its_author(
    mailbox, chat, committed, addresses, draft_class, admin, admin2
):
    committed(draft_class.propose, by=admin)
    assert mailbox.recipients() == ["bob-admin@example.org"]
    message = mailbox.messages[0]
    assert "SAFE awaits your approval" in message["Subject"]
    assert opens_for(admin2, link_in(mailbox, message))
    assert chat.posts == [{"text": f"[QoS portal] SAFE awaits your approval\n{PORTAL}/qos/SAFE/"}]


def test_a_change_proposed_by_the_second_admin_goes_to_the_first_only(
    mailbox, no_chat, committed, addresses, approved_class, admin, admin2
):
    Notification.objects.all().delete()  # those of the set-up, never committed
    committed(approved_class.edit, by=admin2, changes={"title": "Safer"}, base_revision=None)
    assert mailbox.recipients() == ["alice-admin@example.org"]


def test_approval_tells_the_author_and_rejection_tells_them_why(
    mailbox, no_chat, committed, addresses, proposed_class, admin, admin2
):
    Notification.objects.all().delete()  # those of the set-up, never committed
    committed(proposed_class.approve, by=admin2)
    committed(proposed_class.edit, by=admin, changes={"title": "Safer"}, base_revision=None)
    committed(proposed_class.reject, by=admin2, reason="Too vague for the sites")
    decided = Notification.objects.filter(kind="class_decided")
    assert sorted(decided.values_list("address", flat=True)) == ["alice-admin@example.org"] * 2
    assert send_digests().sent == 2  # approvals and rejections come in the day's digest by default
    digest = mailbox.to("alice-admin@example.org")[-1]
    text = mailbox.text_of(digest)
    assert "the proposal was approved" in text and "the proposal was rejected" in text
    assert "Reason: Too vague for the sites" in text
    assert (
        "bob-admin@example.org"
        not in [address for address in mailbox.recipients() if "alice" not in address][1:]
    )


def test_deprecation_tells_admins_and_the_liaisons_whose_requirements_link_the_class(
    mailbox, no_chat, committed, addresses, approved_class, admin, admin2, liaison_cta, member, experiments
):
    requirement = Requirement.objects.file(by=liaison_cta, experiment=experiments["CTA"], **ARCHIVE_NEEDS)
    requirement.link_class(approved_class, by=admin)
    Notification.objects.all().delete()
    committed(approved_class.deprecate, by=admin2, reason="Replaced by SAFE-2")
    told = sorted(Notification.objects.filter(kind="class_withdrawn").values_list("address", flat=True))
    assert told == ["alice-admin@example.org", "dave-cta@example.org"]


def test_requirement_events_reach_liaisons_and_admins_but_not_who_acted(
    mailbox, no_chat, committed, addresses, admin, admin2, liaison_cta, experiments
):
    requirement = committed(
        Requirement.objects.file, by=liaison_cta, experiment=experiments["CTA"], **ARCHIVE_NEEDS
    )
    # Filed: the admins are asked to review it, at once.
    assert mailbox.recipients() == ["alice-admin@example.org", "bob-admin@example.org"]
    assert opens_for(admin, link_in(mailbox, mailbox.messages[0]))
    committed(requirement.take, "accept", by=admin)
    committed(requirement.add_comment, by=admin2, text="We will put it on two tape sites.")
    accepted = Notification.objects.filter(kind="requirement_changed")
    assert sorted(accepted.values_list("address", flat=True)) == [
        "bob-admin@example.org",
        "dave-cta@example.org",
    ]
    commented = Notification.objects.filter(kind="requirement_commented")
    assert sorted(commented.values_list("address", flat=True)) == [
        "alice-admin@example.org",
        "dave-cta@example.org",
    ]
    send_digests()
    liaison_digest = mailbox.to("dave-cta@example.org")[-1]
    assert "accepted" in mailbox.text_of(liaison_digest) and "two tape sites" in mailbox.text_of(
        liaison_digest
    )
    assert opens_for(liaison_cta, link_in(mailbox, liaison_digest))


@pytest.fixture
def meeting(db):
    return make_meeting(make_series(), timezone.now() + datetime.timedelta(hours=20))


def test_an_action_raised_tells_its_owners_with_or_without_an_account(
    mailbox, committed, addresses, meeting, coordinator, member
):
    erin = person_for(member)
    paul = Person.objects.create(name="Paul Millar", affiliation="DESY", email="paul@desy.example")
    nobody = Person.objects.create(name="No Address")
    action = committed(
        meeting.raise_action, by=coordinator, text="Add the QoS key", owners=[erin, paul, nobody]
    )
    assert mailbox.recipients() == ["erin-member@example.org", "paul@desy.example"]
    assert opens_for(member, link_in(mailbox, mailbox.to("paul@desy.example")[0]))
    # A new owner is told; those already told are not told again.
    carol = person_for(coordinator)
    before = action.snapshot()
    action.owners.add(carol, Person.objects.create(name="Ann", email="ann@cern.example"))
    committed(action.record_edit, by=coordinator, before=before)
    assert mailbox.recipients() == ["ann@cern.example", "erin-member@example.org", "paul@desy.example"]


def test_minutes_saved_the_first_time_tell_the_attendees(
    mailbox, committed, addresses, meeting, coordinator, member, liaison_cta
):
    meeting.attendees.add(person_for(member), person_for(liaison_cta), person_for(coordinator))
    section = meeting.minutes_sections.first()
    committed(meeting.save_minutes, by=coordinator, bodies={section.pk: "We agreed on SAFE."})
    committed(meeting.save_minutes, by=coordinator, bodies={section.pk: "We agreed on SAFE and FAST."})
    told = Notification.objects.filter(kind="minutes_saved")
    assert sorted(told.values_list("address", flat=True)) == [
        "dave-cta@example.org",
        "erin-member@example.org",
    ]


def test_the_day_before_a_meeting_each_owner_gets_one_reminder_listing_their_actions(
    mailbox, chat, committed, addresses, meeting, coordinator, member
):
    from meetings.notices import remind_before_meetings

    erin, paul = person_for(member), Person.objects.create(name="Paul", email="paul@desy.example")
    earlier = make_meeting(meeting.series, meeting.starts_at - datetime.timedelta(days=14))
    first = earlier.raise_action(by=None, text="Tag the RSEs", owners=[erin, paul])
    second = earlier.raise_action(by=None, text="Write the SAFE page", owners=[erin])
    for action in (first, second):
        ActionReview.objects.get_or_create(meeting=meeting, action=action)
    Notification.objects.all().delete()  # "assigned", of the set-up
    mailbox.messages.clear()
    mailbox.envelopes.clear()
    committed(remind_before_meetings)
    committed(remind_before_meetings)  # beat runs hourly: still one reminder
    assert mailbox.recipients() == ["erin-member@example.org", "paul@desy.example"]
    erin_text = mailbox.text_of(mailbox.to("erin-member@example.org")[0])
    assert "Tag the RSEs" in erin_text and "Write the SAFE page" in erin_text
    assert "Write the SAFE page" not in mailbox.text_of(mailbox.to("paul@desy.example")[0])
    assert len(chat.posts) == 1


def test_an_overdue_action_tells_its_owners_at_most_once_a_week(
    mailbox, committed, addresses, meeting, member
):
    from meetings.notices import tell_overdue_actions

    erin = person_for(member)
    meeting.raise_action(by=None, text="Late", owners=[erin], due_date=datetime.date(2026, 1, 5))
    Notification.objects.all().delete()  # "assigned", of the set-up
    monday = datetime.date(2026, 3, 2)
    for day in range(7):
        committed(tell_overdue_actions, monday + datetime.timedelta(days=day))
    assert mailbox.recipients() == ["erin-member@example.org"]
    committed(tell_overdue_actions, monday + datetime.timedelta(days=7))
    assert mailbox.recipients() == ["erin-member@example.org"] * 2


def test_mail_server_stopped_during_an_approval_the_mail_arrives_once_it_is_back(
    mailbox, chat, committed, addresses, proposed_class, admin, admin2
):
    from django.core.management import call_command

    from notifications.choices import Delivery, Kind
    from notifications.models import Preference

    Preference.objects.choose(kind=Kind.CLASS_DECIDED, delivery=Delivery.IMMEDIATELY, user=admin)
    Notification.objects.all().delete()  # those of the set-up, never committed
    mailbox.stop()
    committed(proposed_class.approve, by=admin2)
    waiting = Notification.objects.get(channel=Channel.MAIL)
    assert (
        waiting.status == Status.PENDING
        and waiting.attempts == 1
        and waiting.address == "alice-admin@example.org"
    )
    assert len(chat.posts) == 1  # the chat did not wait for the mail server
    mailbox.start()
    call_command("send_notifications")
    call_command("send_notifications")
    assert mailbox.recipients() == ["alice-admin@example.org"]
    assert "the proposal was approved" in mailbox.messages[0]["Subject"]
