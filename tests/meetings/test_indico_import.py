"""Importing a meeting's timetable from an Indico event's JSON export, from a file or a (bounded) URL."""

import contextlib
import datetime
import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from meetings import indico
from meetings.models import Person, TimetableItem
from tests.meetings.meeting_factories import make_meeting, make_series, zurich

pytestmark = pytest.mark.django_db

EXPORT = Path(__file__).parent / "data" / "indico_event_2020-03-18.json"
# The same kind of meeting exported with detail=sessions: its round table is a session whose block holds the
# streams' contributions (listed out of time order, as Indico may), one with a subcontribution.
SESSIONS_EXPORT = Path(__file__).parent / "data" / "indico_event_2020-03-18_sessions.json"
EXPORT_LIMIT = 2 * 1024 * 1024  # INDICO_EXPORT_MAX_BYTES by default
UTC = datetime.UTC


@pytest.fixture
def meeting():
    return make_meeting(make_series(), zurich(2020, 3, 18))


def upload(content: bytes, name: str = "event.json") -> SimpleUploadedFile:
    return SimpleUploadedFile(name, content, content_type="application/json")


def timetable(meeting) -> list[tuple]:
    rows = []
    for item in meeting.timetable_items.filter(parent__isnull=True).order_by("position"):
        local = item.starts_at.astimezone(meeting.zone).strftime("%H:%M")
        rows.append((local, item.title, item.duration_minutes))
        rows += [("", f"  {c.title}", str(c.speaker or "")) for c in item.children.order_by("position")]
    return rows


def test_indico_export_file_imports_the_timetable(client_for, coordinator, meeting):
    response = client_for(coordinator).post(
        f"/meetings/{meeting.pk}/indico/", {"file": upload(EXPORT.read_bytes())}
    )

    assert response.status_code == 302
    assert timetable(meeting) == [
        ("14:00", "News", 10),
        ("", "  ESCAPE rocketchat as tool for a discussion forum", "Paul Millar (DESY)"),
        ("14:10", "Round Table", 40),
        ("", "  Stream A: prototyping and demonstration", ""),
        ("", "  Stream B: engagement with experiments", ""),
        ("", "  Stream C: software development", ""),
        ("14:50", "AOB", 10),
    ]
    news = meeting.timetable_items.get(title="News")
    assert news.starts_at == datetime.datetime(2020, 3, 18, 13, 0, tzinfo=UTC)
    round_table = meeting.timetable_items.get(title="Round Table")
    assert [c.stream.letter for c in round_table.children.order_by("position")] == ["A", "B", "C"]
    meeting.refresh_from_db()
    assert meeting.indico_url == "https://indico.example.org/event/902357/"
    assert Person.objects.get(name="Paul Millar").affiliation == "DESY"


def test_importing_twice_replaces_the_timetable_and_reuses_the_speaker(client_for, coordinator, meeting):
    client = client_for(coordinator)
    for _ in range(2):
        client.post(f"/meetings/{meeting.pk}/indico/", {"file": upload(EXPORT.read_bytes())})
    assert meeting.timetable_items.count() == 7
    assert Person.objects.filter(name="Paul Millar").count() == 1


def broken(change, export: Path = EXPORT) -> bytes:
    document = json.loads(export.read_bytes())
    change(document)
    return json.dumps(document).encode()


