"""The RSE list in headless Chromium: RSEs ticked in the (cached) table are assigned by the form below it, with
a class chosen from a list while the catalogue is short, typed as a label once it is long."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from qos.forms import MAX_CLASSES_TO_LIST
from qos.models import RSE, RucioInstance, StorageQoSClass
from tests.celery_worker import publishing_to
from tests.conftest import SAFE_CONTENT
from tests.ports import free_port

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def rses(db):
    instance = RucioInstance.objects.create(name="escape", host="https://rucio.escape.invalid")
    return RSE.objects.bulk_create(RSE(instance=instance, name=name) for name in ("CERN-EOS", "DESY-DCACHE"))


def review_the_plan(page: Page, choose_class) -> None:
    page.get_by_role("checkbox", name="Select CERN-EOS").check()
    choose_class(page.get_by_label("Assign to the selected RSEs"))
    page.get_by_role("button", name="Review the plan").click()


def test_an_admin_assigns_ticked_rses_a_class_chosen_from_the_list(
    browser_page: Page, login_as, live_server, admin, approved_class, rses
):
    page = browser_page
    login_as(page, admin.username, f"{admin.username}-pw")
    page.goto(f"{live_server.url}/qos/rses/")
    review_the_plan(page, lambda field: field.select_option(label="SAFE"))
    plan = page.get_by_role("table")
    expect(plan).to_contain_text("CERN-EOS")
    expect(plan).not_to_contain_text("DESY-DCACHE")
    page.get_by_role("button", name="Confirm").click()
    expect(page.get_by_role("status")).to_contain_text("1 RSE queued for Rucio")
    assert RSE.objects.get(name="CERN-EOS").qos_class == approved_class
    assert RSE.objects.get(name="DESY-DCACHE").qos_class is None


def test_select_all_ticks_every_rse_and_removing_is_its_own_choice(
    browser_page: Page, login_as, live_server, admin, approved_class, rses
):
    RSE.objects.update(qos_class=approved_class)
    page = browser_page
    login_as(page, admin.username, f"{admin.username}-pw")
    page.goto(f"{live_server.url}/qos/rses/")
    # No class chosen: the browser does not send the form.
    page.get_by_role("checkbox", name="Select CERN-EOS").check()
    page.get_by_role("button", name="Review the plan").click()
    expect(page.get_by_role("heading", name="RSEs")).to_be_visible()
    select_all = page.get_by_role("checkbox", name="Select every RSE on this page")
    select_all.check()
    expect(page.get_by_role("checkbox", name="Select DESY-DCACHE")).to_be_checked()
    page.get_by_role("checkbox", name="Select DESY-DCACHE").uncheck()
    expect(select_all).not_to_be_checked()
    select_all.check()
    page.get_by_role("button", name="Review removing the class").click()
    expect(page.get_by_text("Remove the class on 2 RSEs")).to_be_visible()
    page.get_by_role("button", name="Confirm").click()
    expect(page.get_by_role("status")).to_contain_text("2 RSEs queued for Rucio")
    assert not RSE.objects.filter(qos_class__isnull=False).exists()


def test_with_a_long_catalogue_the_admin_types_the_label(
    browser_page: Page, login_as, live_server, admin, approved_class, rses
):
    StorageQoSClass.objects.bulk_create(
        StorageQoSClass(**{**SAFE_CONTENT, "label": f"DRAFT-{i:03d}"}) for i in range(MAX_CLASSES_TO_LIST)
    )
    page = browser_page
    login_as(page, admin.username, f"{admin.username}-pw")
    page.goto(f"{live_server.url}/qos/rses/")
    expect(page.get_by_role("combobox", name="Assign to the selected RSEs")).to_have_count(0)
    review_the_plan(page, lambda field: field.fill("SAFE"))
    expect(page.get_by_role("table")).to_contain_text("CERN-EOS")
    page.get_by_role("button", name="Confirm").click()
    expect(page.get_by_role("status")).to_contain_text("1 RSE queued for Rucio")
    assert RSE.objects.get(name="CERN-EOS").qos_class == approved_class


def test_the_sync_button_posts_for_its_instance(browser_page: Page, login_as, live_server, admin, rses):
    page = browser_page
    login_as(page, admin.username, f"{admin.username}-pw")
    page.goto(f"{live_server.url}/qos/rses/")
    # Nothing listens where Celery publishes: the sync cannot be queued, and the page says so for this instance.
    with publishing_to(f"redis://127.0.0.1:{free_port()}/0"):
        page.get_by_role("button", name="Sync escape from Rucio").click()
        expect(page.get_by_role("status")).to_contain_text("The sync of escape could not be queued")


def test_from_the_class_page_an_admin_assigns_it_and_the_class_page_lists_the_rse(
    browser_page: Page, login_as, live_server, admin, approved_class, rses
):
    page = browser_page
    login_as(page, admin.username, f"{admin.username}-pw")
    page.goto(f"{live_server.url}/qos/SAFE/")
    expect(page.locator("#rses-heading .muted")).to_have_text("0")
    page.get_by_role("link", name="Assign to RSEs").click()
    # The RSE list comes with SAFE already chosen in the bulk-assign menu.
    expect(page.get_by_label("Assign to the selected RSEs")).to_have_value(approved_class.label)
    page.get_by_role("checkbox", name="Select CERN-EOS").check()
    page.get_by_role("button", name="Review the plan").click()
    page.get_by_role("button", name="Confirm").click()
    expect(page.get_by_role("status")).to_contain_text("1 RSE")
    page.goto(f"{live_server.url}/qos/SAFE/")
    expect(page.locator("#rses-heading .muted")).to_have_text("1")
    rows = page.locator("section[aria-labelledby='rses-heading'] tbody tr")
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text("CERN-EOS")
    expect(rows.first.locator("td[data-label='State']")).not_to_be_empty()
