"""The Content-Security-Policy as Chromium applies it: the main pages work without a single violation.

Chromium reports every violation both as a ``securitypolicyviolation`` event in the page and as a console
error; both are collected (the event listener is installed before any of the page's own content runs).
"""

from __future__ import annotations

import io

import pytest
from django.core.management import call_command
from playwright.sync_api import Page, expect

from engagement.models import Requirement
from meetings.models import Action, Meeting
from qos.models import RSE, RucioInstance

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

LISTEN_FOR_VIOLATIONS = """
window.__cspViolations = [];
document.addEventListener("securitypolicyviolation", (event) => {
  window.__cspViolations.push(`${event.violatedDirective} blocked ${event.blockedURI} at ${event.sourceFile}:${event.lineNumber}`);
});
"""


class Violations:
    """Every CSP violation Chromium reported on a page, from its events and its console."""

    def __init__(self, page: Page) -> None:
        self.page = page
        self.console: list[str] = []
        page.add_init_script(LISTEN_FOR_VIOLATIONS)
        page.on("console", self._console)

    def _console(self, message) -> None:
        if "Content Security Policy" in message.text or "Content-Security-Policy" in message.text:
            self.console.append(message.text)

    def on(self, url: str) -> list[str]:
        events = self.page.evaluate("window.__cspViolations || []")
        found = [f"{url}: {text}" for text in [*events, *self.console]]
        self.console.clear()
        return found


@pytest.fixture
def demo(django_user_model):
    """The demo (classes, experiments and requirements, meetings and actions), two RSEs, and a superuser."""
    call_command("loaddemo", stdout=io.StringIO())
    instance = RucioInstance.objects.create(name="escape", host="https://rucio.escape.example")
    for name in ("CERN-EOS", "DESY-DCACHE"):
        RSE.objects.create(instance=instance, name=name)
    user = django_user_model.objects.create_superuser("sam-super", password="sam-super-pw")
    return user


def test_main_pages_run_without_any_policy_violation(browser_page: Page, login_as, live_server, demo):
    page = browser_page
    violations = Violations(page)
    login_as(page, "sam-super", "sam-super-pw")
    assert violations.on("/accounts/login/") == []

    requirement = Requirement.objects.order_by("pk").first()
    meeting = Meeting.objects.order_by("pk").first()
    action = Action.objects.order_by("pk").first()
    pages = [
        ("/", "Dashboard"),
        ("/qos/", "Storage QoS Class catalogue"),
        ("/qos/SAFE/", "SAFE"),
        ("/qos/SAFE/edit/", None),
        ("/qos/SAFE/history/", None),
        ("/qos/rses/", None),
        ("/qos/rses/CERN-EOS/", "CERN-EOS"),
        ("/requirements/", None),
        (f"/requirements/{requirement.pk}/", None),
        ("/experiments/CTA/", None),
        ("/meetings/", None),
        (f"/meetings/{meeting.pk}/", None),
        (f"/meetings/{meeting.pk}/minutes/", None),
        ("/actions/", None),
        (f"/actions/{action.pk}/", None),
        ("/account/", "My account"),
        ("/admin/", None),
        ("/admin/qos/storageqosclass/", None),
        (f"/admin/auth/user/{demo.pk}/change/", None),
        ("/api/v1/qos-classes/", None),  # DRF's browsable API
    ]
    found = []
    for url, heading in pages:
        response = page.goto(f"{live_server.url}{url}")
        assert response.status == 200, url
        # Directives in any order (the header does not keep one): script-src is exactly 'self'.
        directives = [part.split() for part in response.headers["content-security-policy"].split(";")]
        assert ["script-src", "'self'"] in directives, url
        if heading:
            expect(page.get_by_role("heading", level=1)).to_contain_text(heading)
        page.wait_for_load_state("load")
        found += violations.on(url)
    assert found == []


def test_swagger_ui_renders_the_api_under_the_policy(browser_page: Page, login_as, live_server, demo):
    page = browser_page
    violations = Violations(page)
    login_as(page, "sam-super", "sam-super-pw")
    page.goto(f"{live_server.url}/api/docs/")
    # Rendered by Swagger UI's scripts from the schema, so these prove the scripts ran.
    expect(page.locator(".swagger-ui .info .title")).to_contain_text("ESCAPE QoS portal API")
    page.get_by_role("button", name="GET /api/v1/qos-classes/", exact=True).click()
    page.get_by_role("button", name="Try it out").click()
    page.get_by_role("button", name="Execute").click()
    # The request Swagger UI sent from the page (connect-src) answered with the demo's classes.
    expect(page.locator(".live-responses-table tr.response .response-col_status")).to_have_text("200")
    expect(page.locator(".live-responses-table tr.response .microlight").first).to_contain_text(
        '"label": "SAFE"'
    )
    assert violations.on("/api/docs/") == []


def test_logging_out_of_the_browsable_api_works_under_the_policy(
    browser_page: Page, login_as, live_server, demo
):
    page = browser_page
    violations = Violations(page)
    login_as(page, "sam-super", "sam-super-pw")
    page.goto(f"{live_server.url}/api/v1/qos-classes/")
    page.get_by_role("link", name="sam-super").click()
    page.get_by_role("button", name="Log out").click()
    expect(page.get_by_role("status")).to_contain_text("You are logged out of the portal.")
    assert violations.on("/api/v1/qos-classes/") == []


def test_logging_out_works_under_the_policy(browser_page: Page, login_as, live_server, demo):
    page = browser_page
    violations = Violations(page)
    login_as(page, "sam-super", "sam-super-pw")
    page.get_by_role("button", name="Log out").click()
    expect(page.get_by_role("status")).to_contain_text("You are logged out of the portal.")
    assert violations.on("logout") == []
