"""Journeys through the QoS catalogue in headless Chromium against the live server.

Each journey is what a person does with the pages: they find controls by their role and accessible name, as
a screen reader would, and look at what the page says back. The lifecycle rules themselves are tested below
the pages (tests/qos/test_lifecycle.py); here we check that the pages let people follow them.
"""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from qos.models import StorageQoSClass

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PHONE = {"width": 390, "height": 844}


def password(user) -> str:
    return f"{user.username}-pw"


def open_catalogue(page: Page) -> None:
    """Go to the catalogue the way a person does: through the main navigation."""
    page.get_by_role("navigation", name="Main").get_by_role("link", name="QoS catalogue").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Storage QoS Class catalogue")


def status_badge(page: Page, status: str):
    """The status badge under the class's heading (the history on the same page says "r2 proposed")."""
    return page.locator(".page-head").get_by_text(status, exact=True)


def label_box(page: Page):
    """The class label's input. Its <label> reads "Label *" (the star is aria-hidden): match the accessible name."""
    return page.get_by_role("textbox", name="Label", exact=True)


def message(page: Page):
    """The flash messages shown at the top of the page (role=status)."""
    return page.get_by_role("status")


def test_admin_creates_and_proposes_a_class(browser_page: Page, login_as, admin):
    page = browser_page
    login_as(page, admin.username, password(admin))

    open_catalogue(page)
    page.get_by_role("link", name="New class").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("New Storage QoS class")

    label_box(page).fill("FAST")
    page.get_by_label("Title").fill("Fast disk for analysis")
    page.get_by_label("Description").fill("SSD-backed, for *hot* data.")
    page.get_by_label("Storage media").select_option(label="SSD")
    page.get_by_label("Access latency").select_option(label="Online")
    page.get_by_label("Expected throughput (MB/s)").fill("800")
    page.get_by_label("Redundancy").select_option(label="Replicas")
    page.get_by_label("Number of copies").fill("2")
    page.get_by_label("Geographic placement").select_option(label="Single site")
    page.get_by_label("Durability target (%)").fill("99.99")
    page.get_by_label("Data storage lifetime (days)").fill("365")
    page.get_by_label("Cost tier").select_option(label="High")
    page.get_by_label("Comment").fill("For the analysis facilities")
    page.get_by_role("button", name="Save").click()

    expect(page).to_have_url(re.compile(r"/qos/FAST/$"))
    expect(message(page)).to_contain_text("Draft FAST created. Propose it when it is ready.")
    expect(page.get_by_role("heading", level=1)).to_have_text("FAST Fast disk for analysis")
    expect(status_badge(page, "Draft")).to_be_visible()
    expect(page.get_by_text("800 MB/s")).to_be_visible()

    page.get_by_role("link", name="Propose for approval").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Propose for approval: FAST")
    page.get_by_label("Comment").fill("Ready for review")
    page.get_by_role("button", name="Propose").click()

    expect(page).to_have_url(re.compile(r"/qos/FAST/$"))
    expect(message(page)).to_contain_text("FAST proposed for approval.")
    expect(status_badge(page, "Proposed")).to_be_visible()
    expect(page.get_by_role("listitem").filter(has_text="r2 proposed")).to_contain_text("Ready for review")

    qos_class = StorageQoSClass.objects.get(label="FAST")
    assert qos_class.status == "proposed"
    assert qos_class.throughput_mbps == 800


