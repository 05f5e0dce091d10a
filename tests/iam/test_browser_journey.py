"""Logging in with IAM in headless Chromium: portal → provider's login form → back, my account, logout via IAM.

The portal is reached on 127.0.0.1, the host registered with the provider; both keep their cookies apart by
name (Django's sessionid/csrftoken, the provider's op_*).
"""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from tests.oidc import USERS

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def sign_in_at_iam(page: Page, username: str) -> None:
    expect(page.get_by_role("heading", name="Test IAM login")).to_be_visible()
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(USERS[username]["password"])
    page.get_by_role("button", name="Sign in").click()


def test_liaison_logs_in_with_iam_sees_their_roles_and_logs_out(
    browser_page: Page, iam, portal_url, experiments
):
    page = browser_page
    page.goto(f"{portal_url}/qos/")
    expect(page).to_have_url(re.compile(r"/accounts/login/\?next=/qos/$"))
    page.get_by_role("link", name="Log in with ESCAPE IAM").click()

    sign_in_at_iam(page, "liam")
    expect(page).to_have_url(f"{portal_url}/qos/")
    expect(page.get_by_role("heading", level=1)).to_have_text("Storage QoS Class catalogue")

    page.get_by_role("link", name="liam").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("My account")
    roles = page.get_by_role("table")
    expect(roles.get_by_role("row", name=re.compile("Experiment liaison of CTA"))).to_contain_text(
        "escape/cta"
    )
    expect(roles.get_by_role("row", name=re.compile("^Member"))).to_contain_text("IAM group escape")

    page.get_by_role("button", name="Log out").click()
    expect(page.get_by_role("heading", name="Sign out of Test IAM?")).to_be_visible()
    page.get_by_role("button", name="Yes, sign me out").click()
    expect(page).to_have_url(f"{portal_url}/accounts/login/")
    expect(page.get_by_role("status")).to_contain_text("You are logged out of the portal.")


def test_someone_outside_the_escape_groups_is_told_why(browser_page: Page, iam, portal_url):
    page = browser_page
    page.goto(f"{portal_url}/accounts/login/")
    page.get_by_role("link", name="Log in with ESCAPE IAM").click()
    sign_in_at_iam(page, "otto")
    expect(page.get_by_role("heading", level=1)).to_have_text("You cannot use this portal yet")
    expect(page.get_by_role("alert")).to_contain_text("in none of the groups that give a role")
    expect(page.get_by_role("listitem").filter(has_text="escape/qos/admins")).to_be_visible()
    page.goto(f"{portal_url}/")
    expect(page).to_have_url(re.compile(r"/accounts/login/"))
