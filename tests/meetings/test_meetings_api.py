"""The meetings API: streams, people, meetings (with timetable and minutes) and actions, with natural keys,
filters, 400 on bad input, 403 for what a role may not do, and 409 on conflicts."""

import datetime

import pytest

from meetings.models import Action, ActionUpdate, Meeting, Person
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
def series():
    return make_series()


@pytest.fixture
def meeting(series):
    return make_meeting(series, zurich(2020, 3, 18))


@pytest.fixture
def aris():
    return Person.objects.create(name="Aris Fkiaras", affiliation="CERN")


def test_streams_are_looked_up_by_letter(api_for, member):
    client = api_for(member)
    assert [s["letter"] for s in client.get("/api/v1/streams/").json()] == ["A", "B", "C"]
    detail = client.get("/api/v1/streams/B/").json()
    assert detail["name"] == "engagement with experiments"
    assert detail["url"].endswith("/api/v1/streams/B/")


def test_people_carry_the_username_of_their_account(api_for, member, coordinator):
    person_for(member, "Marek Szuba")
    listing = api_for(member).get("/api/v1/people/?username=erin-member").json()
    assert [(p["name"], p["username"]) for p in listing["results"]] == [("Marek Szuba", "erin-member")]

    created = api_for(coordinator).post(
        "/api/v1/people/", {"name": "Paul Millar", "affiliation": "DESY", "username": "carol-coordinator"}
    )
    assert created.status_code == 201, created.json()
    assert Person.objects.get(name="Paul Millar").user == coordinator
    unknown = api_for(coordinator).post("/api/v1/people/", {"name": "X", "username": "nobody"})
    assert unknown.status_code == 400
    assert "username" in unknown.json()


def test_only_those_who_may_change_people_see_and_set_their_address(api_for, member, coordinator):
    person = person_for(member, "Marek Szuba")
    coordinating = api_for(coordinator)
    changed = coordinating.patch(
        f"/api/v1/people/{person.pk}/", {"email": "marek@example.org"}, format="json"
    )
    assert changed.status_code == 200, changed.json()
    assert changed.json()["email"] == "marek@example.org"
    person.refresh_from_db()
    assert person.email == "marek@example.org"
    assert coordinating.get(f"/api/v1/people/{person.pk}/").json()["email"] == "marek@example.org"

    bad = coordinating.patch(f"/api/v1/people/{person.pk}/", {"email": "not an address"}, format="json")
    assert bad.status_code == 400
    assert "email" in bad.json()
    person.refresh_from_db()
    assert person.email == "marek@example.org"

    as_member = api_for(member)
    assert "email" not in as_member.get(f"/api/v1/people/{person.pk}/").json()
    assert all("email" not in row for row in as_member.get("/api/v1/people/").json()["results"])
    refused = as_member.patch(f"/api/v1/people/{person.pk}/", {"email": "x@example.org"}, format="json")
    assert refused.status_code == 403
    person.refresh_from_db()
    assert person.email == "marek@example.org"


def test_member_cannot_create_people(api_for, member):
    assert api_for(member).post("/api/v1/people/", {"name": "X"}).status_code == 403
    assert not Person.objects.exists()


def test_meeting_shows_its_instant_and_its_local_time(api_for, member, meeting, aris):
    raise_action(meeting, [aris])
    following = meeting.create_next(by=None)
    data = api_for(member).get(f"/api/v1/meetings/{following.pk}/").json()
    # DRF answers in the site's zone (Europe/Zurich here); the instant is 12:00 UTC either way.
    assert data["starts_at"] == "2020-04-01T14:00:00+02:00"
    assert data["local_start"] == "2020-04-01T14:00:00+02:00"
    assert data["time_zone"] == "Europe/Zurich"
    assert data["series"] == "t22"
    assert [item["title"] for item in data["timetable"] if item["parent"] is None] == [
        "News",
        "Round table",
        "AOB",
    ]
    assert [s["stream"] for s in data["minutes"]] == [None, "A", "B", "C", None]
    assert len(data["actions_reviewed"]) == 1


def test_coordinator_creates_the_next_meeting_through_the_api(api_for, coordinator, meeting, aris):
    action = raise_action(meeting, [aris])
    client = api_for(coordinator)
    response = client.post(f"/api/v1/meetings/{meeting.pk}/next/", {}, format="json")
    assert response.status_code == 201, response.json()
    assert response.json()["local_start"] == "2020-04-01T14:00:00+02:00"
    assert response.json()["actions_reviewed"] == [action.pk]

    again = client.post(f"/api/v1/meetings/{meeting.pk}/next/", {}, format="json")
    assert again.status_code == 409
    assert "already has a meeting" in again.json()["detail"]
    assert Meeting.objects.count() == 2


