"""What leaves the portal about meetings: iCalendar feeds (series' meetings, a person's action due dates),
minutes as Markdown, and the signed addresses that let a calendar client read a feed without logging in."""

from __future__ import annotations

import datetime
from collections.abc import Iterable

import icalendar
from django.core import signing
from django.utils import timezone
from django.utils.crypto import constant_time_compare

from .models import Action, Meeting, MeetingSeries, Person

PRODID = "-//ESCAPE QoS portal//meetings//EN"
UID_DOMAIN = "escape-qos-portal"
FEED_SALT = "portal.calendar-feed"


# --- iCalendar ---------------------------------------------------------------------------------------------
def _calendar(name: str) -> icalendar.Calendar:
    calendar = icalendar.Calendar()
    calendar.add("prodid", PRODID)
    calendar.add("version", "2.0")
    calendar.add("calscale", "GREGORIAN")
    calendar.add("x-wr-calname", name)
    return calendar


def series_calendar(series: MeetingSeries, meetings: Iterable[Meeting], base_url: str) -> bytes:
    """One event per meeting, on the meeting's own clock (with its VTIMEZONE), linking to its page."""
    calendar = _calendar(series.name)
    for meeting in meetings:
        event = icalendar.Event()
        event.add("uid", f"meeting-{meeting.pk}@{UID_DOMAIN}")
        event.add("summary", meeting.title)
        event.add("dtstart", meeting.local_start)
        event.add("dtend", meeting.local_end)
        event.add("dtstamp", meeting.updated_at or timezone.now())
        event.add("url", base_url + meeting.get_absolute_url())
        if meeting.location:
            event.add("location", meeting.location)
        lines = [
            f"{item.title} ({item.duration_minutes}m)"
            for item in meeting.timetable_items.all()
            if item.parent_id is None and item.duration_minutes
        ]
        event.add("description", "\n".join([*lines, "", base_url + meeting.get_absolute_url()]).strip())
        calendar.add_component(event)
    # Adds a VTIMEZONE for every TZID used, so clients that do not know Europe/Zurich still place it right.
    calendar.add_missing_timezones()
    return calendar.to_ical()


def person_calendar(person: Person, actions: Iterable[Action], base_url: str) -> bytes:
    """One all-day event per open action of the person, on its due date."""
    calendar = _calendar(f"Actions of {person.name}")
    for action in actions:
        if action.due_date is None:
            continue
        event = icalendar.Event()
        event.add("uid", f"action-{action.pk}@{UID_DOMAIN}")
        event.add("summary", f"Action #{action.pk} due: {_one_line(action.text, 120)}")
        event.add("dtstart", action.due_date)
        event.add("dtend", action.due_date + datetime.timedelta(days=1))
        event.add("dtstamp", action.updated_at or timezone.now())
        event.add("url", base_url + action.get_absolute_url())
        event.add("description", f"{action.text}\n\nStatus: {action.get_status_display()}")
        calendar.add_component(event)
    return calendar.to_ical()


def _one_line(text: str, limit: int) -> str:
    line = " ".join(text.split())
    return line if len(line) <= limit else line[: limit - 1] + "…"


# --- signed feed addresses ---------------------------------------------------------------------------------
def feed_token(kind: str, key: str | int) -> str:
    """A token naming one feed, signed with SECRET_KEY: whoever holds the address may read that feed only."""
    return signing.dumps([kind, str(key)], salt=FEED_SALT, compress=False)


def read_feed_token(token: str) -> tuple[str, str] | None:
    try:
        kind, key = signing.loads(token, salt=FEED_SALT)
    except (signing.BadSignature, ValueError, TypeError):
        return None
    return str(kind), str(key)


def person_feed_token(person: Person) -> str:
    """The token of a person's feed. Their calendar secret is in it: a new secret makes every address of
    their feed given out before it stop working, without touching anyone else's."""
    return feed_token("person", f"{person.pk}.{person.calendar_secret}")


