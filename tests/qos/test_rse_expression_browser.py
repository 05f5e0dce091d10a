"""The RSE expression page in headless Chromium, against the real test Rucio: from the RSE list, a member asks
which RSEs an expression selects, is shown Rucio's own refusal of a malformed one with what they typed kept,
and then Rucio's answer beside the portal's."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from qos.models import RSE
from qos.rucio_gateway.sync import deliver, sync_rses

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_a_member_evaluates_an_expression_from_the_rse_list(
    browser_page: Page,
    login_as,
    live_server,
    member,
    admin,
    approved_class,
    rucio_instance,
    make_rse,
    tmp_path,
):
    names = sorted(make_rse() for _ in range(2))
    sync_rses(rucio_instance)
    deliver([push.pk for push in RSE.objects.filter(name__in=names).assign(approved_class, by=admin)])
    page = browser_page
    login_as(page, member.username, f"{member.username}-pw")
    page.goto(f"{live_server.url}/qos/rses/")
    page.get_by_role("link", name="RSE expression").click()
    field = page.get_by_label("Expression")
    field.fill("QOS=SAFE(")
    page.get_by_role("button", name="Evaluate").click()
    expect(
        page.get_by_text("Rucio refused this expression: Provided RSE expression is considered invalid.")
    ).to_be_visible()
    expect(page.get_by_label("Expression")).to_have_value("QOS=SAFE(")
    page.get_by_label("Expression").fill("QOS=SAFE")
    page.get_by_role("button", name="Evaluate").click()
    expect(page.get_by_role("status")).to_contain_text("Rucio and the portal agree: 2 RSEs.")
    for name in names:
        expect(page.get_by_role("link", name=name)).to_be_visible()
    page.screenshot(path=str(tmp_path / "rse-expression.png"), full_page=True)