def test_member_cannot_create_or_edit_meetings(api_for, member, meeting, series):
    client = api_for(member)
    assert client.post(f"/api/v1/meetings/{meeting.pk}/next/", {}, format="json").status_code == 403
    assert client.patch(f"/api/v1/meetings/{meeting.pk}/", {"title": "x"}, format="json").status_code == 403
    section = meeting.minutes_sections.first()
    body = {"sections": [{"id": section.pk, "body": "hacked"}]}
    assert client.patch(f"/api/v1/meetings/{meeting.pk}/minutes/", body, format="json").status_code == 403
    starts = "2020-04-01T12:00:00Z"
    assert (
        client.post("/api/v1/meetings/", {"series": "t22", "title": "x", "starts_at": starts}).status_code
        == 403
    )
    assert Meeting.objects.count() == 1
    section.refresh_from_db()
    assert section.body == ""


def test_coordinator_creates_a_meeting_and_writes_its_minutes(api_for, coordinator, series):
    client = api_for(coordinator)
    created = client.post(
        "/api/v1/meetings/",
        {"series": "t22", "title": "QoS meeting", "starts_at": "2020-10-21T14:00:00+02:00"},
        format="json",
    )
    assert created.status_code == 201, created.json()
    data = created.json()
    assert data["local_start"] == "2020-10-21T14:00:00+02:00"
    news = next(s for s in data["minutes"] if s["title"] == "News")

    patched = client.patch(
        f"/api/v1/meetings/{data['id']}/minutes/",
        {"sections": [{"id": news["id"], "body": "Rucio workshop -- mostly remote."}]},
        format="json",
    )
    assert patched.status_code == 200, patched.json()
    minutes = client.get(f"/api/v1/meetings/{data['id']}/minutes/").json()
    assert "### News\n\nRucio workshop -- mostly remote." in minutes["markdown"]

    bad = client.patch(
        f"/api/v1/meetings/{data['id']}/minutes/", {"sections": [{"id": 999999, "body": "x"}]}, format="json"
    )
    assert bad.status_code == 400


def test_meeting_at_a_taken_time_is_refused(api_for, coordinator, meeting):
    response = api_for(coordinator).post(
        "/api/v1/meetings/",
        {"series": "t22", "title": "dup", "starts_at": "2020-03-18T13:00:00Z"},
        format="json",
    )
    assert response.status_code == 400
    assert "already has a meeting" in str(response.json())


# --- actions ------------------------------------------------------------------------------------------------
@pytest.fixture
def actions(meeting, aris, member):
    me = person_for(member)
    return {
        "a": raise_action(meeting, [aris], "Add the qos key-value pair", stream=stream("A")),
        "b": raise_action(
            meeting, [me], "Contact CTA and SKA", stream=stream("B"), due_date=datetime.date(2020, 4, 15)
        ),
        "done": raise_action(meeting, [aris, me], "Rucio work plan", stream=stream("C")),
    }


def ids(response) -> set[int]:
    assert response.status_code == 200, response.json()
    return {row["id"] for row in response.json()["results"]}


def test_actions_filter_by_owner_stream_status_and_due(api_for, member, actions, aris):
    actions["done"].record_update(by=None, status="done")
    client = api_for(member)
    a, b, done = actions["a"].pk, actions["b"].pk, actions["done"].pk

    assert ids(client.get(f"/api/v1/actions/?owner={aris.pk}")) == {a, done}
    assert ids(client.get("/api/v1/actions/?owner=erin-member")) == {b, done}
    assert ids(client.get("/api/v1/actions/?mine=true")) == {b, done}
    assert ids(client.get("/api/v1/actions/?stream=B")) == {b}
    assert ids(client.get("/api/v1/actions/?status=open")) == {a, b}
    assert ids(client.get("/api/v1/actions/?status=open&status=done")) == {a, b, done}
    assert ids(client.get("/api/v1/actions/?due=2020-04-15")) == {b}
    assert ids(client.get("/api/v1/actions/?due_before=2020-04-01")) == {a, done}
    assert ids(client.get("/api/v1/actions/?overdue=true")) == {a, b}


@pytest.mark.parametrize("query", ["stream=Z", "status=finished", "due=yesterday", "due_before=2020-13-01"])
def test_bad_filters_answer_400(api_for, member, actions, query):
    assert api_for(member).get(f"/api/v1/actions/?{query}").status_code == 400


