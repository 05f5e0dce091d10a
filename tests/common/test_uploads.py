"""Files people upload: meeting attachments are limited in size and kind, stored only when accepted, and served
back as downloads no browser runs; requests larger than any form needs are refused unread; the API takes no file.

The Indico export (file and address) has its own tests in test_indico_import.py, the catalogue file in
tests/qos/test_catalogue_io.py.
"""

import json
import os
import socket
import subprocess
import sys
from collections.abc import Iterator

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client

from meetings.models import Meeting, MeetingAttachment
from tests.celery_worker import wait_for
from tests.meetings.meeting_factories import make_meeting, make_series, zurich
from tests.stack import ROOT, VENV_BIN, free_port, listening

pytestmark = pytest.mark.django_db

PDF = b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj <<>> endobj\ntrailer <<>>\n%%EOF\n"
PNG = b"\x89PNG\r\n\x1a\n" + b"\0\0\0\rIHDR" + bytes(17)
PPTX = b"PK\x03\x04" + bytes(60)


@pytest.fixture
def meeting():
    return make_meeting(make_series(), zurich(2020, 3, 18))


def attach(client: Client, meeting: Meeting, name: str, content: bytes, content_type: str = "", **fields):
    upload = SimpleUploadedFile(name, content, content_type=content_type or "application/octet-stream")
    return client.post(
        f"/meetings/{meeting.pk}/attachments/new/",
        {"title": "Slides of the round table", "file": upload, **fields},
    )


# --- what may be attached ----------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("name", "content", "claimed", "stored"),
    [
        ("round-table.pdf", PDF, "text/html", "application/pdf"),
        (
            "stream-a.pptx",
            PPTX,
            "application/octet-stream",
            "application/vnd.openxmlformats-officedocument.presentationml.presentation",
        ),
        ("plot.PNG", PNG, "image/svg+xml", "image/png"),
        (
            "notes.md",
            "# Stream A\n\n* SAFE on CERN-EOS — done\n".encode(),
            "text/html",
            "text/markdown; charset=utf-8",
        ),
        ("output.tar.gz", b"\x1f\x8b\x08\x00" + bytes(16), "", "application/gzip"),
    ],
)
def test_a_document_slides_or_picture_is_attached_and_typed_by_what_it_is(
    client_for, coordinator, meeting, name, content, claimed, stored
):
    response = attach(client_for(coordinator), meeting, name, content, claimed)
    assert response.status_code == 302
    attachment = MeetingAttachment.objects.get()
    assert (attachment.file_name, attachment.content_type, attachment.size) == (name, stored, len(content))
    assert bytes(attachment.data) == content


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("slides.html", b"<html><script>alert(1)</script></html>", "a .html file is not accepted"),
        (
            "logo.svg",
            b'<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>',
            "a .svg file",
        ),
        ("setup.exe", b"MZ\x90\x00\x03", "a .exe file is not accepted"),
        ("run.sh", b"#!/bin/sh\nrm -rf ~\n", "a .sh file is not accepted"),
        ("README", b"plain words", "a file name without an extension is not accepted"),
        ("slides.pdf", b"<!DOCTYPE html><html><script>alert(1)</script>", "This file is not a PDF document"),
        (
            "slides.pdf",
            b"MZ\x90\x00\x03 a program",
            "This file is not a PDF document, though its name ends in .pdf.",
        ),
        ("plot.png", b"GIF89a...", "This file is not a PNG picture"),
        ("notes.txt", b"\xef\xbb\xbf  <!doctype html><script>alert(1)</script>", "it holds a web page"),
        ("notes.txt", b"<svg onload=alert(1)>", "it holds a web page, a script or a program"),
        ("notes.txt", b"#!/usr/bin/env python\nimport os\n", "it holds a web page, a script or a program"),
        ("data.csv", b"MZ\x90\x00\x03\x00\x00\x00", "This file is not a CSV table"),
    ],
)
def test_a_web_page_script_or_program_is_refused_on_the_form_and_nothing_is_stored(
    client_for, coordinator, meeting, name, content, message
):
    response = attach(client_for(coordinator), meeting, name, content, "application/pdf")
    assert response.status_code == 200
    errors = response.context["form"].errors
    assert list(errors) == ["file"]
    assert message in errors["file"][0]
    # What else was typed is still there.
    assert 'value="Slides of the round table"' in response.content.decode()
    assert not MeetingAttachment.objects.exists()


def test_a_file_over_the_upload_limit_is_refused_on_the_form_and_kept_nowhere(
    client_for, coordinator, meeting, settings
):
    settings.UPLOAD_MAX_BYTES = 64 * 1024
    response = attach(client_for(coordinator), meeting, "big.pdf", PDF + bytes(100 * 1024))
    assert response.status_code == 200
    assert response.context["form"].errors == {"file": ["The file is too large (100.1 KB): at most 64 KB."]}
    assert 'value="Slides of the round table"' in response.content.decode()
    assert not MeetingAttachment.objects.exists()


