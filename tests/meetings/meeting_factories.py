"""Builders for the meetings tests: a series, meetings on the Zurich clock, people linked to the personas."""

from __future__ import annotations

import datetime
import zoneinfo

from meetings.models import Action, Meeting, MeetingSeries, Person, Stream

ZURICH = zoneinfo.ZoneInfo("Europe/Zurich")


def zurich(year: int, month: int, day: int, hour: int = 14, minute: int = 0) -> datetime.datetime:
    return datetime.datetime(year, month, day, hour, minute, tzinfo=ZURICH)


def make_series(**fields) -> MeetingSeries:
    defaults = {"name": "T2.2 fortnightly", "slug": "t22", "time_zone": "Europe/Zurich", "interval_days": 14}
    return MeetingSeries.objects.create(**{**defaults, **fields})


def make_meeting(series: MeetingSeries, start: datetime.datetime, **fields) -> Meeting:
    """A meeting with the standard agenda (News, Round table per stream, AOB) and minutes sections."""
    meeting = Meeting.objects.create(
        series=series,
        title=fields.pop("title", "QoS meeting"),
        starts_at=start,
        time_zone="Europe/Zurich",
        **fields,
    )
    meeting.add_default_timetable()
    meeting.add_default_sections()
    return meeting


def person_for(user, name: str | None = None) -> Person:
    return Person.objects.create(name=name or user.username.replace("-", " ").title(), user=user)


def stream(letter: str) -> Stream:
    return Stream.objects.get(letter=letter)


def raise_action(meeting: Meeting, owners: list[Person], text: str = "Do the thing", **fields) -> Action:
    return meeting.raise_action(by=None, text=text, owners=owners, **fields)
