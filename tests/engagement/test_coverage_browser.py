"""Coverage in headless Chromium: an admin links SAFE x 2 to CTA's accepted raw data, then is warned on the plan
page before taking one of the two SAFE RSEs away, confirms anyway, and sees the requirement flagged."""

from __future__ import annotations

import re

import pytest
from django.utils import timezone
from playwright.sync_api import Page, expect

from engagement.models import Requirement
from qos.models import RSE, RucioInstance

from .conftest import ARCHIVE_NEEDS

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_an_admin_sees_coverage_and_is_warned_before_an_rse_leaves_safe(
    browser_page: Page, login_as, live_server, admin, liaison_cta, experiments, catalogue
):
    requirement = Requirement.objects.file(by=liaison_cta, experiment=experiments["CTA"], **ARCHIVE_NEEDS)
    requirement.take("accept", by=admin)
    instance = RucioInstance.objects.create(name="escape", host="https://rucio.escape.invalid")
    for name in ("CERN-EOS", "DESY-DCACHE"):
        RSE.objects.create(
            instance=instance,
            name=name,
            qos_class=catalogue["SAFE"],
            rucio_value="SAFE",
            sync_state="in_sync",
            last_read_at=timezone.now(),
            capacity_free_bytes=600 * 10**12,  # room for a copy of the 500 TB
        )
    page = browser_page
    login_as(page, admin.username, f"{admin.username}-pw")

    # Link SAFE with two copies: two RSEs in sync with room for a copy advertise it, so it is covered.
    page.goto(f"{live_server.url}{requirement.get_absolute_url()}")
    linking = page.get_by_role("form", name="Link a class")
    linking.get_by_role("combobox", name="Class").select_option(label="SAFE")
    linking.get_by_label("Copies").fill("2")
    linking.get_by_role("button", name="Link class").click()
    expect(page.get_by_role("status")).to_contain_text(
        "SAFE linked to this requirement: 2 copies wanted in it."
    )
    coverage = page.get_by_role("region", name="Coverage")
    safe = coverage.get_by_role("row").filter(has=page.get_by_role("link", name="SAFE"))
    expect(safe).to_contain_text("2: CERN-EOS (600 TB), DESY-DCACHE (600 TB)")
    expect(safe).to_contain_text("covered")

    # Assigning FAST to CERN-EOS would leave one SAFE RSE for two copies: the plan page says so first.
    page.goto(f"{live_server.url}/qos/rses/CERN-EOS/")
    page.get_by_label("Assign a class").select_option("FAST")
    page.get_by_role("button", name="Review the plan").click()
    warning = page.get_by_role("alert")
    expect(warning).to_contain_text("Coverage at risk")
    expect(warning).to_contain_text(f"CTA: {requirement.title}")
    expect(warning).to_contain_text("(CERN-EOS leaves SAFE): short by 1")
    changes = page.get_by_role("region", name=re.compile("^Coverage that changes"))
    expect(changes.get_by_role("row").filter(has_text=requirement.title)).to_contain_text("2 → 1")
    page.get_by_role("button", name="Confirm").click()
    expect(page.get_by_role("status")).to_contain_text("1 RSE queued for Rucio")

    # The requirement is now flagged, on its page and on the dashboard.
    page.goto(f"{live_server.url}{requirement.get_absolute_url()}")
    expect(page.get_by_role("note")).to_contain_text("Coverage at risk")
    expect(page.get_by_role("region", name="Coverage")).to_contain_text("short by 1")
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Dashboard").click()
    page.get_by_role("link", name=re.compile(r"^1 accepted requirement short of RSEs in sync")).click()
    expect(page.get_by_role("table")).to_contain_text(requirement.title)
