"""Experiment engagement in headless Chromium against the live server, the way people go through it.

A CTA liaison files two requirements: one the catalogue answers (SAFE), one it does not (a gap). A QoS admin
finds the gap on the dashboard, accepts it and links the closest class by hand; the liaison sees the outcome.
"""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from engagement.models import Requirement

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def password(user) -> str:
    return f"{user.username}-pw"


def message(page: Page):
    return page.get_by_role("status")


def status_badge(page: Page, text: str):
    return page.locator(".requirement-status").get_by_text(text, exact=True)


def section(page: Page, name: str):
    return page.get_by_role("region", name=name)


def file_requirement(page: Page, title: str, needs: dict[str, str], selects: dict[str, str]) -> None:
    """From the experiment page: fill in the form the way a liaison would."""
    page.get_by_role("link", name="File a requirement").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("File a requirement for CTA")
    page.get_by_label("Title").fill(title)
    for label, option in selects.items():
        page.get_by_label(label).select_option(label=option)
    for label, value in needs.items():
        page.get_by_label(label).fill(value)
    page.get_by_role("button", name="File requirement").click()
    expect(message(page)).to_contain_text("Requirement filed for CTA.")
    expect(page.get_by_role("heading", level=1)).to_have_text(title)


def test_liaison_files_requirements_sees_matches_and_the_gap_then_an_admin_answers(
    browser_page: Page, login_as, live_server, liaison_cta, admin, catalogue
):
    page = browser_page
    login_as(page, liaison_cta.username, password(liaison_cta))

    # Through the navigation to the liaison's experiment.
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Experiments").click()
    page.get_by_role("table").get_by_role("link", name="CTA", exact=True).click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("Cherenkov Telescope Array")

    # 1. Raw data on tape: SAFE satisfies it.
    file_requirement(
        page,
        "Raw camera data archive",
        {"Durability (%) at least": "99.999", "Copies at least": "2", "Volume (TB)": "500"},
        {"Storage media": "Tape", "Access latency": "Nearline"},
    )
    expect(status_badge(page, "Filed")).to_be_visible()
    matching = section(page, "Matching approved classes")
    expect(matching.get_by_text("Satisfied by SAFE.")).to_be_visible()
    safe_row = matching.get_by_role("row").filter(has=page.get_by_role("link", name="SAFE"))
    expect(safe_row.get_by_role("cell").nth(1)).to_have_text("fits")
    fast_row = matching.get_by_role("row").filter(has=page.get_by_role("link", name="FAST"))
    expect(fast_row).to_contain_text("SSD, not tape.")
    expect(page.get_by_role("note")).to_have_count(0)

    # 2. Replicated SSD: nothing in the catalogue does it, and the page says so.
    page.get_by_role("link", name="CTA", exact=True).click()
    file_requirement(
        page,
        "Hot analysis data, two SSD copies",
        {
            "Durability (%) at least": "99.999",
            "Copies at least": "2",
            "Volume (TB)": "80",
            "Retention (days)": "180",
            "Throughput (MB/s) at least": "1000",
        },
        {
            "Storage media": "SSD",
            "Access latency": "Online",
            "Access pattern": "Analysis: many reads, some random access",
        },
    )
    expect(status_badge(page, "gap")).to_be_visible()
    expect(page.get_by_role("note")).to_contain_text("no approved QoS class satisfies this requirement")
    fast_row = (
        section(page, "Matching approved classes")
        .get_by_role("row")
        .filter(has=page.get_by_role("link", name="FAST"))
    )
    expect(fast_row).to_contain_text("Keeps 1 copy only; 2 asked for.")
    expect(fast_row).to_contain_text("Keeps data 90 days only; 180 asked for.")
    page.get_by_role("note").get_by_role("link", name="See every gap").click()
    gaps = page.get_by_role("table")
    expect(gaps.get_by_role("row")).to_have_count(2)  # the header and the one gap
    expect(gaps).to_contain_text("Hot analysis data, two SSD copies")
    # A liaison neither accepts nor links.
    gaps.get_by_role("link", name="Hot analysis data, two SSD copies").click()
    expect(page.get_by_role("link", name="Accept", exact=True)).to_have_count(0)
    expect(page.get_by_role("button", name="Link class")).to_have_count(0)

    # An admin finds the gap on the dashboard, accepts the requirement and links FAST by hand.
    login_as(page, admin.username, password(admin))
    expect(page.get_by_role("link", name=re.compile(r"^1 requirement without a class"))).to_be_visible()
    section(page, "Requirements without a class").get_by_role(
        "link", name="Hot analysis data, two SSD copies"
    ).click()
    page.get_by_role("link", name="Accept", exact=True).click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("Accept the requirement")
    page.get_by_label("Why").fill("FAST will do while a replicated SSD class is discussed")
    page.get_by_role("button", name="Accept").click()
    expect(message(page)).to_contain_text("Requirement accepted.")
    expect(status_badge(page, "Accepted")).to_be_visible()
    linking = page.get_by_role("form", name="Link a class")
    linking.get_by_role("combobox", name="Class").select_option(label="FAST")
    linking.get_by_label("Note").fill("One copy for now")
    linking.get_by_role("button", name="Link class").click()
    expect(message(page)).to_contain_text("FAST linked to this requirement.")
    expect(section(page, "Classes linked by a QoS admin")).to_contain_text("One copy for now")
    # The gap is answered; no RSE in sync advertises FAST yet, so its coverage is flagged instead.
    expect(page.get_by_role("note").filter(has_text="Gap:")).to_have_count(0)
    expect(page.get_by_role("note")).to_contain_text("Coverage at risk")
    expect(status_badge(page, "gap")).to_have_count(0)

    # The liaison sees the new status, the class, and who did what.
    login_as(page, liaison_cta.username, password(liaison_cta))
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Requirements").click()
    rows = page.get_by_role("table").get_by_role("row")
    row = rows.filter(has=page.get_by_role("link", name="Hot analysis data, two SSD copies"))
    expect(row).to_contain_text("Accepted")
    expect(row.get_by_role("link", name="FAST")).to_be_visible()
    row.get_by_role("link", name="Hot analysis data, two SSD copies").click()
    expect(status_badge(page, "Accepted")).to_be_visible()
    history = section(page, "History")
    expect(history).to_contain_text("Filed → accepted by alice-admin")
    expect(history).to_contain_text("FAST will do while a replicated SSD class is discussed")
    expect(history).to_contain_text("Class linked: FAST by alice-admin")

    requirement = Requirement.objects.get(title="Hot analysis data, two SSD copies")
    assert requirement.status == "accepted"
    assert list(requirement.linked_classes.values_list("label", flat=True)) == ["FAST"]


