"""The dashboard on a phone (390 x 844): a compact summary first, the viewer's first list on the first screen or
so, and none of their parts pushed below 4,000 px."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page

from tests.portal.test_dashboard import make_rows

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PHONE = {"width": 390, "height": 844}


def tops(page: Page) -> list[tuple[str, float]]:
    """Each part of the page's main content, by the id of its heading, with where its top is (px)."""
    return page.eval_on_selector_all(
        "main section.card",
        "sections => sections.map(s => [s.querySelector('h2').id, s.getBoundingClientRect().top + window.scrollY])",
    )


@pytest.mark.parametrize("persona", ["admin", "liaison_cta", "coordinator", "member"])
def test_on_a_phone_the_summary_comes_first_and_every_part_is_within_reach(
    request, browser_page: Page, login_as, persona, admin, admin2, liaison_cta, coordinator, experiments
):
    make_rows(5, admin, admin2, liaison_cta, experiments["CTA"], coordinator)
    user = request.getfixturevalue(persona)
    page = browser_page
    page.set_viewport_size(PHONE)
    login_as(page, user.username, f"{user.username}-pw")
    parts = tops(page)
    assert parts[0][0] == "summary-heading"
    first_list = parts[1][1]
    assert first_list < 1_000, parts
    assert all(top < 4_000 for _, top in parts), parts
