"""Accessibility of each role's main pages in Chromium: axe-core finds no serious or critical violation, focus
is visible, and a main journey works with the keyboard alone.

axe-core is the npm package pinned in tests/a11y/ (package.json and package-lock.json); ``npm ci`` installs it
into tests/a11y/node_modules/ on first use, as tests/oidc.py does for the OpenID provider: nothing else is
downloaded while the tests run.
"""

from __future__ import annotations

import io
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from django.core.management import call_command
from playwright.sync_api import Page, expect

from engagement.models import Requirement
from meetings.models import Action, Meeting
from qos.models import RSE, RucioInstance

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

AXE_DIR = Path(__file__).resolve().parents[1] / "a11y"
AXE_SCRIPT = AXE_DIR / "node_modules" / "axe-core" / "axe.min.js"
FAILING_IMPACTS = ("serious", "critical", "moderate", "minor")


@pytest.fixture(scope="session")
def axe_script() -> Path:
    if not AXE_SCRIPT.is_file():
        npm = shutil.which("npm")
        if not npm:
            pytest.fail(
                "The accessibility tests inject axe-core, installed with npm, which is missing: install Node.js "
                ">= 20 and npm (Debian: apt-get install nodejs npm; scripts/test provides them).",
                pytrace=False,
            )
        result = subprocess.run(
            [npm, "ci", "--no-audit", "--no-fund"], cwd=AXE_DIR, capture_output=True, text=True, timeout=300
        )
        if result.returncode != 0:
            pytest.fail(f"npm ci in {AXE_DIR} failed:\n{result.stdout}\n{result.stderr}", pytrace=False)
    return AXE_SCRIPT


@pytest.fixture
def axe_page(chromium) -> Iterator[Page]:
    """A page in a context that ignores the site's Content-Security-Policy, for this test only: the policy allows
    scripts of the site alone, and axe-core is injected from a file by Playwright. The policy itself is held to
    in tests/common/test_csp_browser.py."""
    context = chromium.new_context(viewport={"width": 1280, "height": 900}, bypass_csp=True)
    context.set_default_timeout(15_000)
    page = context.new_page()
    yield page
    context.close()


def axe_violations(page: Page, script: Path, url: str) -> list[str]:
    """The serious and critical violations axe-core finds on the page, one readable line per element."""
    page.add_script_tag(path=str(script))
    results = page.evaluate("() => axe.run(document, {resultTypes: ['violations']})")
    return [
        f"{url}: [{violation['impact']}] {violation['id']}: {violation['help']} — {node['target']} "
        f"{node['html'][:160]}"
        for violation in results["violations"]
        if violation["impact"] in FAILING_IMPACTS
        for node in violation["nodes"]
    ]


@pytest.fixture
def demo(db):
    """The demo (classes, experiments and requirements, meetings and actions) and two RSEs."""
    call_command("loaddemo", stdout=io.StringIO())
    instance = RucioInstance.objects.create(name="escape", host="https://rucio.escape.example")
    for name in ("CERN-EOS", "DESY-DCACHE"):
        RSE.objects.create(instance=instance, name=name)


def main_pages() -> list[str]:
    """The pages every role sees."""
    requirement = Requirement.objects.filter(experiment__short_name="CTA").order_by("pk").first()
    meeting = Meeting.objects.order_by("pk").first()
    action = Action.objects.order_by("pk").first()
    return [
        "/",
        "/qos/",
        "/qos/SAFE/",
        "/qos/rses/",
        "/qos/rse-expression/?expression=QOS%3DSAFE",
        "/requirements/",
        f"/requirements/{requirement.pk}/",
        "/experiments/CTA/",
        "/meetings/",
        f"/meetings/{meeting.pk}/",
        "/actions/",
        f"/actions/{action.pk}/",
        "/people/",
    ]