def test_the_form_keeps_what_was_typed_when_a_need_is_wrong(
    browser_page: Page, login_as, live_server, liaison_cta
):
    page = browser_page
    login_as(page, liaison_cta.username, password(liaison_cta))
    page.goto(f"{live_server.url}/experiments/CTA/requirements/new/")
    page.get_by_label("Title").fill("Calibration data")
    page.get_by_label("Storage media").select_option(label="Disk")
    page.get_by_label("Volume (TB)").fill("-2")
    page.get_by_label("Needed by").fill("2001-01-01")
    page.get_by_role("button", name="File requirement").click()

    expect(page.get_by_text("The volume must be more than 0 TB (-2 TB was given).")).to_be_visible()
    expect(page.get_by_text("2001-01-01 is in the past")).to_be_visible()
    expect(page.get_by_label("Title")).to_have_value("Calibration data")
    expect(page.get_by_label("Storage media")).to_have_value("disk")
    expect(page.get_by_label("Volume (TB)")).to_have_value("-2")
    assert not Requirement.objects.exists()


def test_a_refused_page_keeps_the_site_around_it_says_why_and_leads_back(
    browser_page: Page, login_as, live_server, liaison_cta
):
    page = browser_page
    login_as(page, liaison_cta.username, password(liaison_cta))
    # SKA's page offers a CTA liaison no "File a requirement"; they type its address anyway.
    page.goto(
        f"{live_server.url}/experiments/SKA/requirements/new/", referer=f"{live_server.url}/experiments/SKA/"
    )

    expect(page).to_have_title("Not allowed · ESCAPE QoS")
    expect(page.get_by_role("heading", level=1)).to_have_text("Not allowed")
    expect(page.get_by_role("alert")).to_have_text(
        "Only liaisons of SKA may file, edit and withdraw its requirements."
    )
    navigation = page.get_by_role("navigation", name="Main")
    expect(navigation.get_by_role("link", name="Experiments")).to_be_visible()
    expect(navigation.get_by_role("link", name=liaison_cta.username)).to_be_visible()
    page.get_by_role("link", name="Back to the previous page").click()
    expect(page).to_have_url(f"{live_server.url}/experiments/SKA/")