def broken_sessions(change) -> bytes:
    return broken(change, SESSIONS_EXPORT)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"<html>Login required</html>", "This is not JSON"),
        (b'{"results": []}', "No event in this export"),
        (broken(lambda d: d["results"][0].pop("contributions")), "export it with detail=contributions"),
        (
            broken(lambda d: d["results"][0]["contributions"][0].update(title="")),
            "contribution 1 has no title",
        ),
        (broken(lambda d: d["results"][0]["contributions"][0].update(duration="forty")), "bad duration"),
        (
            broken(lambda d: d["results"][0]["contributions"][1]["startDate"].update(tz="Mars/Olympus")),
            "contribution 2's startDate is not a date, time and time zone",
        ),
        (
            broken(lambda d: d["results"][0]["startDate"].update(date="2020-04-01")),
            "The Indico event is on 2020-04-01, this meeting on 2020-03-18",
        ),
        # A time zone that is no name of the zone database, however long, is not one.
        (
            broken(
                lambda d: d["results"][0]["contributions"][1]["startDate"].update(tz="Europe/" + "x" * 5000)
            ),
            "contribution 2's startDate is not a date, time and time zone",
        ),
        (
            broken(lambda d: d["results"][0]["startDate"].update(tz=["Europe/Zurich"])),
            "the event's startDate is not a date, time and time zone",
        ),
        # Late in year 9999 on a clock behind UTC, UTC is already in year 10000.
        (
            broken(
                lambda d: d["results"][0]["contributions"][1]["startDate"].update(
                    date="9999-12-31", time="23:00:00", tz="Pacific/Pago_Pago"
                )
            ),
            "contribution 2's startDate is in 9999: a meeting starts between 2000 and 2199.",
        ),
        (
            broken(lambda d: d["results"][0]["startDate"].update(date="0001-01-01", tz="Pacific/Kiritimati")),
            "the event's startDate is in 1: a meeting starts between 2000 and 2199.",
        ),
        (
            broken_sessions(lambda d: d["results"][0].update(sessions={"title": "Round table"})),
            "The export's sessions are not a list.",
        ),
        (
            broken_sessions(lambda d: d["results"][0]["sessions"][0].pop("contributions")),
            "The export's session 1 has no list of contributions.",
        ),
        (
            broken_sessions(lambda d: d["results"][0]["sessions"][0]["contributions"][1].update(title=" ")),
            "The export's session 1, contribution 2 has no title.",
        ),
        (
            broken_sessions(
                lambda d: d["results"][0]["sessions"][0]["contributions"][1]["subContributions"][0].update(
                    duration=-5
                )
            ),
            "session 1, contribution 2, part 1 has a bad duration: -5.",
        ),
        (
            broken_sessions(
                lambda d: d["results"][0]["sessions"][0].update(
                    contributions=[],
                    endDate={"date": "2020-03-18", "time": "14:00:00", "tz": "Europe/Zurich"},
                )
            ),
            "The export's session 1 has a bad duration: -10.",
        ),
    ],
)
def test_a_bad_export_is_refused_with_the_reason_and_changes_nothing(
    client_for, coordinator, meeting, content, message
):
    before = list(meeting.timetable_items.values_list("pk", "title"))
    response = client_for(coordinator).post(f"/meetings/{meeting.pk}/indico/", {"file": upload(content)})
    assert response.status_code == 200
    assert message in response.content.decode().replace("&#x27;", "'")
    assert list(meeting.timetable_items.values_list("pk", "title")) == before


def test_an_export_with_sessions_imports_every_contribution_in_time_order(client_for, coordinator, meeting):
    response = client_for(coordinator).post(
        f"/meetings/{meeting.pk}/indico/", {"file": upload(SESSIONS_EXPORT.read_bytes())}
    )

    assert response.status_code == 302
    assert timetable(meeting) == [
        ("14:00", "News", 10),
        ("14:10", "Stream A: prototyping and demonstration", 15),
        ("", "  LOFAR workflow on a desktop", "Aleem Sarwar"),
        ("14:25", "Stream B: engagement with experiments", 10),
        ("14:35", "Stream C: software development", 15),
        ("14:50", "AOB", 10),
    ]
    streams = meeting.timetable_items.filter(stream__isnull=False).order_by("position")
    assert [(item.stream.letter, str(item.speaker)) for item in streams] == [
        ("A", "Aris Fkiaras (CERN)"),
        ("B", "Aleem Sarwar"),
        ("C", "Martin Barisits (CERN)"),
    ]
    assert meeting.timetable_items.count() == 6
    meeting.refresh_from_db()
    assert meeting.indico_url == "https://indico.example.org/event/902361/"


def test_a_session_block_without_contributions_is_imported_as_an_item(client_for, coordinator, meeting):
    content = broken_sessions(lambda d: d["results"][0]["sessions"][0].update(contributions=[]))
    response = client_for(coordinator).post(f"/meetings/{meeting.pk}/indico/", {"file": upload(content)})
    assert response.status_code == 302
    assert timetable(meeting) == [("14:00", "News", 10), ("14:10", "Round table", 40), ("14:50", "AOB", 10)]


def test_give_a_file_or_an_address_not_both(client_for, coordinator, meeting):
    response = client_for(coordinator).post(
        f"/meetings/{meeting.pk}/indico/",
        {"file": upload(EXPORT.read_bytes()), "url": "https://indico.example/x"},
    )
    assert "Give either the export file or its address" in response.content.decode()
    assert meeting.timetable_items.filter(title="Round Table").count() == 0


