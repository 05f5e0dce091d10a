"""The meetings and actions pages: what they show, who may change what (403 otherwise), forms that keep what
was typed, and Markdown that can never run script."""

import datetime
import re

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from meetings.models import Action, ActionUpdate, Meeting, MeetingAttachment, MinutesSection, Person
from tests.meetings.meeting_factories import (
    make_meeting,
    make_series,
    person_for,
    raise_action,
    stream,
    zurich,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def meeting():
    return make_meeting(make_series(), zurich(2020, 3, 18), title="ESCAPE QoS fortnightly meeting")


@pytest.fixture
def aris():
    return Person.objects.create(name="Aris Fkiaras", affiliation="CERN")


def text_of(response) -> str:
    return re.sub(r"\s+", " ", response.content.decode())


# --- the meeting page ---------------------------------------------------------------------------------------
def test_meeting_page_is_laid_out_like_the_minutes(client_for, member, meeting, aris):
    paul = Person.objects.create(name="Paul Millar", affiliation="DESY")
    meeting.attendees.set([aris, paul])
    news = meeting.timetable_items.get(title="News")
    meeting.timetable_items.create(
        parent=news, title="ESCAPE rocketchat as tool for a discussion forum", speaker=paul
    )
    meeting.minutes_sections.filter(stream=stream("A")).update(
        body="* Wiki page now contains the first draft"
    )
    raised = raise_action(meeting, [aris], "Add the qos key-value pair", stream=stream("A"))
    following = meeting.create_next(by=None)

    page = text_of(client_for(member).get(f"/meetings/{meeting.pk}/"))
    assert "Wednesday 18 March 2020, 14:00\N{EN DASH}15:00 CET" in page
    for heading in (
        "Timetable",
        "Attendees",
        "Minutes",
        "Actions reviewed",
        "Actions raised at this meeting",
    ):
        assert f">{heading}" in page
    assert re.search(r"14:00\N{EN DASH}14:10</th> <td> <strong>News</strong> <span class=\"muted\">10m", page)
    assert "ESCAPE rocketchat as tool for a discussion forum" in page
    assert "— Paul Millar (DESY)" in page
    assert "<li>Wiki page now contains the first draft</li>" in page
    assert "Stream C: software developments" in page
    assert f'href="/actions/{raised.pk}/">#{raised.pk}</a>' in page

    next_page = text_of(client_for(member).get(f"/meetings/{following.pk}/"))
    assert "Wednesday 1 April 2020, 14:00\N{EN DASH}15:00 CEST" in next_page
    reviewed = next_page.split("Actions reviewed")[1].split("Actions raised at this meeting")[0]
    assert "Add the qos key-value pair" in reviewed


def test_times_are_also_shown_in_the_viewers_time_zone(client_for, member, meeting):
    client = client_for(member)
    response = client.post(
        "/meetings/time-zone/", {"time_zone": "America/Chicago", "next": f"/meetings/{meeting.pk}/"}
    )
    assert response.status_code == 302
    assert response["Location"] == f"/meetings/{meeting.pk}/"

    page = text_of(client.get(f"/meetings/{meeting.pk}/"))
    assert "Wednesday 18 March 2020, 14:00\N{EN DASH}15:00 CET" in page
    # Chicago was already on summer time (UTC-5) on 18 March 2020: 13:00 UTC is 08:00 there.
    assert "Your time: Wednesday 18 March 2020, 08:00\N{EN DASH}09:00 CDT" in page
    assert "08:00 CDT" in text_of(client.get("/meetings/"))


def test_an_unknown_time_zone_is_refused_and_an_outside_redirect_ignored(client_for, member, meeting):
    client = client_for(member)
    response = client.post(
        "/meetings/time-zone/", {"time_zone": "Mars/Olympus", "next": "https://evil.example/"}
    )
    assert response["Location"] == "/meetings/"
    assert "Your time" not in text_of(client.get(f"/meetings/{meeting.pk}/"))


SCRIPT = "Hello <script>alert('minutes')</script> and [click me](javascript:alert('link')) and <img src=x onerror=alert(1)>"


@pytest.mark.parametrize("path", ["/meetings/{pk}/", "/meetings/{pk}/print/"])
def test_markdown_with_script_or_javascript_link_renders_inert(client_for, member, meeting, path):
    meeting.minutes_sections.filter(title="News").update(body=SCRIPT)
    meeting.timetable_items.filter(title="AOB").update(description=SCRIPT)

    html = client_for(member).get(path.format(pk=meeting.pk)).content.decode()

    assert "Hello" in html
    assert "<script>alert" not in html
    assert "javascript:" not in html
    assert "onerror" not in html
    assert "click me" in html


def test_printable_minutes_stand_alone(client_for, member, meeting, aris):
    raise_action(meeting, [aris], "Contact CTA and SKA")
    page = text_of(client_for(member).get(f"/meetings/{meeting.pk}/print/"))
    assert "<h1>Minutes for 2020-03-18: ESCAPE QoS fortnightly meeting</h1>" in page
    assert "Contact CTA and SKA" in page
    assert 'class="site-header"' not in page


def test_minutes_export_as_markdown(client_for, member, meeting, aris):
    meeting.minutes_sections.filter(title="News").update(body="Rucio workshop -- mostly remote.")
    raise_action(meeting, [aris], "Contact CTA and SKA", stream=stream("B"))
    response = client_for(member).get(f"/meetings/{meeting.pk}/minutes.md")
    assert response["Content-Type"] == "text/markdown; charset=utf-8"
    assert 'filename="minutes-2020-03-18.md"' in response["Content-Disposition"]
    text = response.content.decode()
    assert text.startswith("# ESCAPE QoS fortnightly meeting, 2020-03-18\n")
    assert "**When:** Wednesday 18 March 2020, 14:00-15:00 CET (Europe/Zurich; 13:00 UTC)" in text
    assert "### News\n\nRucio workshop -- mostly remote.\n" in text
    assert re.search(
        r"- \[ \] #\d+ \(stream B\) \*\*Aris Fkiaras\*\*: Contact CTA and SKA — open, due 2020-04-01", text
    )


# --- permissions ---------------------------------------------------------------------------------------------
def test_anonymous_visitor_is_sent_to_log_in(client, meeting):
    response = client.get(f"/meetings/{meeting.pk}/")
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/")


@pytest.mark.parametrize(
    "path", ["/meetings/", "/meetings/{pk}/", "/actions/", "/people/", "/meetings/{pk}/print/"]
)
def test_user_without_a_role_is_forbidden(client_for, outsider, meeting, path):
    assert client_for(outsider).get(path.format(pk=meeting.pk)).status_code == 403


@pytest.mark.parametrize(
    "path",
    [
        "/meetings/new/",
        "/meetings/series/new/",
        "/meetings/{pk}/edit/",
        "/meetings/{pk}/next/",
        "/meetings/{pk}/minutes/",
        "/meetings/{pk}/timetable/",
        "/meetings/{pk}/indico/",
        "/meetings/{pk}/attachments/new/",
        "/actions/new/",
        "/people/new/",
    ],
)
def test_member_cannot_open_the_coordinators_pages(client_for, member, meeting, path):
    assert client_for(member).get(path.format(pk=meeting.pk)).status_code == 403


def test_member_cannot_change_minutes_or_create_a_meeting(client_for, member, meeting):
    client = client_for(member)
    section = meeting.minutes_sections.first()
    assert (
        client.post(f"/meetings/{meeting.pk}/minutes/", {f"section_{section.pk}": "hacked"}).status_code
        == 403
    )
    assert client.post(f"/meetings/{meeting.pk}/next/", {}).status_code == 403
    assert client.post(f"/meetings/{meeting.pk}/carry-over/").status_code == 403
    section.refresh_from_db()
    assert section.body == ""
    assert Meeting.objects.count() == 1


def test_member_cannot_update_someone_elses_action(client_for, member, meeting, aris):
    action = raise_action(meeting, [aris])
    client = client_for(member)

    page = client.get(f"/actions/{action.pk}/")
    assert page.status_code == 200
    assert "Report progress" not in page.content.decode()
    response = client.post(f"/actions/{action.pk}/", {"status": "done", "text": "not mine"})
    assert response.status_code == 403
    assert client.get(f"/actions/{action.pk}/edit/").status_code == 403
    assert (
        client.post(f"/actions/{action.pk}/edit/", {"text": "changed", "owners": [aris.pk]}).status_code
        == 403
    )

    action.refresh_from_db()
    assert (action.status, action.text) == ("open", "Do the thing")
    assert not ActionUpdate.objects.exists()


def test_owner_updates_their_own_action(client_for, member, meeting):
    mine = raise_action(meeting, [person_for(member)])
    client = client_for(member)
    assert "Report progress" in client.get(f"/actions/{mine.pk}/").content.decode()

    response = client.post(
        f"/actions/{mine.pk}/", {"status": "in_progress", "text": "Asked two sites"}, follow=True
    )

    assert f"Action #{mine.pk} updated: in progress." in text_of(response)
    mine.refresh_from_db()
    assert mine.status == "in_progress"
    update = mine.updates.get()
    assert (update.author, update.text, update.old_status, update.new_status) == (
        member,
        "Asked two sites",
        "open",
        "in_progress",
    )
    # Owners report progress; editing the action itself is for coordinators.
    assert client.get(f"/actions/{mine.pk}/edit/").status_code == 403


def test_an_empty_update_is_refused_with_the_reason(client_for, member, meeting):
    mine = raise_action(meeting, [person_for(member)])
    response = client_for(member).post(f"/actions/{mine.pk}/", {"status": "open", "text": " "})
    assert response.status_code == 200
    assert "Say what happened, or change the status." in response.content.decode()
    assert not ActionUpdate.objects.exists()


# --- coordinators' pages -----------------------------------------------------------------------------------
def test_coordinator_creates_the_next_meeting_with_the_proposed_date(client_for, coordinator, meeting, aris):
    action = raise_action(meeting, [aris], "Add the qos key-value pair")
    client = client_for(coordinator)

    form = client.get(f"/meetings/{meeting.pk}/next/")
    html = form.content.decode()
    assert 'name="date" value="2020-04-01"' in html
    assert 'name="time" value="14:00"' in html
    assert "Add the qos key-value pair" in html

    response = client.post(
        f"/meetings/{meeting.pk}/next/", {"date": "2020-04-01", "time": "14:00", "time_zone": "Europe/Zurich"}
    )
    following = Meeting.objects.get(starts_at=datetime.datetime(2020, 4, 1, 12, 0, tzinfo=datetime.UTC))
    assert response["Location"] == f"/meetings/{following.pk}/"
    assert list(following.action_reviews.values_list("action", flat=True)) == [action.pk]

    again = client.post(
        f"/meetings/{meeting.pk}/next/", {"date": "2020-04-01", "time": "14:00", "time_zone": "Europe/Zurich"}
    )
    assert again.status_code == 200
    assert "already has a meeting at 2020-04-01 14:00 CEST" in again.content.decode()
    assert Meeting.objects.count() == 2
    assert following.action_reviews.count() == 1


def test_minutes_editor_saves_sections_and_raises_an_action_into_one(client_for, coordinator, meeting, aris):
    client = client_for(coordinator)
    sections = {s.title: s for s in meeting.minutes_sections.all()}
    stream_a = sections["Stream A: prototyping and demonstration"]
    data = {f"section_{s.pk}": "" for s in sections.values()}
    data[f"section_{stream_a.pk}"] = "* Wiki page now contains the first draft"

    response = client.post(
        f"/meetings/{meeting.pk}/minutes/",
        {
            **data,
            "action_text": "Add the qos key-value pair to the ESCAPE testbed RSEs",
            "action_owners": [aris.pk],
            "action_section": str(stream_a.pk),
            "raise": "1",
        },
    )

    assert response.status_code == 302
    action = Action.objects.get()
    assert action.raised_at == meeting
    assert action.stream.letter == "A"  # from the section it was noted in
    assert action.due_date == datetime.date(2020, 4, 1)
    stream_a.refresh_from_db()
    assert stream_a.body.startswith("* Wiki page now contains the first draft")
    assert f"**Action #{action.pk}** (Aris Fkiaras): Add the qos key-value pair" in stream_a.body


def test_minutes_editor_keeps_what_was_typed_when_the_action_is_incomplete(client_for, coordinator, meeting):
    client = client_for(coordinator)
    news = meeting.minutes_sections.get(title="News")

    response = client.post(
        f"/meetings/{meeting.pk}/minutes/",
        {
            f"section_{news.pk}": "Rucio workshop -- mostly remote.",
            "action_text": "Find volunteer sites",
            "raise": "1",
        },
    )

    assert response.status_code == 200
    html = response.content.decode()
    assert "Give at least one owner." in html
    assert "Rucio workshop -- mostly remote." in html
    assert "Find volunteer sites" in html
    news.refresh_from_db()
    assert news.body == ""
    assert not Action.objects.exists()


def test_coordinator_edits_an_action_and_the_log_says_what_changed(client_for, coordinator, meeting, aris):
    action = raise_action(meeting, [aris], "Contact CTA")
    mario = Person.objects.create(name="Mario Lassnig")
    response = client_for(coordinator).post(
        f"/actions/{action.pk}/edit/",
        {
            "text": "Contact CTA and SKA",
            "owners": [aris.pk, mario.pk],
            "stream": stream("B").pk,
            "raised_at": meeting.pk,
            "due_date": "2020-04-15",
            "note": "SKA too",
        },
    )
    assert response.status_code == 302
    update = action.updates.get()
    assert update.author == coordinator
    assert update.text == "SKA too"
    assert update.changes == {
        "text": ["Contact CTA", "Contact CTA and SKA"],
        "owners": [["Aris Fkiaras (CERN)"], ["Aris Fkiaras (CERN)", "Mario Lassnig"]],
        "stream": [None, "B"],
        "due_date": ["2020-04-01", "2020-04-15"],
    }


def test_action_form_keeps_typed_values_and_creates_nothing_on_error(client_for, coordinator, meeting):
    response = client_for(coordinator).post(
        "/actions/new/", {"text": "Run the document through ATLAS", "due_date": "not a date"}
    )
    assert response.status_code == 200
    html = response.content.decode()
    assert "Run the document through ATLAS" in html
    assert "This field is required." in html
    assert not Action.objects.exists()


def test_actions_board_groups_by_stream_and_status(client_for, member, meeting, aris):
    raise_action(meeting, [aris], "Rucio flag", stream=stream("A"))
    raise_action(meeting, [aris], "ATLAS approval", stream=stream("B")).record_update(
        by=None, status="in_progress"
    )
    raise_action(meeting, [aris], "Old and done", stream=stream("C")).record_update(by=None, status="done")
    client = client_for(member)

    board = text_of(client.get("/actions/"))
    assert "2 actions." in board
    assert "Old and done" not in board  # closed ones only when asked
    row_b = board.split("<strong>B</strong>")[1].split("</tr>")[0]
    cells = row_b.split("<td ")[1:]
    assert "ATLAS approval" in cells[1] and "ATLAS approval" not in cells[0]  # the "In progress" column
    assert cells[1].startswith(
        'data-label="In progress">'
    )  # which a phone, without the column headings, says

    assert "Old and done" in text_of(client.get("/actions/?all=1"))
    only_a = text_of(client.get("/actions/?stream=A"))
    assert "Rucio flag" in only_a and "ATLAS approval" not in only_a


def test_actions_board_filters_mine_and_overdue(client_for, member, meeting, aris):
    raise_action(meeting, [person_for(member)], "Mine and late", due_date=datetime.date(2020, 4, 1))
    raise_action(
        meeting, [aris], "Not mine, not due", due_date=datetime.date.today() + datetime.timedelta(days=3)
    )
    client = client_for(member)
    mine = text_of(client.get("/actions/?mine=true"))
    assert "Mine and late" in mine and "Not mine" not in mine
    overdue = text_of(client.get("/actions/?overdue=true"))
    assert "Mine and late" in overdue and "Not mine" not in overdue
    assert 'class="badge overdue"' in overdue


def test_dashboard_shows_my_open_actions_and_the_overdue_ones(client_for, member, coordinator, meeting, aris):
    me = person_for(member)
    raise_action(
        meeting, [me], "Find volunteer sites", due_date=datetime.date.today() + datetime.timedelta(days=7)
    )
    raise_action(meeting, [me], "Already done").record_update(by=None, status="done")
    raise_action(meeting, [aris], "Someone else's, late", due_date=datetime.date(2020, 4, 1))

    page = text_of(client_for(member).get("/"))
    mine = page.split('id="my-actions-heading"')[1]
    assert "Find volunteer sites" in mine
    assert "Already done" not in mine and "Someone else" not in mine
    # Everyone's overdue actions are the coordinator's part.
    assert 'id="overdue-heading"' not in page
    overdue = text_of(client_for(coordinator).get("/")).split('id="overdue-heading"')[1]
    assert "Someone else&#x27;s, late" in overdue.split('id="my-actions-heading"')[0]


def test_dashboard_says_when_the_account_has_no_person(client_for, member):
    assert "not linked to a person" in client_for(member).get("/").content.decode()


def test_attached_file_is_always_downloaded_never_shown_inline(client_for, coordinator, member, meeting):
    # The browser's claimed type is not what it is served with (HTML files are refused: test_uploads.py).
    upload = SimpleUploadedFile("slides.pdf", b"%PDF-1.4 slides", content_type="text/html")
    response = client_for(coordinator).post(
        f"/meetings/{meeting.pk}/attachments/new/", {"title": "Slides", "file": upload}
    )
    assert response.status_code == 302
    attachment = MeetingAttachment.objects.get()

    download = client_for(member).get(f"/meetings/attachments/{attachment.pk}/")
    assert download["Content-Type"] == "application/pdf"
    assert download["Content-Disposition"] == 'attachment; filename="slides.pdf"'
    assert download["X-Content-Type-Options"] == "nosniff"
    assert download.content == b"%PDF-1.4 slides"
    assert "Slides" in client_for(member).get(f"/meetings/{meeting.pk}/").content.decode()


def test_attachment_needs_a_link_or_a_file_not_both(client_for, coordinator, meeting):
    upload = SimpleUploadedFile("a.pdf", b"%PDF", content_type="application/pdf")
    response = client_for(coordinator).post(
        f"/meetings/{meeting.pk}/attachments/new/",
        {"title": "Both", "url": "https://wiki.example/qos", "file": upload},
    )
    assert "Give either a link or a file (one of the two)." in response.content.decode()
    assert not MeetingAttachment.objects.exists()


def test_coordinator_creates_a_first_meeting_with_the_standard_agenda(client_for, coordinator):
    series = make_series()
    response = client_for(coordinator).post(
        "/meetings/new/",
        {
            "series": series.pk,
            "title": "Kick-off",
            "date": "2020-10-21",
            "time": "14:00",
            "time_zone": "Europe/Zurich",
            "duration_minutes": 60,
        },
    )
    meeting = Meeting.objects.get()
    assert response["Location"] == f"/meetings/{meeting.pk}/"
    assert meeting.starts_at == datetime.datetime(2020, 10, 21, 12, 0, tzinfo=datetime.UTC)
    assert [i.title for i in meeting.timetable_items.filter(parent__isnull=True)] == [
        "News",
        "Round table",
        "AOB",
    ]
    assert MinutesSection.objects.filter(meeting=meeting).count() == 5


def test_a_meeting_without_a_series_is_refused_with_the_reason(client_for, coordinator):
    make_series()
    response = client_for(coordinator).post(
        "/meetings/new/",
        {
            "title": "Kick-off",
            "date": "2020-10-21",
            "time": "14:00",
            "time_zone": "Europe/Zurich",
            "duration_minutes": 60,
        },
    )
    assert response.status_code == 200
    assert "This field is required." in response.content.decode()
    assert not Meeting.objects.exists()


def test_timetable_editor_saves_local_times(client_for, coordinator, meeting):
    items = list(meeting.timetable_items.all())
    data = {
        "form-TOTAL_FORMS": str(len(items) + 1),
        "form-INITIAL_FORMS": str(len(items)),
        "form-MIN_NUM_FORMS": "0",
        "form-MAX_NUM_FORMS": "1000",
    }
    for index, item in enumerate(items):
        local = item.starts_at.astimezone(meeting.zone).strftime("%H:%M") if item.starts_at else ""
        data.update(
            {
                f"form-{index}-id": str(item.pk),
                f"form-{index}-position": str(item.position),
                f"form-{index}-title": item.title,
                f"form-{index}-start": local,
                f"form-{index}-duration_minutes": str(item.duration_minutes or ""),
                f"form-{index}-parent": str(item.parent_id or ""),
            }
        )
    new = len(items)
    data.update({f"form-{new}-position": "3", f"form-{new}-title": "Wrap-up", f"form-{new}-start": "14:55",
                 f"form-{new}-duration_minutes": "5"})  # fmt: skip

    response = client_for(coordinator).post(f"/meetings/{meeting.pk}/timetable/", data)

    assert response.status_code == 302, response.content.decode()[:2000]
    wrap_up = meeting.timetable_items.get(title="Wrap-up")
    assert wrap_up.starts_at == datetime.datetime(2020, 3, 18, 13, 55, tzinfo=datetime.UTC)


def test_timetable_editor_lists_sub_items_under_their_item_and_one_empty_row(
    client_for, coordinator, meeting
):
    response = client_for(coordinator).get(f"/meetings/{meeting.pk}/timetable/")
    formset = response.context["formset"]
    titles = [form.instance.title for form in formset.forms]
    streams = [str(s) for s in meeting.timetable_items.get(title="Round table").children.order_by("position")]
    assert titles == ["News", "Round table", *streams, "AOB", ""]
    assert formset.total_form_count() == formset.initial_form_count() + 1
    page = text_of(response)
    assert page.count('<tr class="sub-item">') == len(streams)


def test_the_meeting_page_links_to_the_next_meeting_or_offers_to_create_it(client_for, coordinator, meeting):
    page = text_of(client_for(coordinator).get(f"/meetings/{meeting.pk}/"))
    assert f'href="/meetings/{meeting.pk}/next/">Create next meeting</a>' in page
    following = make_meeting(meeting.series, zurich(2020, 4, 1))
    page = text_of(client_for(coordinator).get(f"/meetings/{meeting.pk}/"))
    assert "Create next meeting" not in page
    assert f'<a class="button" href="/meetings/{following.pk}/">Next meeting: 2020-04-01</a>' in page


def test_a_liaison_of_one_experiment_finds_it_chosen_for_a_new_action(client_for, coordinator, experiments):
    assert client_for(coordinator).get("/actions/new/").context["form"]["experiment"].value() is None
    experiments["CTA"].liaisons.add(coordinator)
    form = client_for(coordinator).get("/actions/new/").context["form"]
    assert form["experiment"].value() == experiments["CTA"].pk
    assert f'<option value="{experiments["CTA"].pk}" selected>CTA</option>' in str(form["experiment"])
    # A liaison of two chooses.
    experiments["SKA"].liaisons.add(coordinator)
    assert client_for(coordinator).get("/actions/new/").context["form"]["experiment"].value() is None


def test_person_feed_address_is_shown_to_the_person_only(client_for, member, liaison_cta):
    me = person_for(member)
    assert "/calendar/" in client_for(member).get(f"/people/{me.pk}/").content.decode()
    assert "/calendar/" not in client_for(liaison_cta).get(f"/people/{me.pk}/").content.decode()
