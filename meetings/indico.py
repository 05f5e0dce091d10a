"""Import a meeting's timetable from an Indico event's JSON export.

Indico's HTTP export API (``/export/event/<id>.json?detail=subcontributions``) answers
``{"results": [{"title", "url", "startDate": {"date", "time", "tz"}, "contributions": [...]}]}``; each
contribution has a ``startDate``, a ``duration`` in minutes, ``speakers`` (``first_name``, ``last_name``,
``fullName`` as "Last, First", ``affiliation``), a ``description`` and, at that detail level,
``subContributions``. With ``detail=sessions``, ``contributions`` holds only those outside any session, and
``sessions`` lists the sessions' blocks (``SessionSlot``: ``title``, ``startDate``, ``endDate``), each with its
own ``contributions`` (with their ``subContributions``). See
https://docs.getindico.io/en/stable/http-api/exporters/event/.

Nothing of an event is left out: every contribution, in a session or not, becomes an item of the timetable in
time order (a session block without contributions becomes one itself), or the whole import is refused with the
reason.

Fetching from a URL is bounded because the address comes from a user and the request is made by the server:
only hosts on ``INDICO_ALLOWED_HOSTS`` (https; http only to an address listed with it), redirects within the
same host only and few of them, a timeout, and a size limit (``INDICO_EXPORT_MAX_BYTES``).
"""

from __future__ import annotations

import datetime
import json
import re
import time
import zoneinfo
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import SplitResult, urljoin, urlsplit

import requests
from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction

from common.uploads import size_text

from .models import MEETING_YEARS, Meeting, Person, Stream, TimetableItem, known_time_zones

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


DEFAULT_PORTS = {"http": 80, "https": 443}


def max_export_bytes() -> int:
    return settings.INDICO_EXPORT_MAX_BYTES


def _origin(parts: SplitResult) -> tuple[str, str, int]:
    """(scheme, host, port) of an address, the port made explicit; ValueError if it has no valid port."""
    return parts.scheme, (parts.hostname or "").lower(), parts.port or DEFAULT_PORTS.get(parts.scheme, 0)


def allowed_origins() -> set[tuple[str, str, int]]:
    """The (scheme, host, port) that exports may be fetched from, by INDICO_ALLOWED_HOSTS: a bare host (or
    host:port) over https; an entry written with http:// allows that one address over plain http too."""
    origins = set()
    for entry in settings.INDICO_ALLOWED_HOSTS:
        parts = urlsplit(entry if "://" in entry else f"https://{entry}")
        try:
            origins.add(_origin(parts))
        except ValueError:
            continue  # a port that is not a number matches no address
    return origins


def check_address(url: str) -> str:
    """Refuse (IndicoImportError, saying why) an address the portal does not fetch exports from."""
    parts = urlsplit(url)
    if parts.scheme not in DEFAULT_PORTS:
        raise IndicoImportError("Only http and https addresses can be fetched.")
    if parts.username or parts.password:
        raise IndicoImportError("Give the export's address without a user name or password in it.")
    try:
        origin = _origin(parts)
    except ValueError:
        raise IndicoImportError("This address has no valid port.") from None
    allowed = allowed_origins()
    if origin in allowed:
        return url
    hosts = ", ".join(sorted({host for _, host, _ in allowed})) or "no host"
    if any(host == origin[1] for _, host, _ in allowed):
        raise IndicoImportError(
            f"The portal fetches from {origin[1]} over https only, on the port it is listed with "
            "(setting INDICO_ALLOWED_HOSTS): give its https address."
        )
    raise IndicoImportError(
        f"The portal fetches Indico exports only from {hosts} (setting INDICO_ALLOWED_HOSTS), not from "
        f"{origin[1] or 'this address'}. Export the event as a file from Indico and give the file instead."
    )