def test_a_file_at_the_upload_limit_is_attached(client_for, coordinator, meeting, settings):
    settings.UPLOAD_MAX_BYTES = 64 * 1024
    content = PDF + bytes(64 * 1024 - len(PDF))
    assert attach(client_for(coordinator), meeting, "exact.pdf", content).status_code == 302
    assert bytes(MeetingAttachment.objects.get().data) == content


def test_the_upload_handler_keeps_none_of_a_file_over_the_limit(rf, settings):
    from common.uploads import TooLargeUpload

    settings.UPLOAD_MAX_BYTES = 1024
    upload = SimpleUploadedFile("big.pdf", PDF + bytes(5000), content_type="application/pdf")
    request = rf.post("/meetings/1/attachments/new/", {"title": "x", "file": upload})
    received = request.FILES["file"]
    assert isinstance(received, TooLargeUpload)
    assert received.size == len(PDF) + 5000
    assert received.read() == b""


def test_a_request_far_over_the_limits_is_refused_unread_with_a_page(
    client_for, coordinator, meeting, settings
):
    settings.UPLOAD_MAX_BYTES = 8 * 1024
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 4 * 1024
    response = attach(client_for(coordinator), meeting, "huge.pdf", PDF + bytes(50 * 1024))
    assert response.status_code == 413
    assert (
        "The file is larger than the portal accepts (at most 8 KB); nothing was saved."
        in response.content.decode()
    )
    assert not MeetingAttachment.objects.exists()


def test_the_limits_and_the_indico_hosts_come_from_the_environment():
    names = [
        "UPLOAD_MAX_BYTES",
        "DATA_UPLOAD_MAX_MEMORY_SIZE",
        "FILE_UPLOAD_MAX_MEMORY_SIZE",
        "INDICO_EXPORT_MAX_BYTES",
        "INDICO_ALLOWED_HOSTS",
    ]
    script = f"import json, django; django.setup(); from django.conf import settings as s; print(json.dumps([getattr(s, n) for n in {names!r}]))"
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "portal.settings",
        "SECRET_KEY": "x" * 50,
        "DEBUG": "0",
        "UPLOAD_MAX_BYTES": "5000000",
        "DATA_UPLOAD_MAX_MEMORY_SIZE": "100000",
        "FILE_UPLOAD_MAX_MEMORY_SIZE": "200000",
        "INDICO_EXPORT_MAX_BYTES": "300000",
        "INDICO_ALLOWED_HOSTS": "indico.cern.ch, indico.example.org:8443",
    }
    shown = subprocess.run(
        [sys.executable, "-c", script], env=env, capture_output=True, text=True, check=True
    ).stdout
    assert json.loads(shown) == [
        5000000,
        100000,
        200000,
        300000,
        ["indico.cern.ch", "indico.example.org:8443"],
    ]


