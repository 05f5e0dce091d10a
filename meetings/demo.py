"""The demo's meetings: the ESCAPE QoS (T2.2) fortnightly meeting of 2020-03-18, reproduced from its minutes
(shared/seeds/000_*.txt), and the next one of 2020-04-01 14:00 CEST with the open actions carried over.

Idempotent: what exists is left as it is, so running the loader twice changes nothing.
"""

from __future__ import annotations

import datetime
import zoneinfo

from django.contrib.auth import get_user_model
from django.db import transaction

from engagement.models import Experiment

from .models import Action, Meeting, MeetingSeries, MinutesSection, Person, Stream, TimetableItem

ZURICH = zoneinfo.ZoneInfo("Europe/Zurich")
# 14:00 CET (UTC+1) on 2020-03-18; the next meeting, 14:00 CEST (UTC+2) on 2020-04-01, after the change.
FIRST_START = datetime.datetime(2020, 3, 18, 14, 0, tzinfo=ZURICH)
NEXT_START = datetime.datetime(2020, 4, 1, 14, 0, tzinfo=ZURICH)
SERIES_SLUG = "t22-fortnightly"
TITLE = "ESCAPE QoS fortnightly meeting"

# (name, affiliation, demo username or ""). Affiliations only where the minutes or the demo say them.
PEOPLE = [
    ("Aleem Sarwar", "", ""),
    ("Marcelo Soares", "", ""),
    ("Riccardo Di Maria", "CERN", "admin2"),
    ("Enrico Vianello", "INFN-CNAF", ""),
    ("Paul Millar", "DESY", "coordinator"),
    ("Martin Barisits", "CERN", ""),
    ("Frederic Gillardo", "", "liaison-cta"),
    ("Mario Lassnig", "CERN", "liaison-atlas"),
    ("Marek Szuba", "", "member"),
    ("Aris Fkiaras", "CERN", "admin"),
]
ATTENDEES = [name for name, _, _ in PEOPLE if name != "Aris Fkiaras"]
LEADS = {"A": "Aris Fkiaras", "B": "Aleem Sarwar", "C": "Martin Barisits"}

MINUTES = {
    "News": (
        "Rucio workshop -- mostly remote. Some interest in QoS. Aris presented ESCAPE (and QoS) with some "
        "discussion about QoS.\n\n"
        "* Paul Millar: ESCAPE rocketchat as a tool for a discussion forum."
    ),
    "A": (
        "* Wiki page now contains the first draft of Storage QoS Class.\n"
        "* Next step is for Aris to add the qos key-value pair to the RSE endpoints in the ESCAPE testbed, "
        "based on the wiki page.\n"
        "* Aleem successfully ran the LOFAR workflow on his desktop.\n"
        "* Aleem uploaded the entire output tar file. Pandey confirmed that the …\n"
        "* Yan mentioned having an authentication problem accessing data on the data lake.\n"
        "* Plan to use X.509 client credentials, with anyone with an ESCAPE being able to read the data.\n"
        "* Volunteer sites to run the LOFAR workflow?\n"
        "* Rucio deleting files when a rule, replicas become “secondary replicas”. Can add a flag to say "
        "when a rule is deleted to also remove the replicas. Martin: that's easily doable."
    ),
    "B": (
        "* Waiting on the MAS meeting this week -- otherwise, nothing to report.\n"
        "* Mario can run this separate document through ATLAS to get it approved.\n"
        "* Aleem to contact CTA and SKA to organise meetings."
    ),
    "C": (
        "* Rucio -- need to define a work plan with Aris to decide when the new features will be added.\n"
        "* There may be some news next week.\n"
        "* The Dev version. WLCG DOMA testbed (XDC testbed). Connected to both the XDC and IAM.\n"
        "* Experience from WLCG DOMA testbed suggests the new version should not break the existing X.509 "
        "functionality --- so deploying it should be safe."
    ),
    "AOB": "The next meeting will be 1st April at 2PM CEST.",
}

# (stream, owners, text, experiment short name or None)
ACTIONS = [
    (
        "A",
        ["Aris Fkiaras"],
        "Add the qos key-value pair to the RSE endpoints in the ESCAPE testbed, based on the wiki page.",
        None,
    ),
    ("A", ["Aleem Sarwar"], "Find volunteer sites to run the LOFAR workflow.", "LOFAR"),
    (
        "A",
        ["Martin Barisits"],
        "Add a flag to Rucio so that deleting a rule also removes its replicas (rather than leaving "
        "“secondary replicas”).",
        None,
    ),
    ("B", ["Mario Lassnig"], "Run the separate document through ATLAS to get it approved.", "ATLAS"),
    ("B", ["Aleem Sarwar"], "Contact CTA and SKA to organise meetings.", "CTA"),
    (
        "C",
        ["Martin Barisits", "Aris Fkiaras"],
        "Define the Rucio work plan with Aris: decide when the new features will be added.",
        None,
    ),
]