def fetch_export(url: str) -> bytes:
    """GET an export from Indico: from an allowed host only, following redirects within that host (at most
    MAX_REDIRECTS), at most INDICO_EXPORT_MAX_BYTES, within TOTAL_TIMEOUT seconds."""
    address = check_address(url)
    host = urlsplit(url).hostname
    limit = max_export_bytes()
    deadline = time.monotonic() + TOTAL_TIMEOUT
    session = requests.Session()
    try:
        for _ in range(MAX_REDIRECTS + 1):
            # Redirects are followed here, not by requests, so that each target is checked first.
            with session.get(
                address,
                stream=True,
                allow_redirects=False,
                timeout=(CONNECT_TIMEOUT, TOTAL_TIMEOUT),
                headers={"Accept": "application/json"},
            ) as response:
                if response.is_redirect:
                    address = _redirect_target(address, response.headers["Location"], host)
                    continue
                return _read(response, limit, deadline)
        raise IndicoImportError("Too many redirects.")
    except requests.Timeout:
        raise IndicoImportError(f"Indico did not answer within {TOTAL_TIMEOUT:.0f} seconds.") from None
    except requests.RequestException as error:
        raise IndicoImportError(f"Could not fetch the export: {type(error).__name__}.") from None
    finally:
        session.close()


def _redirect_target(address: str, location: str, host: str | None) -> str:
    """Where a redirect leads: an allowed address of the same host, or IndicoImportError."""
    target = urljoin(address, location)
    target_host = urlsplit(target).hostname
    if target_host != host:
        # Typically the login page of a protected event: the server cannot log in there.
        raise IndicoImportError(
            f"Indico sent the request on to another site ({target_host or target}); the portal follows "
            f"redirects within {host} only. If the event is protected, export it as a file and give the file."
        )
    return check_address(target)


def _read(response: requests.Response, limit: int, deadline: float) -> bytes:
    if response.status_code != 200:
        raise IndicoImportError(f"Indico answered {response.status_code} {response.reason}.")
    declared = response.headers.get("Content-Length")
    if declared and declared.isdigit() and int(declared) > limit:
        raise IndicoImportError(_too_large())
    body = bytearray()
    while True:
        # read1 returns what one socket read brings (iter_content would block until a whole chunk came), so
        # the deadline below holds even against a server that drips a byte at a time: the read timeout alone
        # is per read, not for the whole answer.
        chunk = response.raw.read1(64 * 1024, decode_content=True)
        if not chunk:
            break
        body.extend(chunk)
        if len(body) > limit:
            raise IndicoImportError(_too_large())
        if time.monotonic() > deadline:
            raise IndicoImportError(f"Indico took longer than {TOTAL_TIMEOUT:.0f} seconds to answer.")
    return bytes(body)


def _too_large() -> str:
    return f"The export is larger than {size_text(max_export_bytes())}; is it the right address or file?"


def parse_export(data: bytes) -> IndicoEvent:
    """Read an Indico event export. Raises IndicoImportError saying what is wrong."""
    event = _the_event(_json(data))
    contributions = event.get("contributions")
    if not isinstance(contributions, list):
        raise IndicoImportError(
            "The export has no contributions: export it with detail=contributions (or subcontributions, "
            "or sessions)."
        )
    items = [_item(c, f"contribution {i + 1}") for i, c in enumerate(contributions)]
    items += _session_items(event.get("sessions"))
    items.sort(key=_start_order)
    return IndicoEvent(
        title=str(event.get("title") or ""),
        url=_event_url(event.get("url")),
        starts_at=_datetime(event.get("startDate"), "the event's startDate"),
        time_zone=str(event.get("timezone") or (event.get("startDate") or {}).get("tz") or ""),
        items=items,
    )


def _event_url(raw: Any) -> str:
    """The event's address, which becomes the meeting's link to Indico: refused as the meeting's field
    would refuse it (an https address of at most 200 characters)."""
    url = str(raw or "")
    if url:
        try:
            Meeting._meta.get_field("indico_url").clean(url, None)
        except ValidationError as error:
            raise IndicoImportError(
                f"The event's address in the export ({url[:100]}) cannot be the meeting's Indico link: "
                + " ".join(error.messages)
            ) from None
    return url


