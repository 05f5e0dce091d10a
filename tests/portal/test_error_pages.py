"""Refusals and errors are pages of the site: its layout and navigation, why in the users' words, a way back.

Under /api/ they stay JSON, and a request without credentials gets 401 with a challenge (README, "API").
"""

import json
import re

import pytest
from django.core.exceptions import PermissionDenied
from django.db import connection
from django.test import Client, RequestFactory
from django.test.utils import CaptureQueriesContext
from rest_framework.test import APIClient

from portal.error_pages import permission_denied, server_error
from tests.portal.test_site import PRODUCTION_ENV, run_manage

LAYOUT = 'class="site-nav"'  # the navigation of a logged-in user's page


def back_link(page: str) -> str:
    return re.search(r'<a class="button" href="([^"]*)">', page).group(1)


# --- 403 ------------------------------------------------------------------------------------------------------
@pytest.mark.django_db
def test_a_refusal_is_a_page_of_the_site_with_the_reason_and_a_way_back(client_for, member, approved_class):
    response = client_for(member).get("/qos/SAFE/edit/")
    assert response.status_code == 403
    page = response.content.decode()
    assert LAYOUT in page and "<title>Not allowed · ESCAPE QoS</title>" in page
    assert "Only QoS admins edit classes and propose changes to them." in page
    assert "You are logged in as erin-member, with the role Member." in page
    assert back_link(page) == "/"  # no Referer: the dashboard


@pytest.mark.django_db
def test_a_refusal_leads_back_to_the_page_the_user_came_from_on_this_site_only(
    client_for, member, approved_class
):
    client = client_for(member)
    came_from = "http://testserver/qos/SAFE/?tab=history"
    page = client.get("/qos/SAFE/edit/", headers={"referer": came_from}).content.decode()
    assert back_link(page) == came_from
    for foreign in ("https://evil.example/phish", "javascript:alert(1)", "//evil.example/"):
        page = client.get("/qos/SAFE/edit/", headers={"referer": foreign}).content.decode()
        assert back_link(page) == "/", foreign


@pytest.mark.django_db
def test_a_refusal_without_a_reason_says_the_roles_do_not_allow_it(client_for, member):
    response = client_for(member).post("/qos/rses/assign/", {"rses": "X", "qos_class": "SAFE"})
    assert response.status_code == 403
    assert "Your roles on the portal do not allow this." in response.content.decode()


@pytest.mark.django_db
def test_a_user_without_a_role_is_told_so_and_sent_to_their_account(client_for, outsider):
    response = client_for(outsider).get("/")
    assert response.status_code == 403
    page = response.content.decode()
    assert "Your account has no role on the portal yet" in page
    assert back_link(page) == "/account/"  # the dashboard would refuse them too


@pytest.mark.django_db
def test_the_reason_is_escaped(member):
    request = RequestFactory().get("/qos/")
    request.user = member
    response = permission_denied(request, PermissionDenied('<script>alert("x")</script>'))
    page = response.content.decode()
    assert "<script>alert" not in page
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;" in page


@pytest.mark.django_db
def test_a_refusal_under_the_api_is_json(member):
    request = RequestFactory().get("/api/v1/anything/")
    request.user = member
    response = permission_denied(request, PermissionDenied("Only QoS admins may do this."))
    assert response.status_code == 403
    assert json.loads(response.content) == {"detail": "Only QoS admins may do this."}


# --- 404 ------------------------------------------------------------------------------------------------------
@pytest.mark.django_db
def test_a_missing_page_is_a_page_of_the_site_with_a_way_back(client_for, member):
    response = client_for(member).get("/qos/NO-SUCH-CLASS/")
    assert response.status_code == 404
    page = response.content.decode()
    assert LAYOUT in page and "<title>Not found · ESCAPE QoS</title>" in page
    assert "There is nothing at <code>/qos/NO-SUCH-CLASS/</code>" in page
    assert "StorageQoSClass" not in page  # Django's own words about the query, which are not the users'
    assert back_link(page) == "/"


@pytest.mark.django_db
def test_a_missing_api_url_is_json(api_for, member):
    response = api_for(member).get("/api/v1/no-such-thing/")
    assert response.status_code == 404
    assert response.json() == {"detail": "Not found."}


# --- 500 ------------------------------------------------------------------------------------------------------
def test_the_server_error_page_needs_neither_the_database_nor_the_user():
    # No django_db mark: any query would fail the test. The request has no user and no session either.
    response = server_error(RequestFactory().get("/qos/"))
    assert response.status_code == 500
    page = response.content.decode()
    assert "<title>Server error · ESCAPE QoS</title>" in page
    assert "The portal failed while answering this request." in page


@pytest.mark.django_db
@pytest.mark.urls("tests.portal.crash_urls")
def test_a_view_that_crashes_gets_the_server_error_page_with_the_request_id(member):
    client = Client(raise_request_exception=False)
    client.force_login(member)
    with CaptureQueriesContext(connection) as queries:
        response = client.get("/crash/")
    assert response.status_code == 500
    page = response.content.decode()
    assert "The portal failed while answering this request." in page
    assert f"<code>{response['X-Request-ID']}</code>" in page
    assert "hunter2" not in page and "RuntimeError" not in page
    assert LAYOUT not in page  # no navigation: it would need the user
    # The session and the user, read before the view crashed; nothing after.
    assert len(queries) <= 2
    api = client.get("/api/v1/crash/")
    assert api.status_code == 500
    assert api.json() == {"detail": "Server error: the portal could not answer this request."}


# --- 401 from the API -----------------------------------------------------------------------------------------
@pytest.mark.django_db
def test_an_api_request_without_credentials_gets_401_with_a_challenge():
    response = APIClient().get("/api/v1/qos-classes/")
    assert response.status_code == 401
    assert response["WWW-Authenticate"] == 'Session realm="escape-qos-portal"'
    assert response.json() == {"detail": "Authentication credentials were not provided."}


def test_an_api_request_without_credentials_gets_401_with_the_production_settings_too():
    # tests/settings.py installs the bearer token class first; production without IAM has the session's only.
    code = (
        "from django.test import Client; "
        "r = Client().get('/api/v1/qos-classes/', secure=True, headers={'host': 'qos.escape.example'}); "
        "print(r.status_code, r['WWW-Authenticate'])"
    )
    result = run_manage("shell", "-v", "0", "-c", code, env=PRODUCTION_ENV)
    assert result.stdout.strip() == '401 Session realm="escape-qos-portal"', result.stderr