# --- from a URL, on a real HTTP server on the loopback --------------------------------------------------------
class IndicoStandIn(BaseHTTPRequestHandler):
    """Answers like Indico's export API, and misbehaves on purpose on some paths."""

    paths_asked: list[str] = []  # every request any test made, to show when none was made

    def do_GET(self):
        IndicoStandIn.paths_asked.append(self.path)
        port = self.server.server_address[1]
        if self.path.startswith("/export/event/902357.json"):
            self._send(EXPORT.read_bytes())
        elif self.path == "/huge.json":
            self._send(b" " * (EXPORT_LIMIT + 1))
        elif self.path == "/huge-undeclared.json":
            # No Content-Length: the size is only known by reading; the import must stop at the limit.
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            chunk = b" " * 65536
            for _ in range(EXPORT_LIMIT // len(chunk) + 2):
                self.wfile.write(chunk)
        elif self.path == "/slow.json":
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            for _ in range(30):
                self.wfile.write(b" ")
                self.wfile.flush()
                time.sleep(0.1)
        elif self.path == "/moved.json":
            self._redirect("/export/event/902357.json?detail=subcontributions")
        elif self.path == "/to-another-host.json":
            # The same server under another name: what matters is that the name differs.
            self._redirect(f"http://localhost:{port}/export/event/902357.json")
        elif self.path == "/to-another-port.json":
            self._redirect("http://127.0.0.1:9/export/event/902357.json")
        elif self.path == "/loop.json":
            self.send_response(302)
            self.send_header("Location", "/loop.json")
            self.end_headers()
        else:
            self.send_response(404)
            self.end_headers()

    def _redirect(self, location: str) -> None:
        self.send_response(302)
        self.send_header("Location", location)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def _send(self, body: bytes) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        # The portal may hang up once it has read what it needed.
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            self.wfile.write(body)

    def log_message(self, *args):
        pass


@contextlib.contextmanager
def stand_in_server() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), IndicoStandIn)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def indico_server(settings) -> Iterator[str]:
    """The stand-in's address, on the allow-list as an explicit http address (as only a test may list one)."""
    with stand_in_server() as address:
        settings.INDICO_ALLOWED_HOSTS = ["indico.cern.ch", address]
        yield address


def test_timetable_imports_from_the_export_address(client_for, coordinator, meeting, indico_server):
    url = f"{indico_server}/export/event/902357.json?detail=subcontributions"
    response = client_for(coordinator).post(f"/meetings/{meeting.pk}/indico/", {"url": url})
    assert response.status_code == 302
    assert [row[1] for row in timetable(meeting) if row[0]] == ["News", "Round Table", "AOB"]


@pytest.mark.parametrize(
    ("path", "message"),
    [
        ("/huge.json", "The export is larger than 2 MB"),
        ("/huge-undeclared.json", "The export is larger than 2 MB"),
        ("/slow.json", "Indico took longer than 1 seconds"),
        ("/loop.json", "Too many redirects."),
        ("/missing.json", "Indico answered 404 Not Found."),
    ],
)
def test_fetching_is_bounded_and_fails_with_a_reason(
    client_for, coordinator, meeting, indico_server, monkeypatch, path, message
):
    monkeypatch.setattr(indico, "TOTAL_TIMEOUT", 1.0)
    before = TimetableItem.objects.count()
    response = client_for(coordinator).post(f"/meetings/{meeting.pk}/indico/", {"url": indico_server + path})
    assert response.status_code == 200
    assert message in response.content.decode()
    assert TimetableItem.objects.count() == before


@pytest.mark.parametrize("url", ["ftp://127.0.0.1/event.json", "file:///etc/passwd", "gopher://x/"])
def test_only_http_and_https_addresses_are_fetched(url):
    with pytest.raises(indico.IndicoImportError, match=r"Only http and https addresses can be fetched\."):
        indico.fetch_export(url)


def test_member_cannot_import(client_for, member, meeting):
    response = client_for(member).post(
        f"/meetings/{meeting.pk}/indico/", {"file": upload(EXPORT.read_bytes())}
    )
    assert response.status_code == 403
    assert not meeting.timetable_items.filter(title="Round Table").exists()


# --- which addresses are fetched at all (INDICO_ALLOWED_HOSTS) ------------------------------------------------
def test_the_default_allow_list_is_indico_at_cern_over_https():
    assert indico.check_address("https://indico.cern.ch/export/event/902357.json?detail=subcontributions")
    assert indico.check_address("https://INDICO.cern.ch:443/export/event/1.json")
    refused = {
        "http://indico.cern.ch/export/event/1.json": "over https only",
        "https://indico.cern.ch:8443/export/event/1.json": "over https only",
        "https://indico.cern.ch.example.org/export/event/1.json": "only from indico.cern.ch",
        "https://127.0.0.1/export/event/1.json": "only from indico.cern.ch",
        "https://169.254.169.254/latest/meta-data/": "only from indico.cern.ch",
        "https://someone:secret@indico.cern.ch/export/event/1.json": "without a user name or password",
    }
    for url, message in refused.items():
        with pytest.raises(indico.IndicoImportError, match=message):
            indico.check_address(url)


