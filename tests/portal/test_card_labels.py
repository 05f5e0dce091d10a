"""On a phone every table of the site becomes a stack of cards (portal.css: ``table.list`` below 760px), and
each cell of a card is headed by its ``data-label``: a cell without one shows a bare value nobody can place.

A crawl of every page the URL resolver knows (the pages and data of test_no_leaks.py), as the roles that see
the most, fails on any cell of such a table without a label; one page in Chromium at 390x844 shows that a card
really shows it.
"""

from __future__ import annotations

from html.parser import HTMLParser

import pytest
from playwright.sync_api import Page, expect

from qos.models import RSE, StorageQoSClass
from tests.conftest import SAFE_CONTENT
from tests.portal.test_no_leaks import client_of, page_urls, site  # noqa: F401 (site: the fixture)

pytestmark = pytest.mark.django_db

# Pages the resolver's walk reaches with arguments that show empty tables: the plans of a class on an RSE.
MORE_PAGES = ["/qos/CARRIED/deprecate/", "/qos/AWAITING/approve/"]


class CardCells(HTMLParser):
    """The cells without a label of the tables that become cards on a phone: ``table.list`` and the actions
    board (``table.board``)."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tables: list[bool] = []  # for each open table: does it become cards?
        self.cell: dict | None = None
        self.unlabelled: list[str] = []
        self.cells = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = dict(attrs)
        if tag == "table":
            classes = (attributes.get("class") or "").split()
            self.tables.append("list" in classes or "board" in classes)
        elif tag == "td" and self.tables and self.tables[-1]:
            self.cells += 1
            self.cell = {"label": (attributes.get("data-label") or "").strip(), "text": ""}
            if not self.cell["label"]:
                self.unlabelled.append(self.cell)

    def handle_endtag(self, tag: str) -> None:
        if tag == "table" and self.tables:
            self.tables.pop()
        elif tag == "td":
            self.cell = None

    def handle_data(self, data: str) -> None:
        if self.cell is not None:
            self.cell["text"] += data


def unlabelled_cells(html: str) -> tuple[int, list[str]]:
    parser = CardCells()
    parser.feed(html)
    return parser.cells, [" ".join(cell["text"].split())[:60] or "(empty)" for cell in parser.unlabelled]


@pytest.fixture
def more_rows(site, admin, admin2):  # noqa: F811 (site: the fixture imported above)
    """Rows for the tables the marked data leaves empty: a class awaiting approval, an approved one on an RSE."""
    proposed = StorageQoSClass.objects.create_draft(by=admin, **{**SAFE_CONTENT, "label": "AWAITING"})
    proposed.propose(by=admin)
    approved = StorageQoSClass.objects.create_draft(by=admin, **{**SAFE_CONTENT, "label": "CARRIED"})
    approved.propose(by=admin)
    approved.approve(by=admin2)
    RSE.objects.filter(pk=site.keys["rse"].pk).update(qos_class=approved, rucio_attributes={"QOS": "CARRIED"})
    return site


@pytest.mark.parametrize("persona", ["admin", "coordinator", "liaison_cta"])
def test_every_card_cell_has_its_label(more_rows, persona):
    client = client_of(more_rows, persona)
    problems, cells = [], 0
    for name, url in page_urls(more_rows) + [(url, url) for url in MORE_PAGES]:
        response = client.get(url)
        if persona == "admin" and url in MORE_PAGES:
            assert (response.status_code, 'class="list plan"' in response.content.decode()) == (200, True), (
                url
            )
        if response.status_code != 200 or "text/html" not in response.get("Content-Type", ""):
            continue
        counted, missing = unlabelled_cells(response.content.decode())
        cells += counted
        problems += [f"{url} ({name}): a cell without a label: {text}" for text in missing]
    assert cells > 100  # the crawl saw tables with rows
    assert not problems, "\n".join(problems)


def test_the_check_finds_a_cell_without_a_label():
    html = (
        '<table class="list"><thead><tr><th>A</th></tr></thead><tbody><tr><td data-label="A">1</td>'
        '<td>two</td><td data-label=" ">3</td></tr></tbody></table><table class="timetable"><tr><td>x</td></tr>'
        '</table><table class="board"><tr><th>A</th><td><em>y</em></td></tr></table>'
    )
    assert unlabelled_cells(html) == (4, ["two", "3", "y"])


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_on_a_phone_a_card_shows_its_labels(browser_page: Page, login_as, live_server, member):
    from tests.meetings.meeting_factories import make_meeting, make_series, zurich

    make_meeting(make_series(), zurich(2020, 3, 18), title="ESCAPE QoS fortnightly meeting")
    page = browser_page
    login_as(page, member.username, f"{member.username}-pw")
    page.set_viewport_size({"width": 390, "height": 844})
    page.goto(f"{live_server.url}/meetings/")
    cell = page.locator('table.list td[data-label="Meeting"]').first
    expect(cell).to_contain_text("ESCAPE QoS fortnightly meeting")
    expect(page.locator("table.list thead")).to_be_hidden()
    shown = cell.evaluate("cell => getComputedStyle(cell, '::before').content")
    assert shown == '"Meeting: "', shown
