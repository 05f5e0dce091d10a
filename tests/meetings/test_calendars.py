"""iCalendar feeds: a series' meetings on their own clock, a person's action due dates, signed addresses."""

import datetime
import re

import icalendar
import pytest
from django.test import Client
from rest_framework.test import APIClient

from meetings.exports import feed_token, person_feed_token
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
    events, _ = events_of(Client().get(f"/calendar/{person_feed_token(me)}.ics"))
    assert events == []


@pytest.mark.parametrize("token", ["nonsense", "tampered", "unknown-kind"])
def test_a_bad_feed_address_is_not_found(client, series, token):
    good = feed_token("series", series.slug)
    tokens = {"nonsense": "abc", "tampered": good[:-2] + "xx", "unknown-kind": feed_token("secrets", "1")}
    assert client.get(f"/calendar/{tokens[token]}.ics").status_code == 404


def test_outsider_cannot_read_the_feeds(client_for, outsider, series):
    assert client_for(outsider).get("/meetings/series/t22/calendar.ics").status_code == 403


def test_signed_feeds_are_private_to_whoever_holds_the_address(client, member, series):
    me = person_for(member)
    for token in (feed_token("series", series.slug), person_feed_token(me)):
        response = client.get(f"/calendar/{token}.ics")
        assert response.status_code == 200
        assert "private" in response["Cache-Control"]


def test_a_person_feed_address_without_the_persons_secret_is_not_found(client, member):
    me = person_for(member)
    # As addresses were before calendar secrets: the person's id alone.
    assert client.get(f"/calendar/{feed_token('person', me.pk)}.ics").status_code == 404
    assert client.get(f"/calendar/{feed_token('person', f'{me.pk}.not-the-secret')}.ics").status_code == 404
    assert client.get(f"/calendar/{feed_token('person', 'x.y')}.ics").status_code == 404
    someone = Person.objects.create(name="Aris")
    assert (
        client.get(f"/calendar/{feed_token('person', f'{someone.pk}.{me.calendar_secret}')}.ics").status_code
        == 404
    )


def test_every_person_has_a_secret_of_their_own():
    secrets = {Person.objects.create(name=f"Person {n}").calendar_secret for n in range(5)}
    assert len(secrets) == 5 and all(len(secret) == 32 for secret in secrets)


def _feed_address_on(page) -> str:
    return re.search(r"http://testserver(/calendar/[^<\s]+\.ics)", page.content.decode()).group(1)


@pytest.mark.parametrize("by", ["owner", "coordinator"])
def test_a_new_calendar_address_replaces_the_old_one(client_for, member, coordinator, by):
    me = person_for(member)
    browser = client_for(member if by == "owner" else coordinator)
    old = _feed_address_on(browser.get(f"/people/{me.pk}/"))
    assert Client().get(old).status_code == 200

    response = browser.post(f"/people/{me.pk}/calendar-address/", follow=True)

    assert response.redirect_chain == [(f"/people/{me.pk}/", 302)]
    assert "New calendar address made: the old one no longer works." in response.content.decode()
    new = _feed_address_on(response)
    assert new != old
    assert Client().get(old).status_code == 404
    events_of(Client().get(new))


def test_only_the_person_and_coordinators_may_renew_a_calendar_address(
    client, client_for, member, liaison_cta
):
    me = person_for(member)
    secret = me.calendar_secret
    # Another member sees the person's page, but neither the address nor the button, and may not renew it.
    page = client_for(liaison_cta).get(f"/people/{me.pk}/").content.decode()
    assert "/calendar/" not in page and "New calendar address" not in page
    assert client_for(liaison_cta).post(f"/people/{me.pk}/calendar-address/").status_code == 403
    anonymous = client.post(f"/people/{me.pk}/calendar-address/")
    assert anonymous.status_code == 302 and anonymous.url.startswith("/accounts/login/")
    assert client_for(member).get(f"/people/{me.pk}/calendar-address/").status_code == 405
    me.refresh_from_db()
    assert me.calendar_secret == secret


def test_a_person_without_an_account_is_renewed_by_coordinators_only(client_for, member, coordinator):
    someone = Person.objects.create(name="Aris")
    assert client_for(member).post(f"/people/{someone.pk}/calendar-address/").status_code == 403
    assert client_for(coordinator).post(f"/people/{someone.pk}/calendar-address/").status_code == 302


@pytest.mark.parametrize("by", ["owner", "coordinator"])
def test_the_api_renews_a_calendar_address(api_for, client, member, coordinator, by):
    me = person_for(member)
    old = f"/calendar/{person_feed_token(me)}.ics"

    response = api_for(member if by == "owner" else coordinator).post(
        f"/api/v1/people/{me.pk}/rotate-calendar/"
    )

    assert response.status_code == 200, response.content
    new = response.json()["calendar_url"]
    me.refresh_from_db()
    assert new == f"http://testserver/calendar/{person_feed_token(me)}.ics"
    assert client.get(old).status_code == 404
    events_of(client.get(new.removeprefix("http://testserver")))


def test_the_api_refuses_to_renew_someone_elses_calendar_address(api_for, member, liaison_cta, outsider):
    me = person_for(member)
    secret = me.calendar_secret
    url = f"/api/v1/people/{me.pk}/rotate-calendar/"
    assert api_for(liaison_cta).post(url).status_code == 403
    assert api_for(outsider).post(url).status_code == 403
    assert APIClient().post(url).status_code in (401, 403)
    me.refresh_from_db()
    assert me.calendar_secret == secret
