"""Import a meeting's timetable from an Indico event's JSON export.

Indico's HTTP export API (``/export/event/<id>.json?detail=subcontributions``) answers
``{"results": [{"title", "url", "startDate": {"date", "time", "tz"}, "contributions": [...]}]}``; each
contribution has a ``startDate``, a ``duration`` in minutes, ``speakers`` (``first_name``, ``last_name``,
``fullName`` as "Last, First", ``affiliation``), a ``description`` and, at that detail level,
``subContributions``. See https://docs.getindico.io/en/stable/http-api/exporters/event/.

Fetching from a URL is bounded (http/https only, a timeout, a size limit, few redirects) because the address
comes from a user and the request is made by the server.
"""

from __future__ import annotations

import datetime
import json
import re
import time
import zoneinfo
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import requests
from django.db import transaction

from .models import Meeting, Person, Stream, TimetableItem

MAX_EXPORT_BYTES = 2 * 1024 * 1024
CONNECT_TIMEOUT = 5.0
TOTAL_TIMEOUT = 15.0
MAX_REDIRECTS = 3
STREAM_TITLE = re.compile(r"^\s*stream\s+([A-Z][A-Z0-9]*)\b", re.IGNORECASE)


class IndicoImportError(Exception):
    """The export could not be fetched or read; nothing was changed."""


@dataclass
class IndicoSpeaker:
    name: str
    affiliation: str = ""


@dataclass
class IndicoItem:
    title: str
    starts_at: datetime.datetime | None = None
    duration_minutes: int | None = None
    description: str = ""
    speakers: list[IndicoSpeaker] = field(default_factory=list)
    children: list[IndicoItem] = field(default_factory=list)


@dataclass
class IndicoEvent:
    title: str
    url: str
    starts_at: datetime.datetime
    time_zone: str
    items: list[IndicoItem]


def fetch_export(url: str) -> bytes:
    """GET an export from Indico: http(s) only, at most MAX_EXPORT_BYTES, within TOTAL_TIMEOUT seconds."""
    if urlsplit(url).scheme not in ("http", "https"):
        raise IndicoImportError("Only http and https addresses can be fetched.")
    session = requests.Session()
    session.max_redirects = MAX_REDIRECTS
    deadline = time.monotonic() + TOTAL_TIMEOUT
    try:
        with session.get(
            url,
            stream=True,
            timeout=(CONNECT_TIMEOUT, TOTAL_TIMEOUT),
            headers={"Accept": "application/json"},
        ) as response:
            if response.status_code != 200:
                raise IndicoImportError(f"Indico answered {response.status_code} {response.reason}.")
            declared = response.headers.get("Content-Length")
            if declared and declared.isdigit() and int(declared) > MAX_EXPORT_BYTES:
                raise IndicoImportError(_too_large())
            body = bytearray()
            while True:
                # read1 returns what one socket read brings (iter_content would block until a whole chunk
                # came), so the deadline below holds even against a server that drips a byte at a time:
                # the read timeout alone is per read, not for the whole answer.
                chunk = response.raw.read1(64 * 1024, decode_content=True)
                if not chunk:
                    break
                body.extend(chunk)
                if len(body) > MAX_EXPORT_BYTES:
                    raise IndicoImportError(_too_large())
                if time.monotonic() > deadline:
                    raise IndicoImportError(f"Indico took longer than {TOTAL_TIMEOUT:.0f} seconds to answer.")
            return bytes(body)
    except requests.Timeout:
        raise IndicoImportError(f"Indico did not answer within {TOTAL_TIMEOUT:.0f} seconds.") from None
    except requests.TooManyRedirects:
        raise IndicoImportError("Too many redirects.") from None
    except requests.RequestException as error:
        raise IndicoImportError(f"Could not fetch the export: {type(error).__name__}.") from None
    finally:
        session.close()


def _too_large() -> str:
    return f"The export is larger than {MAX_EXPORT_BYTES // (1024 * 1024)} MB; is it the right address?"


def parse_export(data: bytes) -> IndicoEvent:
    """Read an Indico event export. Raises IndicoImportError saying what is wrong."""
    if len(data) > MAX_EXPORT_BYTES:
        raise IndicoImportError(_too_large())
    try:
        document = json.loads(data)
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise IndicoImportError("This is not JSON: export the event from Indico as .json.") from None
    results = document.get("results") if isinstance(document, dict) else None
    if not isinstance(results, list) or not results:
        raise IndicoImportError("No event in this export (its 'results' list is missing or empty).")
    if len(results) > 1:
        raise IndicoImportError("This export holds several events: export only the meeting's event.")
    event = results[0]
    if not isinstance(event, dict):
        raise IndicoImportError("The event in this export is not an object.")
    contributions = event.get("contributions")
    if not isinstance(contributions, list):
        raise IndicoImportError(
            "The export has no contributions: export it with detail=contributions (or subcontributions)."
        )
    items = [_item(c, f"contribution {i + 1}") for i, c in enumerate(contributions)]
    items.sort(
        key=lambda item: (
            item.starts_at is None,
            item.starts_at or datetime.datetime.max.replace(tzinfo=datetime.UTC),
        )
    )
    return IndicoEvent(
        title=str(event.get("title") or ""),
        url=str(event.get("url") or ""),
        starts_at=_datetime(event.get("startDate"), "the event's startDate"),
        time_zone=str(event.get("timezone") or (event.get("startDate") or {}).get("tz") or ""),
        items=items,
    )


