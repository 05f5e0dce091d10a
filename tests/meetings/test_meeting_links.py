"""Links a meeting shows (its Indico event, attached links) are https addresses: refused otherwise on the pages,
in the API and from an Indico export, and a link stored before that rule is shown as text, never as a link."""

import json
from pathlib import Path

import pytest
from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import SimpleUploadedFile
from django.template import Context, Template

from common.links import HTTPS_ONLY_MESSAGE, is_https_link
from meetings.models import Meeting, MeetingAttachment
from tests.meetings.meeting_factories import make_meeting, make_series, zurich

pytestmark = pytest.mark.django_db

EXPORT = Path(__file__).parent / "data" / "indico_event_2020-03-18.json"
NOT_HTTPS = [
    "javascript:alert(document.cookie)",
    "JavaScript:alert(1)//https://indico.cern.ch/",
    "http://indico.cern.ch/event/902357/",
    "ftp://indico.cern.ch/event/902357/",
]


@pytest.fixture
def meeting():
    return make_meeting(make_series(), zurich(2020, 3, 18))


def edit_form(meeting: Meeting, **changes) -> dict:
    return {
        "title": meeting.title,
        "date": "2020-03-18",
        "time": "14:00",
        "time_zone": "Europe/Zurich",
        "duration_minutes": 60,
        "location": "",
        "indico_url": "",
        **changes,
    }


@pytest.mark.parametrize(
    ("value", "https"),
    [
        ("https://indico.cern.ch/event/902357/", True),
        ("HTTPS://indico.cern.ch/event/902357/", True),
        (" https://indico.cern.ch/", False),  # a browser drops the space: what follows decides, not this rule
        ("https://", False),
        ("https:///path", False),
        ("https://indico.cern.ch/a b", False),
        ("https://indico.cern.ch/\nx", False),
        *[(value, False) for value in NOT_HTTPS],
        (None, False),
    ],
)
def test_only_an_https_address_is_a_link(value, https):
    assert is_https_link(value) is https


@pytest.mark.parametrize("url", NOT_HTTPS)
def test_the_meeting_form_refuses_a_link_that_is_not_https(client_for, coordinator, meeting, url):
    response = client_for(coordinator).post(
        f"/meetings/{meeting.pk}/edit/", edit_form(meeting, indico_url=url)
    )
    assert response.status_code == 200
    assert response.context["form"].errors["indico_url"][-1] in (HTTPS_ONLY_MESSAGE, "Enter a valid URL.")
    meeting.refresh_from_db()
    assert meeting.indico_url == ""


def test_the_meeting_form_takes_an_https_link(client_for, coordinator, meeting):
    url = "https://indico.cern.ch/event/902357/"
    response = client_for(coordinator).post(
        f"/meetings/{meeting.pk}/edit/", edit_form(meeting, indico_url=url)
    )
    assert response.status_code == 302
    meeting.refresh_from_db()
    assert meeting.indico_url == url


def test_an_http_link_is_refused_with_the_reason_on_the_page(client_for, coordinator, meeting):
    response = client_for(coordinator).post(
        f"/meetings/{meeting.pk}/edit/", edit_form(meeting, indico_url="http://indico.cern.ch/event/902357/")
    )
    assert response.context["form"].errors["indico_url"] == [HTTPS_ONLY_MESSAGE]


@pytest.mark.parametrize("url", ["http://wiki.example/qos", "javascript:alert(1)"])
def test_the_attachment_form_refuses_a_link_that_is_not_https(client_for, coordinator, meeting, url):
    response = client_for(coordinator).post(
        f"/meetings/{meeting.pk}/attachments/new/", {"title": "Wiki page", "url": url}
    )
    assert response.status_code == 200
    assert response.context["form"].errors["url"]
    assert not MeetingAttachment.objects.exists()


def test_the_attachment_form_takes_an_https_link(client_for, coordinator, meeting):
    response = client_for(coordinator).post(
        f"/meetings/{meeting.pk}/attachments/new/", {"title": "Wiki page", "url": "https://wiki.example/qos"}
    )
    assert response.status_code == 302
    assert MeetingAttachment.objects.get().url == "https://wiki.example/qos"


