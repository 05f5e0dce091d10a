"""The demo meetings reproduce the minutes of 2020-03-18 and the next meeting with the actions carried."""

import datetime
import io

import pytest
from django.core.management import call_command

from meetings.models import Action, ActionReview, Meeting, MinutesSection, Person, TimetableItem

pytestmark = pytest.mark.django_db

UTC = datetime.UTC


@pytest.fixture
def demo():
    call_command("loaddemo", stdout=io.StringIO())
    first, second = Meeting.objects.order_by("starts_at")
    return first, second


def test_the_meeting_of_18_march_2020_is_reproduced_from_its_minutes(demo):
    first, _ = demo
    assert first.starts_at == datetime.datetime(2020, 3, 18, 13, 0, tzinfo=UTC)  # 14:00 CET
    assert sorted(p.name for p in first.attendees.all()) == [
        "Aleem Sarwar",
        "Enrico Vianello",
        "Frederic Gillardo",
        "Marcelo Soares",
        "Marek Szuba",
        "Mario Lassnig",
        "Martin Barisits",
        "Paul Millar",
        "Riccardo Di Maria",
    ]
    slots = [
        (i.starts_at.astimezone(first.zone).strftime("%H:%M"), i.title, i.duration_minutes)
        for i in first.timetable_items.filter(parent__isnull=True)
    ]
    assert slots == [("14:00", "News", 10), ("14:10", "Round table", 40), ("14:50", "AOB", 10)]
    talk = TimetableItem.objects.get(meeting=first, parent__title="News")
    assert (talk.title, str(talk.speaker)) == (
        "ESCAPE rocketchat as tool for a discussion forum",
        "Paul Millar (DESY)",
    )
    round_table = first.timetable_items.get(title="Round table")
    assert [c.stream.letter for c in round_table.children.all()] == ["A", "B", "C"]
    sections = {s.title: s.body for s in MinutesSection.objects.filter(meeting=first)}
    assert "Martin: that's easily doable." in sections["Stream A: prototyping and demonstration"]
    assert "Waiting on the MAS meeting" in sections["Stream B: engagement with experiments"]
    assert "define a work plan with Aris" in sections["Stream C: software developments"]


def test_the_six_actions_of_the_minutes_with_their_owners(demo):
    first, _ = demo
    actions = [
        (a.stream.letter, sorted(o.name for o in a.owners.all()), a.text[:30], a.due_date)
        for a in first.actions_raised.order_by("pk")
    ]
    due = datetime.date(2020, 4, 1)
    assert actions == [
        ("A", ["Aris Fkiaras"], "Add the qos key-value pair to ", due),
        ("A", ["Aleem Sarwar"], "Find volunteer sites to run th", due),
        ("A", ["Martin Barisits"], "Add a flag to Rucio so that de", due),
        ("B", ["Mario Lassnig"], "Run the separate document thro", due),
        ("B", ["Aleem Sarwar"], "Contact CTA and SKA to organis", due),
        ("C", ["Aris Fkiaras", "Martin Barisits"], "Define the Rucio work plan wit", due),
    ]
    assert Action.objects.get(text__startswith="Contact CTA").experiment.short_name == "CTA"


def test_the_next_meeting_is_1_april_14_00_cest_with_every_action_carried(demo):
    first, second = demo
    assert second.starts_at == datetime.datetime(2020, 4, 1, 12, 0, tzinfo=UTC)
    assert second.local_start.strftime("%H:%M %Z") == "14:00 CEST"
    # The timetable starts with the meeting, on the same clock, although summer time began in between.
    slots = [
        (i.starts_at.astimezone(second.zone).strftime("%H:%M %Z"), i.title, i.duration_minutes)
        for i in second.timetable_items.filter(parent__isnull=True)
    ]
    assert slots == [("14:00 CEST", "News", 10), ("14:10 CEST", "Round table", 40), ("14:50 CEST", "AOB", 10)]
    assert set(second.action_reviews.values_list("action", flat=True)) == set(
        first.actions_raised.values_list("pk", flat=True)
    )


def test_demo_people_are_linked_to_the_demo_accounts(demo):
    assert Person.objects.get(user__username="admin").name == "Aris Fkiaras"
    assert Person.objects.get(user__username="coordinator").name == "Paul Millar"


def test_loading_the_demo_twice_changes_nothing(demo):
    counts = [model.objects.count() for model in (Meeting, Action, ActionReview, Person, TimetableItem)]
    out = io.StringIO()
    call_command("loaddemo", stdout=out)
    assert "Meetings created: none (all present)" in out.getvalue()
    assert [
        model.objects.count() for model in (Meeting, Action, ActionReview, Person, TimetableItem)
    ] == counts