def _item(raw: Any, where: str) -> IndicoItem:
    if not isinstance(raw, dict) or not str(raw.get("title") or "").strip():
        raise IndicoImportError(f"The export's {where} has no title.")
    duration = raw.get("duration")
    if duration is not None and (not isinstance(duration, int) or not 0 <= duration <= 24 * 60):
        raise IndicoImportError(f"The export's {where} has a bad duration: {duration!r}.")
    start = raw.get("startDate")
    children = raw.get("subContributions") or []
    if not isinstance(children, list):
        raise IndicoImportError(f"The export's {where} has bad subContributions.")
    return IndicoItem(
        title=str(raw["title"]).strip()[:300],
        starts_at=_datetime(start, f"{where}'s startDate") if start else None,
        duration_minutes=duration or None,
        description=str(raw.get("description") or ""),
        speakers=[_speaker(s) for s in raw.get("speakers") or [] if isinstance(s, dict)],
        children=[_item(child, f"{where}, part {j + 1}") for j, child in enumerate(children)],
    )


def _speaker(raw: dict[str, Any]) -> IndicoSpeaker:
    first, last = str(raw.get("first_name") or "").strip(), str(raw.get("last_name") or "").strip()
    if first or last:
        name = f"{first} {last}".strip()
    else:
        # Indico writes fullName as "Last, First".
        full = str(raw.get("fullName") or raw.get("name") or "").strip()
        last, _, first = full.partition(",")
        name = f"{first.strip()} {last.strip()}".strip()
    return IndicoSpeaker(name=name[:200], affiliation=str(raw.get("affiliation") or "").strip()[:200])


def _datetime(raw: Any, where: str) -> datetime.datetime:
    try:
        zone = zoneinfo.ZoneInfo(raw["tz"])
        date = datetime.date.fromisoformat(raw["date"])
        clock = datetime.time.fromisoformat(raw["time"])
    except (TypeError, KeyError, ValueError, zoneinfo.ZoneInfoNotFoundError):
        raise IndicoImportError(f"The export's {where} is not a date, time and time zone.") from None
    return datetime.datetime.combine(date, clock, tzinfo=zone).astimezone(datetime.UTC)


def import_timetable(meeting: Meeting, event: IndicoEvent) -> int:
    """Replace the meeting's timetable with the event's contributions; returns how many items were made.

    Speakers become people (found by name and affiliation, or created); a part titled "Stream A…" is
    linked to stream A. Refused when the event is on another day than the meeting.
    """
    event_day = event.starts_at.astimezone(meeting.zone).date()
    if event_day != meeting.local_date:
        raise IndicoImportError(
            f"The Indico event is on {event_day:%Y-%m-%d}, this meeting on {meeting.local_date:%Y-%m-%d}: "
            "import it into the meeting of that day."
        )
    streams = {stream.letter: stream for stream in Stream.objects.all()}
    count = 0
    with transaction.atomic():
        meeting.timetable_items.all().delete()
        for position, item in enumerate(event.items):
            parent = _create(meeting, item, position, None, streams)
            count += 1
            for sub_position, child in enumerate(item.children):
                _create(meeting, child, sub_position, parent, streams)
                count += 1
        if event.url and not meeting.indico_url:
            meeting.indico_url = event.url[:200]
            meeting.save(update_fields=["indico_url", "updated_at"])
    return count


def _create(
    meeting: Meeting, item: IndicoItem, position: int, parent: TimetableItem | None, streams: dict
) -> TimetableItem:
    speaker = None
    if item.speakers and item.speakers[0].name:
        first = item.speakers[0]
        speaker, _ = Person.objects.get_or_create(name=first.name, affiliation=first.affiliation)
    match = STREAM_TITLE.match(item.title)
    return TimetableItem.objects.create(
        meeting=meeting,
        parent=parent,
        position=position,
        title=item.title,
        starts_at=item.starts_at,
        duration_minutes=item.duration_minutes,
        speaker=speaker,
        stream=streams.get(match.group(1).upper()) if match else None,
        description=item.description,
    )