def _session_items(sessions: Any) -> list[IndicoItem]:
    """The contributions of the sessions' blocks (detail=sessions); a block without any, as an item itself."""
    if sessions is None:
        return []
    if not isinstance(sessions, list):
        raise IndicoImportError("The export's sessions are not a list.")
    items: list[IndicoItem] = []
    for i, block in enumerate(sessions):
        where = f"session {i + 1}"
        contributions = block.get("contributions") if isinstance(block, dict) else None
        if not isinstance(contributions, list):
            raise IndicoImportError(f"The export's {where} has no list of contributions.")
        if not contributions:
            items.append(_block_item(block, where))
        items += [_item(c, f"{where}, contribution {j + 1}") for j, c in enumerate(contributions)]
    return items


def _block_item(block: dict[str, Any], where: str) -> IndicoItem:
    """A session block as an item: its title, its start, and its length (a block gives its end instead)."""
    start, end = block.get("startDate"), block.get("endDate")
    duration = None
    if start and end:
        length = _datetime(end, f"{where}'s endDate") - _datetime(start, f"{where}'s startDate")
        duration = int(length.total_seconds() // 60)
    return _item({**block, "duration": duration, "subContributions": []}, where)


def _json(data: bytes) -> Any:
    if len(data) > max_export_bytes():
        raise IndicoImportError(_too_large())
    try:
        return json.loads(data)
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise IndicoImportError("This is not JSON: export the event from Indico as .json.") from None
    except RecursionError:
        raise IndicoImportError("This JSON is nested too deeply to be an Indico export.") from None


def _the_event(document: Any) -> dict[str, Any]:
    """The one event of an export."""
    results = document.get("results") if isinstance(document, dict) else None
    if not isinstance(results, list) or not results:
        raise IndicoImportError("No event in this export (its 'results' list is missing or empty).")
    if len(results) > 1:
        raise IndicoImportError("This export holds several events: export only the meeting's event.")
    event = results[0]
    if not isinstance(event, dict):
        raise IndicoImportError("The event in this export is not an object.")
    return event


def _start_order(item: IndicoItem) -> tuple[bool, datetime.datetime]:
    """Items by start, those without one last."""
    return (item.starts_at is None, item.starts_at or datetime.datetime.max.replace(tzinfo=datetime.UTC))


def _item(raw: Any, where: str) -> IndicoItem:
    if not isinstance(raw, dict) or not str(raw.get("title") or "").strip():
        raise IndicoImportError(f"The export's {where} has no title.")
    duration = _duration(raw, where)
    children = _children(raw, where)
    start = raw.get("startDate")
    return IndicoItem(
        title=str(raw["title"]).strip()[:300],
        starts_at=_datetime(start, f"{where}'s startDate") if start else None,
        duration_minutes=duration,
        description=str(raw.get("description") or ""),
        speakers=[_speaker(s) for s in raw.get("speakers") or [] if isinstance(s, dict)],
        children=[_item(child, f"{where}, part {j + 1}") for j, child in enumerate(children)],
    )


def _duration(raw: dict[str, Any], where: str) -> int | None:
    duration = raw.get("duration")
    if duration is not None and (not isinstance(duration, int) or not 0 <= duration <= 24 * 60):
        raise IndicoImportError(f"The export's {where} has a bad duration: {duration!r}.")
    return duration or None


def _children(raw: dict[str, Any], where: str) -> list[Any]:
    children = raw.get("subContributions") or []
    if not isinstance(children, list):
        raise IndicoImportError(f"The export's {where} has bad subContributions.")
    return children


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
        # Only a name of the zone database: anything else could be a path of any length to a file.
        if raw["tz"] not in known_time_zones():
            raise ValueError(raw["tz"])
        zone = zoneinfo.ZoneInfo(raw["tz"])
        date = datetime.date.fromisoformat(raw["date"])
        clock = datetime.time.fromisoformat(raw["time"])
    except (TypeError, KeyError, ValueError):
        raise IndicoImportError(f"The export's {where} is not a date, time and time zone.") from None
    # Also keeps the instant in range: late in year 9999 on a clock behind UTC, UTC is in year 10000.
    if date.year not in MEETING_YEARS:
        raise IndicoImportError(
            f"The export's {where} is in {date.year}: a meeting starts between {MEETING_YEARS.start} and "
            f"{MEETING_YEARS.stop - 1}."
        )
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
            meeting.indico_url = event.url
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