def person_of_feed(key: str) -> Person | None:
    """The person a person feed's key names, if the secret in it is still theirs."""
    pk, _, secret = key.partition(".")
    if not pk.isdigit() or not secret:
        return None  # e.g. an address from before calendar secrets, which named the person only
    person = Person.objects.filter(pk=int(pk)).first()
    if person is None or not constant_time_compare(secret, person.calendar_secret):
        return None
    return person


# --- Markdown ----------------------------------------------------------------------------------------------
def minutes_markdown(meeting: Meeting, base_url: str = "") -> str:
    """The minutes as one Markdown document: header, attendees, timetable, minutes by section, actions."""
    out = [
        *_header_lines(meeting, base_url),
        *_attendees_lines(meeting),
        *_timetable_lines(meeting),
        *_minutes_lines(meeting),
        *_actions_lines(meeting),
    ]
    return "\n".join(out).rstrip() + "\n"


def _header_lines(meeting: Meeting, base_url: str) -> list[str]:
    start, end = meeting.local_start, meeting.local_end
    utc = meeting.starts_at.astimezone(datetime.UTC)
    out = [
        f"# {meeting.title}, {start:%Y-%m-%d}",
        "",
        f"**When:** {start:%A %d %B %Y, %H:%M}-{end:%H:%M} {start:%Z} ({meeting.time_zone}; {utc:%H:%M} UTC)  ",
    ]
    if meeting.location:
        out.append(f"**Where:** {meeting.location}  ")
    if meeting.indico_url:
        out.append(f"**Indico:** <{meeting.indico_url}>  ")
    if base_url:
        out.append(f"**Portal:** <{base_url}{meeting.get_absolute_url()}>  ")
    return out


def _attendees_lines(meeting: Meeting) -> list[str]:
    attendees = list(meeting.attendees.all())
    return [
        "",
        "## Attendees",
        "",
        ", ".join(str(person) for person in attendees) if attendees else "_None recorded._",
    ]


def _timetable_lines(meeting: Meeting) -> list[str]:
    out = ["", "## Timetable", ""]
    items = list(meeting.timetable_items.select_related("speaker"))
    for item in (i for i in items if i.parent_id is None):
        out.append(f"- {_item_line(item, meeting)}")
        out += [f"    - {_item_line(child, meeting)}" for child in items if child.parent_id == item.pk]
    if not items:
        out.append("_No timetable._")
    return out


def _minutes_lines(meeting: Meeting) -> list[str]:
    out = ["", "## Minutes"]
    for section in meeting.minutes_sections.all():
        out += ["", f"### {section.title}", "", section.body.strip() or "_Nothing recorded._"]
    return out


def _actions_lines(meeting: Meeting) -> list[str]:
    raised = list(meeting.actions_raised.with_related().order_by("pk"))
    reviewed = [
        review.action
        for review in meeting.action_reviews.select_related("action").prefetch_related("action__owners")
    ]
    out = ["", "## Actions raised", ""]
    out += [_action_line(action) for action in raised] or ["_None._"]
    out += ["", "## Actions reviewed", ""]
    out += [_action_line(action) for action in reviewed] or ["_None._"]
    return out


def _item_line(item, meeting: Meeting) -> str:
    parts = []
    if item.starts_at:
        local = item.starts_at.astimezone(meeting.zone)
        parts.append(f"{local:%H:%M}")
    parts.append(f"**{item.title}**" if item.parent_id is None else item.title)
    if item.duration_minutes:
        parts.append(f"({item.duration_minutes}m)")
    if item.speaker_id:
        parts.append(f"— {item.speaker}")
    return " ".join(parts)


def _action_line(action: Action) -> str:
    box = "x" if not action.is_open else " "
    owners = ", ".join(owner.name for owner in action.owners.all())
    stream = f" (stream {action.stream.letter})" if action.stream_id else ""
    due = f", due {action.due_date:%Y-%m-%d}" if action.due_date else ""
    return f"- [{box}] #{action.pk}{stream} **{owners}**: {_one_line(action.text, 500)} — {action.get_status_display().lower()}{due}"
