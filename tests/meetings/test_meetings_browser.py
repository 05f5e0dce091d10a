"""A coordinator runs a meeting in headless Chromium: creates the next meeting, reviews the open actions
carried onto it, closes one with an update, raises a new one from the minutes; its owner then finds it on
the dashboard under "My open actions"."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from meetings.models import Action, Meeting, Person
from tests.meetings.meeting_factories import make_meeting, make_series, raise_action, stream, zurich

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def password(user) -> str:
    return f"{user.username}-pw"


def test_coordinator_runs_the_next_meeting_and_the_owner_sees_the_new_action(
    browser_page: Page, login_as, coordinator, member
):
    page = browser_page
    first = make_meeting(make_series(), zurich(2020, 3, 18), title="ESCAPE QoS fortnightly meeting")
    aris = Person.objects.create(name="Aris Fkiaras", affiliation="CERN")
    marek = Person.objects.create(name="Marek Szuba", user=member)
    key_value = raise_action(
        first, [aris], "Add the qos key-value pair to the ESCAPE testbed RSEs", stream=stream("A")
    )
    raise_action(first, [marek], "Find volunteer sites for the LOFAR workflow", stream=stream("A"))

    login_as(page, coordinator.username, password(coordinator))
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Meetings").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Meetings")
    page.get_by_role("link", name="ESCAPE QoS fortnightly meeting").click()
    expect(page.get_by_text("Wednesday 18 March 2020, 14:00\N{EN DASH}15:00 CET")).to_be_visible()

    # The next meeting: proposed two weeks later at 14:00 on the Zurich clock, now CEST.
    page.get_by_role("link", name="Create next meeting").click()
    expect(page.get_by_label("Date")).to_have_value("2020-04-01")
    expect(page.get_by_label(re.compile(r"^Time( \*)?$"))).to_have_value("14:00")
    expect(
        page.get_by_role("cell", name="Add the qos key-value pair to the ESCAPE testbed RSEs")
    ).to_be_visible()
    page.get_by_role("button", name="Create the meeting").click()

    expect(page.get_by_role("status")).to_contain_text(
        "Meeting of 2020-04-01 created; 2 open actions carried onto its agenda."
    )
    expect(page.get_by_text("Wednesday 1 April 2020, 14:00\N{EN DASH}15:00 CEST")).to_be_visible()
    reviewed = page.get_by_role("region", name="Actions reviewed")
    expect(reviewed.get_by_role("row")).to_have_count(3)  # header + the two carried actions
    expect(reviewed).to_contain_text("Add the qos key-value pair to the ESCAPE testbed RSEs")
    expect(reviewed).to_contain_text("Find volunteer sites for the LOFAR workflow")

    # Mark one done, with an update, from the meeting's review.
    reviewed.get_by_role("link", name=f"Update action #{key_value.pk}").click()
    expect(page.get_by_role("heading", level=1)).to_have_text(f"Action #{key_value.pk}")
    page.get_by_label("Status").select_option(label="Done")
    page.get_by_label("Update").fill("QOS attribute set on all ESCAPE testbed RSEs")
    page.get_by_role("button", name="Save update").click()

    expect(page.get_by_role("status")).to_contain_text(f"Action #{key_value.pk} updated: done.")
    expect(page).to_have_url(re.compile(r"/meetings/\d+/$"))
    done_row = (
        page.get_by_role("region", name="Actions reviewed")
        .get_by_role("row")
        .filter(has_text="Add the qos key-value pair")
    )
    expect(done_row).to_contain_text("Done")
    expect(done_row).to_contain_text("QOS attribute set on all ESCAPE testbed RSEs")

    # Raise a new action from inside the minutes editor.
    page.get_by_role("link", name="Edit minutes").click()
    page.get_by_label("Stream B: engagement with experiments").fill("* Waiting on the MAS meeting this week.")
    page.get_by_label("Action", exact=True).fill("Contact CTA and SKA to organise meetings")
    page.get_by_label("Owners").select_option(label="Marek Szuba")
    page.get_by_label("Noted in section").select_option(label="Stream B: engagement with experiments")
    page.get_by_role("button", name="Save and raise action").click()

    new = Action.objects.get(text="Contact CTA and SKA to organise meetings")
    expect(page.get_by_role("status")).to_contain_text(
        f"Minutes saved; action #{new.pk} raised, due 2020-04-15."
    )
    expect(page.get_by_label("Stream B: engagement with experiments")).to_have_value(
        re.compile(r"Waiting on the MAS meeting this week\.\s+\*\*Action #\d+\*\* \(Marek Szuba\)")
    )
    page.get_by_role("link", name="Back to the meeting").click()
    minutes = page.get_by_role("region", name="Stream B: engagement with experiments")
    expect(minutes).to_contain_text("Waiting on the MAS meeting this week.")
    expect(page.get_by_role("region", name="Actions raised at this meeting")).to_contain_text(
        "Contact CTA and SKA to organise meetings"
    )
    following = Meeting.objects.get(starts_at__date="2020-04-01")
    assert new.raised_at == following and new.stream.letter == "B"

    # The owner, in a fresh session, finds it on the dashboard; the closed one is gone from their list.
    login_as(page, member.username, password(member))
    mine = page.get_by_role("region", name="My open actions")
    expect(mine).to_contain_text("Contact CTA and SKA to organise meetings")
    expect(mine).to_contain_text("Find volunteer sites for the LOFAR workflow")
    expect(mine).not_to_contain_text("Add the qos key-value pair")
    mine.get_by_role("link", name=f"#{new.pk}").click()
    expect(page.get_by_role("heading", level=2, name="Report progress")).to_be_visible()


def test_a_member_gives_their_calendar_a_new_address(browser_page: Page, login_as, live_server, member):
    page = browser_page
    me = Person.objects.create(name="Marek Szuba", user=member)
    login_as(page, member.username, password(member))
    page.goto(f"{live_server.url}/people/{me.pk}/")
    address = page.locator("code.feed")
    old = address.inner_text()

    page.get_by_role("button", name="New calendar address").click()

    expect(page.get_by_role("status")).to_contain_text(
        "New calendar address made: the old one no longer works."
    )
    expect(address).not_to_have_text(old)
    expect(address).to_contain_text(f"{live_server.url}/calendar/")


def test_the_timetable_editor_fits_a_1366px_screen(browser_page: Page, login_as, live_server, coordinator):
    """Every column, the delete boxes included, without scrolling sideways on a common laptop screen."""
    page = browser_page
    meeting = make_meeting(make_series(), zurich(2020, 3, 18), title="ESCAPE QoS fortnightly meeting")
    Person.objects.create(name="Maximilian Example-Longname", affiliation="A very long affiliation name")
    page.set_viewport_size({"width": 1366, "height": 768})
    login_as(page, coordinator.username, password(coordinator))
    page.goto(f"{live_server.url}/meetings/{meeting.pk}/timetable/")
    editor = page.get_by_role("table")
    expect(editor).to_be_visible()
    assert page.evaluate("document.documentElement.scrollWidth") <= 1366
    box = editor.bounding_box()
    assert box["x"] >= 0 and box["x"] + box["width"] <= 1366, box
    delete = page.get_by_role("columnheader", name="Delete").bounding_box()
    assert delete["x"] + delete["width"] <= 1366
    # The stream's parts of the round table follow it, marked as its sub-items.
    rows = editor.locator("tbody tr")
    expect(rows.nth(1).locator('td[data-label="Title"] input')).to_have_value("Round table")
    expect(rows.nth(2)).to_have_class(re.compile(r"\bsub-item\b"))