def role_pages(role: str) -> list[str]:
    """The forms only that role may open, on top of the main pages."""
    requirement = Requirement.objects.filter(experiment__short_name="CTA").order_by("pk").first()
    meeting = Meeting.objects.order_by("pk").first()
    action = Action.objects.order_by("pk").first()
    return {
        "admin": ["/qos/SAFE/edit/", "/qos/new/", "/qos/rucio/escape/"],
        "liaison_cta": ["/requirements/new/", f"/requirements/{requirement.pk}/edit/"],
        "coordinator": [f"/meetings/{meeting.pk}/minutes/", "/actions/new/", f"/actions/{action.pk}/edit/"],
        "member": [],
    }[role]


@pytest.mark.parametrize("role", ["admin", "liaison_cta", "coordinator", "member"])
def test_each_roles_main_pages_have_no_serious_accessibility_violation(
    role, request, axe_page: Page, axe_script: Path, login_as, live_server, demo
):
    user = request.getfixturevalue(role)
    page = axe_page
    page.context.clear_cookies()
    page.goto(f"{live_server.url}/accounts/login/")
    found = axe_violations(page, axe_script, "/accounts/login/")
    login_as(page, user.username, f"{user.username}-pw")
    for url in [*main_pages(), *role_pages(role)]:
        response = page.goto(f"{live_server.url}{url}")
        assert response.status == 200, url
        found += axe_violations(page, axe_script, url)
    assert found == [], "\n".join(found)


FOCUSED = """() => {
  const element = document.activeElement;
  const style = getComputedStyle(element);
  const box = element.getBoundingClientRect();
  return {
    name: (element.innerText || element.value || element.getAttribute("aria-label") || "").trim(),
    tag: element.tagName.toLowerCase(),
    outline: style.outlineStyle === "none" ? 0 : parseFloat(style.outlineWidth),
    onScreen: box.bottom > 0 && box.right > 0 && box.width > 1 && box.height > 1,
  };
}"""


def tab_to(page: Page, name: str, limit: int = 80) -> None:
    """Press Tab until the element named ``name`` has the focus; every element on the way shows its focus."""
    passed = []
    for _ in range(limit):
        page.keyboard.press("Tab")
        focused = page.evaluate(FOCUSED)
        assert focused["outline"] >= 2 and focused["onScreen"], f"no visible focus on {focused}"
        if focused["name"] == name:
            return
        passed.append(focused["name"] or focused["tag"])
    raise AssertionError(f"Tab never reached {name!r}; it went through {passed}")


def test_a_qos_admin_approves_a_proposal_with_the_keyboard_alone(
    browser_page: Page, live_server, proposed_class, admin2
):
    page = browser_page
    page.goto(f"{live_server.url}/accounts/login/")
    expect(page.get_by_label("Username")).to_be_focused()  # autofocus
    page.keyboard.type(admin2.username)
    page.keyboard.press("Tab")
    page.keyboard.type(f"{admin2.username}-pw")
    page.keyboard.press("Enter")
    page.wait_for_url(f"{live_server.url}/")

    # The first Tab shows the way past the navigation, on screen.
    page.keyboard.press("Tab")
    focused = page.evaluate(FOCUSED)
    assert (focused["name"], focused["onScreen"], focused["outline"]) == ("Skip to content", True, 3)
    tab_to(page, "QoS catalogue")
    page.keyboard.press("Enter")
    page.wait_for_url(f"{live_server.url}/qos/")
    tab_to(page, "SAFE")
    page.keyboard.press("Enter")
    page.wait_for_url(f"{live_server.url}/qos/SAFE/")
    tab_to(page, "Approve")
    page.keyboard.press("Enter")
    page.wait_for_url(f"{live_server.url}/qos/SAFE/approve/")
    tab_to(page, "Approve")
    expect(page.get_by_role("button", name="Approve")).to_be_focused()
    page.keyboard.press("Space")
    page.wait_for_url(f"{live_server.url}/qos/SAFE/")
    expect(page.get_by_role("status")).to_contain_text("approved")
    proposed_class.refresh_from_db()
    assert proposed_class.status == "approved"