def load_meetings() -> list[str]:
    """Create what is missing of the demo meetings; returns the dates of the meetings created."""
    User = get_user_model()
    users = {user.username: user for user in User.objects.filter(username__in=[u for _, _, u in PEOPLE if u])}
    coordinator = users.get("coordinator")
    created: list[str] = []
    with transaction.atomic():
        people = {}
        for name, affiliation, username in PEOPLE:
            person, _ = Person.objects.get_or_create(name=name, affiliation=affiliation)
            user = users.get(username)
            if user is not None and person.user_id is None and not Person.objects.filter(user=user).exists():
                person.user = user
                person.save(update_fields=["user"])
            people[name] = person
        streams = {stream.letter: stream for stream in Stream.objects.all()}
        for letter, lead in LEADS.items():
            if letter in streams and not streams[letter].leads.exists():
                streams[letter].leads.add(people[lead])
        series, _ = MeetingSeries.objects.get_or_create(
            slug=SERIES_SLUG,
            defaults={
                "name": "ESCAPE QoS (T2.2) fortnightly meeting",
                "time_zone": "Europe/Zurich",
                "interval_days": 14,
                "duration_minutes": 60,
                "description": "The fortnightly meeting of the ESCAPE WP2 QoS task (T2.2): news, a round "
                "table with one part per stream, AOB.",
            },
        )
        first = Meeting.objects.filter(series=series, starts_at=FIRST_START).first()
        if first is None:
            first = _first_meeting(series, people, streams, coordinator)
            created.append("2020-03-18")
        _link_experiments(first)
        if not Meeting.objects.filter(series=series, starts_at=NEXT_START).exists():
            first.create_next(by=coordinator, starts_at=NEXT_START)
            created.append("2020-04-01")
    return created


def _first_meeting(
    series: MeetingSeries, people: dict[str, Person], streams: dict[str, Stream], coordinator
) -> Meeting:
    meeting = Meeting.objects.create(
        series=series,
        title=TITLE,
        starts_at=FIRST_START,
        time_zone="Europe/Zurich",
        duration_minutes=60,
        created_by=coordinator,
    )
    meeting.attendees.set([people[name] for name in ATTENDEES])
    minute = datetime.timedelta(minutes=1)
    news = TimetableItem.objects.create(
        meeting=meeting, position=0, title="News", starts_at=FIRST_START, duration_minutes=10
    )
    TimetableItem.objects.create(
        meeting=meeting,
        parent=news,
        position=0,
        title="ESCAPE rocketchat as tool for a discussion forum",
        speaker=people["Paul Millar"],
    )
    round_table = TimetableItem.objects.create(
        meeting=meeting,
        position=1,
        title="Round table",
        starts_at=FIRST_START + 10 * minute,
        duration_minutes=40,
    )
    for position, letter in enumerate(sorted(streams)):
        TimetableItem.objects.create(
            meeting=meeting,
            parent=round_table,
            position=position,
            title=str(streams[letter]),
            stream=streams[letter],
        )
    TimetableItem.objects.create(
        meeting=meeting, position=2, title="AOB", starts_at=FIRST_START + 50 * minute, duration_minutes=10
    )
    sections = [MinutesSection(meeting=meeting, position=0, title="News", body=MINUTES["News"])]
    for letter in sorted(streams):
        sections.append(
            MinutesSection(
                meeting=meeting,
                position=len(sections),
                title=str(streams[letter]),
                stream=streams[letter],
                body=MINUTES.get(letter, ""),
            )
        )
    sections.append(MinutesSection(meeting=meeting, position=len(sections), title="AOB", body=MINUTES["AOB"]))
    MinutesSection.objects.bulk_create(sections)
    for letter, owners, text, _experiment in ACTIONS:
        meeting.raise_action(
            by=coordinator,
            text=text,
            owners=[people[name] for name in owners],
            stream=streams.get(letter),
            due_date=NEXT_START.date(),
        )
    # As if typed up during the meeting, not on the day the demo was loaded.
    Action.objects.filter(raised_at=meeting).update(created_at=FIRST_START + datetime.timedelta(hours=1))
    return meeting


def _link_experiments(meeting: Meeting) -> None:
    """Link the actions to their experiments once those exist (the engagement demo may load after us)."""
    experiments = {e.short_name.upper(): e for e in Experiment.objects.all()}
    for _letter, _owners, text, short_name in ACTIONS:
        if short_name and short_name in experiments:
            Action.objects.filter(raised_at=meeting, text=text, experiment__isnull=True).update(
                experiment=experiments[short_name]
            )