@pytest.mark.parametrize("url", ["http://indico.cern.ch/event/902357/", "javascript:alert(1)"])
def test_the_api_refuses_a_link_that_is_not_https_on_patch_and_on_create(api_for, coordinator, meeting, url):
    client = api_for(coordinator)
    patched = client.patch(f"/api/v1/meetings/{meeting.pk}/", {"indico_url": url}, format="json")
    assert patched.status_code == 400
    assert "indico_url" in patched.json()
    created = client.post(
        "/api/v1/meetings/",
        {"series": "t22", "title": "Next", "starts_at": "2020-04-01T12:00:00Z", "indico_url": url},
        format="json",
    )
    assert created.status_code == 400
    assert "indico_url" in created.json()
    meeting.refresh_from_db()
    assert meeting.indico_url == ""
    assert Meeting.objects.count() == 1


def test_the_api_says_why_an_http_link_is_refused(api_for, coordinator, meeting):
    patched = api_for(coordinator).patch(
        f"/api/v1/meetings/{meeting.pk}/", {"indico_url": "http://indico.cern.ch/event/1/"}, format="json"
    )
    assert patched.json()["indico_url"] == [HTTPS_ONLY_MESSAGE]
    fine = api_for(coordinator).patch(
        f"/api/v1/meetings/{meeting.pk}/", {"indico_url": "https://indico.cern.ch/event/1/"}, format="json"
    )
    assert fine.status_code == 200


def test_the_model_refuses_a_link_that_is_not_https(meeting):
    meeting.indico_url = "http://indico.cern.ch/event/902357/"
    with pytest.raises(ValidationError) as refused:
        meeting.full_clean()
    assert refused.value.message_dict["indico_url"] == [HTTPS_ONLY_MESSAGE]


@pytest.mark.parametrize("url", ["javascript:alert(1)", "http://indico.example.org/event/902357/"])
def test_an_indico_export_whose_event_address_is_not_https_is_refused(client_for, coordinator, meeting, url):
    document = json.loads(EXPORT.read_bytes())
    document["results"][0]["url"] = url
    upload = SimpleUploadedFile("event.json", json.dumps(document).encode(), content_type="application/json")
    response = client_for(coordinator).post(f"/meetings/{meeting.pk}/indico/", {"file": upload})
    assert response.status_code == 200
    page = response.content.decode()
    assert f"The event&#x27;s address in the export ({url}) cannot be the meeting&#x27;s Indico link:" in page
    assert "Give an https address (https://…)" in page
    meeting.refresh_from_db()
    assert meeting.indico_url == ""
    assert not meeting.timetable_items.filter(title="Round Table").exists()


# --- links stored before the rule --------------------------------------------------------------------------------
def test_a_stored_link_that_is_not_https_is_shown_as_text(client_for, member, meeting):
    Meeting.objects.filter(pk=meeting.pk).update(indico_url="javascript:alert(1)")
    MeetingAttachment.objects.create(meeting=meeting, title="Old wiki page", url="http://wiki.example/qos")
    MeetingAttachment.objects.create(meeting=meeting, title="Slides", url="https://wiki.example/slides")

    page = client_for(member).get(f"/meetings/{meeting.pk}/").content.decode()

    assert "Indico: javascript:alert(1)" in page
    assert 'href="javascript' not in page
    assert 'Old wiki page <span class="muted">http://wiki.example/qos</span>' in page
    assert 'href="http://wiki.example' not in page
    assert '<a href="https://wiki.example/slides" rel="noopener noreferrer">Slides</a>' in page


def test_a_stored_link_that_is_not_https_is_not_followed(client_for, member, meeting):
    old = MeetingAttachment.objects.create(meeting=meeting, title="Old", url="javascript:alert(1)")
    new = MeetingAttachment.objects.create(meeting=meeting, title="New", url="https://wiki.example/qos")
    assert client_for(member).get(f"/meetings/attachments/{old.pk}/").status_code == 404
    followed = client_for(member).get(f"/meetings/attachments/{new.pk}/")
    assert (followed.status_code, followed["Location"]) == (302, "https://wiki.example/qos")


def test_the_link_tag_escapes_what_it_shows():
    template = Template("{% https_link url text %}")
    link = template.render(Context({"url": 'https://x.example/"><script>', "text": "<b>"}))
    assert (
        link == '<a href="https://x.example/&quot;&gt;&lt;script&gt;" rel="noopener noreferrer">&lt;b&gt;</a>'
    )
    text = template.render(Context({"url": "javascript:alert('<x>')", "text": ""}))
    assert text == "javascript:alert(&#x27;&lt;x&gt;&#x27;)"
