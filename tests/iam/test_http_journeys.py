"""Whole journeys over plain HTTP (requests, following redirects) between the live portal and the provider:
login, session renewal against IAM, and logout through IAM's end_session."""

import re
from urllib.parse import parse_qs, urljoin, urlsplit

import pytest
import requests
from django.contrib.auth import get_user_model
from django.contrib.sessions.backends.db import SessionStore

from portal.choices import Role
from tests.oidc import USERS

pytestmark = pytest.mark.django_db(transaction=True)

User = get_user_model()


def sign_in_at_provider(
    session: requests.Session, page: requests.Response, username: str
) -> requests.Response:
    """Fill the provider's login form on ``page``; follow the redirects back to the portal."""
    assert 'name="password"' in page.text, page.text[:300]
    action = re.search(r'action="([^"]+)"', page.text).group(1)
    return session.post(
        urljoin(page.url, action),
        data={"username": username, "password": USERS[username]["password"]},
        timeout=10,
    )


def log_in(session: requests.Session, portal_url: str, username: str) -> requests.Response:
    login_page = session.get(f"{portal_url}/accounts/login/?next=/account/", timeout=10)
    link = re.search(r'<a class="button primary" href="([^"]+)">Log in with ESCAPE IAM</a>', login_page.text)
    assert link, login_page.text
    at_provider = session.get(urljoin(login_page.url, link.group(1).replace("&amp;", "&")), timeout=10)
    return sign_in_at_provider(session, at_provider, username)


def expire_renewal(session: requests.Session) -> None:
    """Make the portal session due for renewal, as after OIDC_RENEW_ID_TOKEN_EXPIRY_SECONDS."""
    store = SessionStore(session_key=session.cookies["sessionid"])
    store["oidc_id_token_expiration"] = 0
    store.save()


def test_a_full_login_through_plain_http(iam, portal_url, experiments):
    with requests.Session() as session:
        response = log_in(session, portal_url, "liam")
        assert response.status_code == 200
        assert response.url == f"{portal_url}/account/"
        hops = [urlsplit(r.url).path for r in response.history]
        assert hops[-1] == "/oidc/callback/"  # the provider sent the browser back to the portal
        assert "Experiment liaison of CTA" in response.text
        assert '<a class="who" href="/account/"' in response.text and ">liam</a>" in response.text
        assert session.get(f"{portal_url}/qos/", timeout=10).status_code == 200
    user = User.objects.get(username="liam")
    assert set(user.groups.values_list("name", flat=True)) == {Role.MEMBER, Role.LIAISON}


def test_the_session_is_renewed_silently_against_iam_with_fresh_roles(iam, portal_url):
    with requests.Session() as session:
        log_in(session, portal_url, "mona")
        iam.provider.set_groups("mona", ["escape", "escape/qos/admins"])
        expire_renewal(session)
        response = session.get(f"{portal_url}/qos/new/", timeout=10)
        # Sent to IAM with prompt=none, and back at once: no login form, the page asked for, new roles.
        authorize = next(r for r in response.history if r.url.startswith(iam.provider.issuer))
        assert parse_qs(urlsplit(authorize.url).query)["prompt"] == ["none"]
        assert response.status_code == 200
        assert response.url == f"{portal_url}/qos/new/"
        assert "New" in response.text
        store = SessionStore(session_key=session.cookies["sessionid"])
        assert store["oidc_id_token_expiration"] > 0
    assert User.objects.get(username="mona").groups.filter(name=Role.QOS_ADMIN).exists()


def test_when_the_iam_session_has_ended_the_portal_session_ends_too(iam, portal_url):
    with requests.Session() as session:
        log_in(session, portal_url, "mona")
        for name in [cookie.name for cookie in session.cookies if cookie.name.startswith("op_")]:
            del session.cookies[name]  # the IAM session is gone (expired, or logged out elsewhere)
        expire_renewal(session)
        response = session.get(f"{portal_url}/qos/", timeout=10)
        assert response.url.startswith(f"{portal_url}/accounts/login/")
        assert "Your IAM session has ended: log in again." in response.text
        assert session.get(f"{portal_url}/qos/", allow_redirects=False, timeout=10).status_code == 302


def test_local_accounts_are_never_sent_to_iam_for_renewal(iam, portal_url, member):
    with requests.Session() as session:
        session.get(f"{portal_url}/accounts/login/", timeout=10)
        response = session.post(
            f"{portal_url}/accounts/login/",
            data={
                "username": member.username,
                "password": "erin-member-pw",
                "csrfmiddlewaretoken": session.cookies["csrftoken"],
            },
            timeout=10,
        )
        assert response.status_code == 200 and response.url == f"{portal_url}/"
        expire_renewal(session)
        response = session.get(f"{portal_url}/qos/", timeout=10)
        assert response.url == f"{portal_url}/qos/" and not response.history


def test_logout_ends_the_portal_session_and_sends_the_browser_to_iams_logout(iam, portal_url):
    with requests.Session() as session:
        log_in(session, portal_url, "mona")
        response = session.post(
            f"{portal_url}/accounts/logout/",
            data={"csrfmiddlewaretoken": session.cookies["csrftoken"]},
            allow_redirects=False,
            timeout=10,
        )
        assert response.status_code == 302
        end_session = urlsplit(response.headers["Location"])
        assert (
            f"{end_session.scheme}://{end_session.netloc}{end_session.path}"
            == f"{iam.provider.issuer}/session/end"
        )
        params = parse_qs(end_session.query)
        assert params["post_logout_redirect_uri"] == [f"{portal_url}/accounts/login/"]
        assert params["client_id"] == ["portal"]
        assert params["id_token_hint"][0].count(".") == 2
        # The portal session is already over.
        assert session.get(f"{portal_url}/qos/", allow_redirects=False, timeout=10).status_code == 302

        # At IAM: confirm, and IAM sends the browser back to the portal's login page.
        confirm = session.get(response.headers["Location"], timeout=10)
        form = dict(re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)"', confirm.text))
        action = re.search(r'<form[^>]*action="([^"]+)"', confirm.text).group(1)
        back = session.post(urljoin(confirm.url, action), data={**form, "logout": "yes"}, timeout=10)
        assert back.url == f"{portal_url}/accounts/login/"
        assert "You are logged out of the portal." in back.text

        # IAM's own session is over too: the next IAM login asks for the password again.
        again = session.get(f"{portal_url}/oidc/authenticate/", timeout=10)
        assert 'name="password"' in again.text