def test_second_admin_approves_and_the_history_shows_the_diff(
    browser_page: Page, login_as, live_server, admin, admin2, draft_class
):
    page = browser_page
    old_title = draft_class.title
    new_title = "Safe custody on tape, two sites"

    # The author retitles the draft, then proposes it.
    login_as(page, admin.username, password(admin))
    page.goto(f"{live_server.url}/qos/{draft_class.label}/")
    page.get_by_role("link", name="Edit", exact=True).click()
    expect(page.get_by_label("Title")).to_have_value(old_title)
    page.get_by_label("Title").fill(new_title)
    page.get_by_label("Comment").fill("Clearer title")
    page.get_by_role("button", name="Save").click()
    expect(message(page)).to_contain_text("SAFE saved as revision 2.")
    page.get_by_role("link", name="Propose for approval").click()
    page.get_by_role("button", name="Propose").click()
    expect(status_badge(page, "Proposed")).to_be_visible()

    # A second admin, in a fresh session, finds it on the dashboard and approves it.
    login_as(page, admin2.username, password(admin2))
    awaiting = page.get_by_role("table").filter(has=page.get_by_role("columnheader", name="Class"))
    awaiting.get_by_role("link", name="SAFE").click()
    expect(page.get_by_role("heading", level=1)).to_have_text(f"SAFE {new_title}")
    expect(page.get_by_text("another QoS admin must approve it")).to_have_count(0)
    page.get_by_role("link", name="Approve", exact=True).click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Approve: SAFE")
    page.get_by_label("Comment").fill("Looks right to me")
    page.get_by_role("button", name="Approve").click()

    expect(message(page)).to_contain_text("SAFE approved.")
    expect(status_badge(page, "Approved")).to_be_visible()
    expect(page.get_by_role("link", name="Approve", exact=True)).to_have_count(0)
    expect(page.get_by_role("link", name="Propose a change", exact=True)).to_be_visible()
    expect(page.get_by_role("link", name="Deprecate", exact=True)).to_be_visible()

    # The history: compare the first two revisions, and see every step with its author.
    page.get_by_role("link", name="History", exact=True).click()
    expect(page.get_by_role("heading", level=1)).to_have_text("History of SAFE")
    page.get_by_label("From revision").fill("1")
    page.get_by_label("To revision").fill("2")
    page.get_by_role("button", name="Compare").click()
    expect(page).to_have_url(re.compile(r"\?from=1&to=2$"))  # the names the API's diff takes
    expect(page.get_by_role("heading", name="Revision 1 → revision 2")).to_be_visible()

    diff = page.get_by_role("table").filter(has=page.get_by_role("columnheader", name="Before"))
    rows = diff.get_by_role("row").filter(has=page.get_by_role("rowheader"))
    expect(rows).to_have_count(1)
    title_row = rows.filter(has=page.get_by_role("rowheader", name="Title", exact=True))
    expect(title_row.get_by_role("cell")).to_have_text([old_title, new_title])

    history = page.get_by_role("table").filter(has=page.get_by_role("columnheader", name="Who"))
    steps = history.get_by_role("row").filter(has=page.get_by_role("cell"))
    expect(steps).to_have_count(4)
    expected = [
        ("r4", "Approved", "bob-admin", "Looks right to me"),
        ("r3", "Proposed", "alice-admin", ""),
        ("r2", "Edited", "alice-admin", "Clearer title"),
        ("r1", "Created", "alice-admin", "first draft"),
    ]
    for number, kind, author, comment in expected:
        row = history.get_by_role("row").filter(has=page.get_by_role("cell", name=number, exact=True))
        expect(row.get_by_role("cell").nth(1)).to_have_text(kind)
        expect(row.get_by_role("cell").nth(3)).to_have_text(author)
        expect(row.get_by_role("cell").nth(6)).to_have_text(comment)
    expect(
        history.get_by_role("row").filter(has=page.get_by_role("cell", name="r2", exact=True))
    ).to_contain_text("title")


def test_approval_of_a_proposal_changed_while_it_was_read_is_refused_then_made_on_what_is_shown(
    browser_page: Page, login_as, live_server, admin, admin2, approved_class
):
    page = browser_page
    approved_class.edit(by=admin, changes={"copies": 3}, base_revision=approved_class.revision)
    login_as(page, admin2.username, password(admin2))
    page.goto(f"{live_server.url}/qos/SAFE/")
    page.get_by_role("link", name="Approve", exact=True).click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Approve: SAFE")

    # The author changes the proposal again while the reviewer reads it.
    approved_class.edit(by=admin, changes={"copies": 4}, base_revision=approved_class.revision)
    page.get_by_role("button", name="Approve").click()

    expect(page.get_by_role("alert")).to_contain_text(
        "SAFE changed since you opened this page (you saw revision 4, it is now at revision 5), so it was not "
        "approved."
    )
    since = page.locator("section").filter(
        has=page.get_by_role("heading", name="What changed since you opened this page")
    )
    copies = since.get_by_role("row").filter(has=page.get_by_role("rowheader", name="Number of copies"))
    expect(copies.get_by_role("cell")).to_have_text(["3", "4"])
    approved_class.refresh_from_db()
    assert (approved_class.copies, approved_class.pending_revision.data["copies"]) == (2, 4)

    # Approving again approves what the page shows now.
    page.get_by_role("button", name="Approve").click()
    expect(message(page)).to_contain_text("SAFE approved.")
    approved_class.refresh_from_db()
    assert (approved_class.copies, approved_class.pending_revision) == (4, None)


def test_author_cannot_approve_their_own_proposal(browser_page: Page, login_as, live_server, proposed_class):
    page = browser_page
    author = proposed_class.revisions.get(number=1).author
    login_as(page, author.username, password(author))
    page.goto(f"{live_server.url}/qos/{proposed_class.label}/")

    expect(status_badge(page, "Proposed")).to_be_visible()
    expect(page.get_by_role("link", name="Approve", exact=True)).to_have_count(0)
    expect(
        page.get_by_text("You wrote part of this proposal: another QoS admin must approve it.")
    ).to_be_visible()

    # Going to the approval page by its address does not get round the rule either.
    page.goto(f"{live_server.url}/qos/{proposed_class.label}/approve/")
    page.get_by_role("button", name="Approve").click()
    expect(page.get_by_role("alert")).to_contain_text("another QoS admin must approve it (four-eyes rule)")
    proposed_class.refresh_from_db()
    assert proposed_class.status == "proposed"


