"""iCalendar feeds: a series' meetings on their own clock, a person's action due dates, signed addresses."""

import datetime
import re

import icalendar
import pytest
from django.test import Client

from meetings.exports import feed_token
from meetings.models import Person
from tests.meetings.meeting_factories import make_meeting, make_series, person_for, raise_action, zurich

pytestmark = pytest.mark.django_db

UTC = datetime.UTC


@pytest.fixture
def series():
    return make_series(name="ESCAPE QoS fortnightly meeting")


@pytest.fixture
def meetings(series):
    first = make_meeting(series, zurich(2020, 3, 18), title="QoS meeting", location="Vidyo")
    return first, first.create_next(by=None)


def events_of(response) -> list:
    assert response.status_code == 200
    assert response["Content-Type"] == "text/calendar; charset=utf-8"
    calendar = icalendar.Calendar.from_ical(response.content)
    return list(calendar.walk("VEVENT")), calendar


def test_series_feed_holds_each_meeting_at_14_00_zurich_across_the_change(client_for, member, meetings):
    first, second = meetings
    events, calendar = events_of(client_for(member).get("/meetings/series/t22/calendar.ics"))

    assert str(calendar["X-WR-CALNAME"]) == "ESCAPE QoS fortnightly meeting"
    assert [str(event["UID"]) for event in events] == [
        f"meeting-{first.pk}@escape-qos-portal",
        f"meeting-{second.pk}@escape-qos-portal",
    ]
    starts = [event.decoded("DTSTART") for event in events]
    assert [start.astimezone(UTC) for start in starts] == [
        datetime.datetime(2020, 3, 18, 13, 0, tzinfo=UTC),
        datetime.datetime(2020, 4, 1, 12, 0, tzinfo=UTC),
    ]
    assert [(s.hour, s.minute, s.tzname()) for s in starts] == [(14, 0, "CET"), (14, 0, "CEST")]
    assert all(event["DTSTART"].params["TZID"] == "Europe/Zurich" for event in events)
    assert [event.decoded("DTEND") - event.decoded("DTSTART") for event in events] == [
        datetime.timedelta(hours=1)
    ] * 2
    assert str(events[0]["SUMMARY"]) == "QoS meeting"
    assert str(events[0]["LOCATION"]) == "Vidyo"
    assert str(events[0]["URL"]).endswith(f"/meetings/{first.pk}/")
    assert "News (10m)" in str(events[0]["DESCRIPTION"])
    # Clients that do not know Europe/Zurich get its rules from the feed itself.
    assert [str(tz["TZID"]) for tz in calendar.walk("VTIMEZONE")] == ["Europe/Zurich"]


def test_person_feed_holds_the_due_dates_of_their_open_actions(client_for, member, meetings):
    first, _ = meetings
    me = person_for(member, "Marek Szuba")
    open_one = raise_action(first, [me], "Contact CTA and SKA")
    raise_action(first, [me], "Already done").record_update(by=None, status="done")
    raise_action(first, [Person.objects.create(name="Aris")], "Someone else's")

    events, calendar = events_of(client_for(member).get(f"/people/{me.pk}/actions.ics"))

    assert str(calendar["X-WR-CALNAME"]) == "Actions of Marek Szuba"
    assert len(events) == 1
    event = events[0]
    assert str(event["UID"]) == f"action-{open_one.pk}@escape-qos-portal"
    assert str(event["SUMMARY"]) == f"Action #{open_one.pk} due: Contact CTA and SKA"
    assert event.decoded("DTSTART") == datetime.date(2020, 4, 1)
    assert event.decoded("DTEND") == datetime.date(2020, 4, 2)


def test_feeds_need_a_login_unless_their_address_is_signed(client, client_for, member, series, meetings):
    assert client.get("/meetings/series/t22/calendar.ics").status_code == 302

    page = client_for(member).get("/meetings/").content.decode()
    address = re.search(r"http://testserver(/calendar/[^<\s]+\.ics)", page).group(1)
    events, _ = events_of(Client().get(address))
    assert len(events) == 2

    me = person_for(member)
    events, _ = events_of(Client().get(f"/calendar/{feed_token('person', me.pk)}.ics"))
    assert events == []


@pytest.mark.parametrize("token", ["nonsense", "tampered", "unknown-kind"])
def test_a_bad_feed_address_is_not_found(client, series, token):
    good = feed_token("series", series.slug)
    tokens = {"nonsense": "abc", "tampered": good[:-2] + "xx", "unknown-kind": feed_token("secrets", "1")}
    assert client.get(f"/calendar/{tokens[token]}.ics").status_code == 404


def test_outsider_cannot_read_the_feeds(client_for, outsider, series):
    assert client_for(outsider).get("/meetings/series/t22/calendar.ics").status_code == 403