# --- behind gunicorn: a refusal closes the connection -----------------------------------------------------------
@pytest.fixture
def gunicorn_portal(tmp_path) -> Iterator[int]:
    """The portal under gunicorn as the Procfile starts it (gunicorn.conf.py, gthread), on a free port."""
    port = free_port()
    env = {
        name: value for name, value in os.environ.items() if not name.startswith(("GUNICORN_", "PROMETHEUS_"))
    }
    env.update(
        DJANGO_SETTINGS_MODULE="tests.settings",
        BIND=f"127.0.0.1:{port}",
        WEB_CONCURRENCY="1",
        GUNICORN_THREADS="2",
        HOME=str(tmp_path),
        LOG_FORMAT="plain",
    )
    log = (tmp_path / "gunicorn.log").open("wb")
    process = subprocess.Popen(
        [str(VENV_BIN / "gunicorn"), "-c", "gunicorn.conf.py"],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        wait_for(lambda: process.poll() is not None or listening(port), timeout=60, what="gunicorn to listen")
        assert process.poll() is None, (tmp_path / "gunicorn.log").read_text()
        yield port
    finally:
        process.terminate()
        process.wait(timeout=30)
        log.close()


def response_head(sock: socket.socket) -> str:
    received = b""
    while b"\r\n\r\n" not in received:
        chunk = sock.recv(65536)
        if not chunk:
            break
        received += chunk
    return received.partition(b"\r\n\r\n")[0].decode("latin-1")


def test_a_body_refused_unread_is_answered_with_connection_close_behind_gunicorn(gunicorn_portal):
    """gunicorn drains at most 64 KiB of an unread body and then closes: it must not have said keep-alive."""
    with socket.create_connection(("127.0.0.1", gunicorn_portal), timeout=20) as sock:
        sock.sendall(
            b"POST /api/v1/meetings/ HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
            b"Content-Length: 50000000\r\n\r\n" + b'{"title": "' + b"x" * 100_000
        )
        head = response_head(sock)
    assert head.startswith("HTTP/1.1 413")
    assert "\r\nConnection: close" in head


def test_a_request_within_the_limits_keeps_the_connection_behind_gunicorn(gunicorn_portal):
    with socket.create_connection(("127.0.0.1", gunicorn_portal), timeout=20) as sock:
        sock.sendall(b"GET /static/css/portal.css HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        head = response_head(sock)
    assert head.startswith("HTTP/1.1 200")
    assert "\r\nConnection: keep-alive" in head


# --- handing a file back ---------------------------------------------------------------------------------------
def test_an_attachment_is_served_as_a_sandboxed_download_never_inline(
    client_for, coordinator, member, meeting
):
    assert attach(client_for(coordinator), meeting, "round-table.pdf", PDF, "text/html").status_code == 302
    attachment = MeetingAttachment.objects.get()
    download = client_for(member).get(f"/meetings/attachments/{attachment.pk}/")
    assert download.status_code == 200
    assert download["Content-Type"] == "application/pdf"
    assert download["Content-Disposition"] == 'attachment; filename="round-table.pdf"'
    assert download["X-Content-Type-Options"] == "nosniff"
    assert download["Content-Security-Policy"] == "default-src 'none'; sandbox"
    assert "private" in download["Cache-Control"]
    assert download.content == PDF


def test_a_file_stored_before_the_checks_is_served_as_opaque_bytes(client_for, member, meeting):
    """An HTML file attached before kinds were checked keeps its name, but not the type it claimed."""
    html = MeetingAttachment.objects.create(
        meeting=meeting,
        title="Old",
        file_name="slides.html",
        content_type="text/html",
        data=b"<script>1</script>",
    )
    download = client_for(member).get(f"/meetings/attachments/{html.pk}/")
    assert download["Content-Type"] == "application/octet-stream"
    assert download["Content-Disposition"] == 'attachment; filename="slides.html"'
    assert download["X-Content-Type-Options"] == "nosniff"
    assert download["Content-Security-Policy"] == "default-src 'none'; sandbox"


def test_only_members_download_attachments(client, client_for, outsider, meeting):
    attachment = MeetingAttachment.objects.create(
        meeting=meeting, title="Slides", file_name="a.pdf", content_type="application/pdf", data=PDF
    )
    url = f"/meetings/attachments/{attachment.pk}/"
    assert client_for(outsider).get(url).status_code == 403
    anonymous = client.get(url)
    assert anonymous.status_code == 302 and anonymous["Location"].startswith("/accounts/login/")
    assert client_for(outsider).get("/meetings/attachments/999999/").status_code == 403


def test_only_coordinators_attach(client_for, member, liaison_cta, meeting):
    for user in (member, liaison_cta):
        assert attach(client_for(user), meeting, "a.pdf", PDF).status_code == 403
    assert not MeetingAttachment.objects.exists()


# --- the API takes JSON, not files ----------------------------------------------------------------------------
def test_the_api_refuses_a_file_with_400_and_stores_nothing(api_for, coordinator):
    series = make_series()
    upload = SimpleUploadedFile("slides.pdf", PDF, content_type="application/pdf")
    response = api_for(coordinator).post(
        "/api/v1/meetings/",
        {"series": series.slug, "title": "With a file", "starts_at": "2026-03-18T13:00:00Z", "file": upload},
        format="multipart",
    )
    assert response.status_code == 400
    assert response.json() == {"detail": "No operation of this API takes a file: send JSON."}
    assert not Meeting.objects.exists()


def test_the_api_still_takes_a_form_without_a_file(api_for, coordinator):
    series = make_series()
    response = api_for(coordinator).post(
        "/api/v1/meetings/",
        {"series": series.slug, "title": "Browsable API form", "starts_at": "2026-03-18T13:00:00Z"},
        format="multipart",
    )
    assert response.status_code == 201, response.content


def test_a_json_body_over_the_limit_is_refused_unread_with_413(api_for, coordinator, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 10 * 1024
    series = make_series()
    body = {"series": series.slug, "title": "x" * 20_000, "starts_at": "2026-03-18T13:00:00Z"}
    response = api_for(coordinator).post("/api/v1/meetings/", body, format="json")
    assert response.status_code == 413
    assert response.json() == {
        "detail": "The request is larger than the portal accepts (at most 10 KB); nothing was saved."
    }
    assert not Meeting.objects.exists()


def test_json_nested_too_deeply_is_a_400_not_a_server_error(api_for, coordinator):
    response = api_for(coordinator).generic(
        "POST", "/api/v1/meetings/", "[" * 100_000, content_type="application/json"
    )
    assert response.status_code == 400
    assert response.json() == {"detail": "JSON parse error - the document is nested too deeply."}
    # An ordinary syntax error still reads as before.
    broken = api_for(coordinator).generic("POST", "/api/v1/meetings/", "{", content_type="application/json")
    assert broken.status_code == 400 and broken.json()["detail"].startswith("JSON parse error")