def test_member_sees_no_edit_controls(
    browser_page: Page, login_as, live_server, member, approved_class, admin
):
    page = browser_page
    fast = StorageQoSClass.objects.create_draft(
        by=admin, label="FAST", title="Fast disk", storage_media="ssd", access_latency="online"
    )
    fast.propose(by=admin)

    login_as(page, member.username, password(member))
    open_catalogue(page)
    expect(page.get_by_role("link", name="New class")).to_have_count(0)
    catalogue = page.get_by_role("table")
    expect(catalogue.get_by_role("link", name="SAFE")).to_be_visible()
    expect(catalogue.get_by_role("link", name="FAST")).to_be_visible()

    # An approved class (admins would see "Propose a change" and "Deprecate") and a proposed one (admins
    # would see "Approve" and "Reject"): a member sees neither set.
    for label, status in (("SAFE", "Approved"), ("FAST", "Proposed")):
        open_catalogue(page)
        page.get_by_role("table").get_by_role("link", name=label).click()
        expect(page.get_by_role("heading", level=1)).to_contain_text(label)
        expect(status_badge(page, status)).to_be_visible()
        for control in ("Edit", "Propose a change", "Propose for approval", "Approve", "Reject", "Deprecate"):
            expect(page.get_by_role("link", name=control, exact=True)).to_have_count(0)
        expect(page.get_by_role("link", name="History", exact=True)).to_be_visible()

    for path in ("/qos/new/", "/qos/SAFE/edit/", "/qos/FAST/approve/"):
        response = page.goto(f"{live_server.url}{path}")
        assert response is not None
        assert response.status == 403, path


def test_form_keeps_what_was_typed_on_error(browser_page: Page, login_as, live_server, admin):
    page = browser_page
    login_as(page, admin.username, password(admin))
    page.goto(f"{live_server.url}/qos/new/")

    label_box(page).fill("bad label")
    page.get_by_label("Title").fill("Fast disk")
    page.get_by_label("Description").fill("For *hot* data.")
    page.get_by_label("Storage media").select_option(label="Disk")
    page.get_by_label("Access latency").select_option(label="Online")
    page.get_by_label("Expected throughput (MB/s)").fill("500")
    page.get_by_label("Number of copies").fill("3")
    page.get_by_label("Cost tier").select_option(label="High")
    page.get_by_label("Comment").fill("First try")
    page.get_by_role("button", name="Save").click()

    expect(page).to_have_url(re.compile(r"/qos/new/$"))
    expect(page.get_by_text("Use 1 to 64 upper-case letters, digits, '-' or '_'")).to_be_visible()
    expect(label_box(page)).to_have_attribute("aria-invalid", "true")
    expect(label_box(page)).to_have_value("bad label")
    expect(page.get_by_label("Title")).to_have_value("Fast disk")
    expect(page.get_by_label("Description")).to_have_value("For *hot* data.")
    expect(page.get_by_label("Storage media")).to_have_value("disk")
    expect(page.get_by_label("Access latency")).to_have_value("online")
    expect(page.get_by_label("Expected throughput (MB/s)")).to_have_value("500")
    expect(page.get_by_label("Number of copies")).to_have_value("3")
    expect(page.get_by_label("Cost tier")).to_have_value("high")
    expect(page.get_by_label("Comment")).to_have_value("First try")
    assert not StorageQoSClass.objects.exists()

    # Correcting the one wrong field is enough.
    label_box(page).fill("FAST")
    page.get_by_role("button", name="Save").click()
    expect(message(page)).to_contain_text("Draft FAST created.")


def test_phone_layout_shows_menu_toggle(browser_page: Page, login_as, member):
    page = browser_page
    page.set_viewport_size(PHONE)
    login_as(page, member.username, password(member))

    nav = page.get_by_role("navigation", name="Main")
    catalogue_link = page.get_by_role("link", name="QoS catalogue")
    expect(nav).to_be_hidden()
    expect(catalogue_link).to_be_hidden()

    # What a sighted person taps: the "Menu" label (see the next test for who else must be able to open it).
    menu = page.get_by_text("Menu", exact=True)
    expect(menu).to_be_visible()
    menu.click()

    expect(nav).to_be_visible()
    expect(nav.get_by_role("link", name="Dashboard")).to_be_visible()
    expect(nav.get_by_role("button", name="Log out")).to_be_visible()
    catalogue_link.click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Storage QoS Class catalogue")


def test_phone_menu_toggle_works_by_keyboard(browser_page: Page, login_as, member):
    page = browser_page
    page.set_viewport_size(PHONE)
    login_as(page, member.username, password(member))

    toggle = page.get_by_role("checkbox", name="Show navigation")
    expect(toggle).to_be_attached(timeout=1_000)
    toggle.focus()
    page.keyboard.press("Space")
    expect(page.get_by_role("link", name="QoS catalogue")).to_be_visible()