def test_action_refers_to_things_by_natural_keys(api_for, member, actions, approved_class):
    action = actions["a"]
    action.qos_class = approved_class
    action.save()
    data = api_for(member).get(f"/api/v1/actions/{action.pk}/").json()
    assert data["stream"] == "A"
    assert data["qos_class"] == "SAFE"
    assert data["owner_details"][0]["name"] == "Aris Fkiaras"
    assert data["status"] == "open"
    assert data["is_overdue"] is True


def test_member_cannot_edit_someone_elses_action(api_for, member, actions):
    client = api_for(member)
    theirs = actions["a"]
    assert (
        client.patch(f"/api/v1/actions/{theirs.pk}/", {"text": "mine now"}, format="json").status_code == 403
    )
    response = client.post(f"/api/v1/actions/{theirs.pk}/updates/", {"status": "done"}, format="json")
    assert response.status_code == 403
    assert client.delete(f"/api/v1/actions/{theirs.pk}/").status_code in (403, 405)
    theirs.refresh_from_db()
    assert (theirs.text, theirs.status) == ("Add the qos key-value pair", "open")
    assert not ActionUpdate.objects.exists()


def test_owner_reports_progress_through_the_api(api_for, member, actions, meeting):
    mine = actions["b"]
    response = api_for(member).post(
        f"/api/v1/actions/{mine.pk}/updates/",
        {"status": "done", "text": "Meetings set up", "meeting": meeting.pk},
        format="json",
    )
    assert response.status_code == 201, response.json()
    assert response.json()["author"] == "erin-member"
    assert (response.json()["old_status"], response.json()["new_status"]) == ("open", "done")
    mine.refresh_from_db()
    assert mine.status == "done"
    log = api_for(member).get(f"/api/v1/actions/{mine.pk}/updates/").json()
    assert [entry["text"] for entry in log["results"]] == ["Meetings set up"]
    # The owner may not edit the action itself.
    assert (
        api_for(member).patch(f"/api/v1/actions/{mine.pk}/", {"text": "x"}, format="json").status_code == 403
    )


def test_status_cannot_be_set_by_patch_and_bad_steps_are_refused(api_for, coordinator, actions):
    client = api_for(coordinator)
    action = actions["a"]
    client.patch(f"/api/v1/actions/{action.pk}/", {"status": "done"}, format="json")
    action.refresh_from_db()
    assert action.status == "open"
    action.record_update(by=None, status="dropped")
    response = client.post(f"/api/v1/actions/{action.pk}/updates/", {"status": "in_progress"}, format="json")
    assert response.status_code == 400
    assert "reopen it first" in str(response.json())


def test_coordinator_raises_an_action_at_a_meeting_with_natural_keys(api_for, coordinator, meeting, aris):
    response = api_for(coordinator).post(
        "/api/v1/actions/",
        {
            "text": "Find volunteer sites for LOFAR",
            "owners": [aris.pk],
            "stream": "A",
            "raised_at": meeting.pk,
        },
        format="json",
    )
    assert response.status_code == 201, response.json()
    assert response.json()["due_date"] == "2020-04-01"
    assert response.json()["stream"] == "A"
    action = Action.objects.get()
    assert action.created_by == coordinator


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"text": "", "owners": []}, "text"),
        ({"text": "x", "owners": []}, "owners"),
        ({"text": "x", "owners": [999999]}, "owners"),
        ({"text": "x", "owners": ["ARIS"], "stream": "Z"}, "owners"),
        ({"text": "x", "stream": "Z"}, "stream"),
        ({"text": "x", "qos_class": "NOPE"}, "qos_class"),
    ],
)
def test_bad_action_is_refused_and_nothing_is_created(api_for, coordinator, aris, body, field):
    body = {"owners": [aris.pk], **body}
    response = api_for(coordinator).post("/api/v1/actions/", body, format="json")
    assert response.status_code == 400
    assert field in response.json()
    assert not Action.objects.exists()


def test_coordinator_edit_is_logged(api_for, coordinator, actions):
    action = actions["a"]
    response = api_for(coordinator).patch(
        f"/api/v1/actions/{action.pk}/", {"due_date": "2020-04-29", "note": "Testbed down"}, format="json"
    )
    assert response.status_code == 200, response.json()
    update = action.updates.get()
    assert update.changes == {"due_date": ["2020-04-01", "2020-04-29"]}
    assert update.text == "Testbed down"