def test_an_address_off_the_allow_list_is_refused_unfetched_and_changes_nothing(
    client_for, coordinator, meeting, indico_server, settings
):
    settings.INDICO_ALLOWED_HOSTS = ["indico.cern.ch"]
    before = list(meeting.timetable_items.values_list("pk", "title"))
    asked = len(IndicoStandIn.paths_asked)
    url = f"{indico_server}/export/event/902357.json?detail=subcontributions"
    response = client_for(coordinator).post(f"/meetings/{meeting.pk}/indico/", {"url": url})
    assert response.status_code == 200
    errors = response.context["form"].errors
    assert errors["url"] == [
        "The portal fetches Indico exports only from indico.cern.ch (setting INDICO_ALLOWED_HOSTS), not from "
        "127.0.0.1. Export the event as a file from Indico and give the file instead."
    ]
    assert f'value="{url.replace("&", "&amp;")}"' in response.content.decode()  # kept in the form
    assert len(IndicoStandIn.paths_asked) == asked
    assert list(meeting.timetable_items.values_list("pk", "title")) == before


def test_plain_http_is_fetched_only_from_an_address_listed_with_http(
    client_for, coordinator, meeting, settings
):
    with stand_in_server() as address:
        settings.INDICO_ALLOWED_HOSTS = [address.removeprefix("http://")]  # listed, but for https
        response = client_for(coordinator).post(
            f"/meetings/{meeting.pk}/indico/", {"url": f"{address}/export/event/902357.json"}
        )
    assert "The portal fetches from 127.0.0.1 over https only" in response.content.decode()
    assert not meeting.timetable_items.filter(title="Round Table").exists()


def test_a_redirect_within_the_host_is_followed(client_for, coordinator, meeting, indico_server):
    response = client_for(coordinator).post(
        f"/meetings/{meeting.pk}/indico/", {"url": f"{indico_server}/moved.json"}
    )
    assert response.status_code == 302
    assert meeting.timetable_items.filter(title="Round Table").exists()


@pytest.mark.parametrize(
    ("path", "message"),
    [
        ("/to-another-host.json", "Indico sent the request on to another site (localhost)"),
        ("/to-another-port.json", "The portal fetches from 127.0.0.1 over https only"),
    ],
)
def test_a_redirect_off_the_host_or_the_allow_list_is_refused(
    client_for, coordinator, meeting, indico_server, settings, path, message
):
    port = indico_server.rsplit(":", 1)[1]
    # Even a host on the allow-list is not followed to: a redirect leaves the address the user gave.
    settings.INDICO_ALLOWED_HOSTS = [indico_server, f"http://localhost:{port}"]
    asked = len(IndicoStandIn.paths_asked)
    response = client_for(coordinator).post(f"/meetings/{meeting.pk}/indico/", {"url": indico_server + path})
    assert message in response.content.decode()
    assert IndicoStandIn.paths_asked[asked:] == [path]
    assert not meeting.timetable_items.filter(title="Round Table").exists()


# --- uploaded files --------------------------------------------------------------------------------------------
def test_an_export_file_over_the_export_limit_is_refused_on_the_form(
    client_for, coordinator, meeting, settings
):
    settings.INDICO_EXPORT_MAX_BYTES = 4096
    response = client_for(coordinator).post(
        f"/meetings/{meeting.pk}/indico/", {"file": upload(EXPORT.read_bytes())}
    )
    assert response.status_code == 200
    assert response.context["form"].errors["file"] == ["The file is too large (6.1 KB): at most 4 KB."]
    assert not meeting.timetable_items.filter(title="Round Table").exists()


def test_an_export_file_over_the_upload_limit_is_refused_on_the_form(
    client_for, coordinator, meeting, settings
):
    settings.UPLOAD_MAX_BYTES = 64 * 1024
    response = client_for(coordinator).post(
        f"/meetings/{meeting.pk}/indico/", {"file": upload(b" " * (100 * 1024) + EXPORT.read_bytes())}
    )
    assert response.context["form"].errors["file"] == ["The file is too large (106.1 KB): at most 64 KB."]
    assert not meeting.timetable_items.filter(title="Round Table").exists()


def test_an_export_nested_too_deeply_is_refused_with_the_reason(client_for, coordinator, meeting):
    response = client_for(coordinator).post(
        f"/meetings/{meeting.pk}/indico/", {"file": upload(b"[" * 200_000)}
    )
    assert response.status_code == 200
    assert "This JSON is nested too deeply to be an Indico export." in response.content.decode()
