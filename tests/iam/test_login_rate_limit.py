"""Local logins are locked for a while after repeated failures, per user name and address (django-axes).

IAM logins are left to IAM, which rate-limits its own; the API's session authentication is unaffected.
"""

from __future__ import annotations

import io
import json
import logging
import re
from datetime import timedelta

import pytest
from axes.models import AccessAttempt
from django.contrib.auth import authenticate
from django.core.management import call_command
from django.test import Client

from portal.iam.lockout import client_ip
from tests.portal.test_site import PRODUCTION_ENV, run_manage

pytestmark = pytest.mark.django_db

LOGIN_URLS = ["/accounts/login/", "/admin/login/", "/api/auth/login/"]
LIMIT = 5  # LOGIN_FAILURE_LIMIT's default


def fail(client: Client, username: str, times: int, url: str = "/accounts/login/", **extra):
    response = None
    for _ in range(times):
        response = client.post(url, {"username": username, "password": "wrong"}, **extra)
    return response


def log_in(client: Client, user, url: str = "/accounts/login/", **extra):
    return client.post(url, {"username": user.username, "password": f"{user.username}-pw"}, **extra)


def test_failures_below_the_limit_only_say_the_password_is_wrong(client, member):
    response = fail(client, member.username, LIMIT - 1)
    assert response.status_code == 200
    assert "Please enter a correct username and password" in response.content.decode()
    assert log_in(client, member).status_code == 302


@pytest.mark.parametrize("url", LOGIN_URLS)
def test_the_fifth_failure_locks_the_login_with_a_page_that_says_when_to_try_again(client, member, url):
    response = fail(client, member.username, LIMIT, url)
    assert response.status_code == 429
    page = response.content.decode()
    assert '<link rel="stylesheet" href="/static/css/portal.css">' in page  # the portal's layout
    assert "<h1>Too many failed logins</h1>" in page
    assert f"Logging in as <strong>{member.username}</strong> from your address failed 5 times" in page
    assert re.search(r"Try again later: in 15 minutes, at \d\d:\d\d\.", page)
    assert 'href="/accounts/login/">Back to the login page' in page


def test_a_locked_login_refuses_even_the_right_password(client, member):
    fail(client, member.username, LIMIT)
    response = log_in(client, member)
    assert response.status_code == 429
    assert "Too many failed logins" in response.content.decode()
    assert client.get("/").status_code == 302  # not logged in


def test_attempts_during_the_lock_do_not_extend_it(client, member):
    fail(client, member.username, LIMIT)
    first = AccessAttempt.objects.get(username=member.username)
    response = fail(client, member.username, 3)
    assert response.status_code == 429
    again = AccessAttempt.objects.get(username=member.username)
    assert (again.failures_since_start, again.attempt_time) == (LIMIT, first.attempt_time)


def test_the_lock_ends_after_the_cool_off(client, member):
    fail(client, member.username, LIMIT)
    AccessAttempt.objects.update(
        attempt_time=AccessAttempt.objects.get().attempt_time - timedelta(minutes=15)
    )
    assert log_in(client, member).status_code == 302
    assert client.get("/").status_code == 200


def test_an_operator_lifts_a_lock_at_once(client, member):
    fail(client, member.username, LIMIT)
    call_command("axes_reset_username", member.username, stdout=io.StringIO())
    assert log_in(client, member).status_code == 302


def test_the_page_says_how_long_is_left(client, member):
    fail(client, member.username, LIMIT)
    AccessAttempt.objects.update(
        attempt_time=AccessAttempt.objects.get().attempt_time - timedelta(minutes=13)
    )
    assert "Try again later: in 2 minutes" in log_in(client, member).content.decode()


def test_the_lock_holds_one_user_name_from_one_address(client, member, admin):
    fail(client, member.username, LIMIT)
    assert log_in(client, member).status_code == 429
    assert log_in(Client(), admin).status_code == 302  # another user name, same address
    assert log_in(Client(REMOTE_ADDR="192.0.2.20"), member).status_code == 302  # same user name, elsewhere


def test_a_successful_login_clears_the_failures(client, member):
    fail(client, member.username, LIMIT - 1)
    assert log_in(client, member).status_code == 302
    client.post("/accounts/logout/")
    assert fail(client, member.username, LIMIT - 1).status_code == 200
    assert log_in(client, member).status_code == 302


def test_failures_and_the_lockout_are_logged_without_the_password(client, member, caplog):
    caplog.set_level(logging.INFO)
    fail(client, member.username, LIMIT)
    log_in(client, member)
    messages = [record.getMessage() for record in caplog.records]
    assert any("Locking out" in text and member.username in text for text in messages)
    assert any(
        text.startswith(f"Local login refused: user name '{member.username}' locked out from 127.0.0.1 until")
        for text in messages
    )
    assert not any("wrong" in text or "erin-member-pw" in text for text in messages)
    assert "wrong" not in AccessAttempt.objects.get().post_data


def test_unknown_user_names_are_locked_the_same_way(client):
    assert fail(client, "nobody-here", LIMIT).status_code == 429


# --- Behind proxies -------------------------------------------------------------------------------------------


def test_without_trusted_proxies_a_forged_forwarded_for_header_changes_nothing(client, member):
    for hop in range(LIMIT):
        fail(client, member.username, 1, HTTP_X_FORWARDED_FOR=f"203.0.113.{hop}")
    assert log_in(client, member, HTTP_X_FORWARDED_FOR="203.0.113.99").status_code == 429


def test_behind_one_trusted_proxy_the_client_is_the_address_the_proxy_appended(member, settings):
    settings.TRUSTED_PROXY_COUNT = 1
    balancer = Client(REMOTE_ADDR="10.0.0.1")
    for hop in range(LIMIT):
        # What stands left of the proxy's own entry was written by the client: forged, and ignored.
        fail(balancer, member.username, 1, HTTP_X_FORWARDED_FOR=f"203.0.113.{hop}, 198.51.100.7")
    assert AccessAttempt.objects.get().ip_address == "198.51.100.7"
    assert log_in(balancer, member, HTTP_X_FORWARDED_FOR="198.51.100.7").status_code == 429
    # Another person behind the same load balancer is not locked out.
    assert log_in(balancer, member, HTTP_X_FORWARDED_FOR="198.51.100.8").status_code == 302


@pytest.mark.parametrize(
    ("count", "forwarded_for", "expected"),
    [
        (0, "203.0.113.5", "10.0.0.1"),
        (1, "203.0.113.5", "203.0.113.5"),
        (1, "198.51.100.1, 203.0.113.5", "203.0.113.5"),
        (2, "198.51.100.1, 203.0.113.5, 10.0.0.2", "203.0.113.5"),
        (2, "203.0.113.5", "10.0.0.1"),  # did not pass both proxies: its peer is who it is
        (1, "", "10.0.0.1"),
    ],
)
def test_client_address_counts_only_the_trusted_proxies_entries(rf, settings, count, forwarded_for, expected):
    settings.TRUSTED_PROXY_COUNT = count
    request = rf.post("/accounts/login/", REMOTE_ADDR="10.0.0.1", HTTP_X_FORWARDED_FOR=forwarded_for)
    assert client_ip(request) == expected


# --- Configuration --------------------------------------------------------------------------------------------


def test_limit_and_cool_off_come_from_the_environment():
    code = "from django.conf import settings; print(settings.AXES_FAILURE_LIMIT, settings.AXES_COOLOFF_TIME, settings.TRUSTED_PROXY_COUNT)"
    env = {
        **PRODUCTION_ENV,
        "LOGIN_FAILURE_LIMIT": "3",
        "LOGIN_COOLOFF_MINUTES": "90",
        "TRUSTED_PROXY_COUNT": "2",
    }
    result = run_manage("shell", "-c", code, env=env)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1] == "3 1:30:00 2"
    defaults = run_manage("shell", "-c", code, env=PRODUCTION_ENV)
    assert defaults.stdout.strip().splitlines()[-1] == "5 0:15:00 0"


def test_a_limit_below_one_is_a_clear_error():
    result = run_manage("check", env={**PRODUCTION_ENV, "LOGIN_FAILURE_LIMIT": "0"})
    assert result.returncode != 0
    assert "LOGIN_FAILURE_LIMIT and LOGIN_COOLOFF_MINUTES must be at least 1" in result.stderr


# --- Other ways in ----------------------------------------------------------------------------------------------


def test_the_api_works_with_the_session_of_a_local_login(client, member):
    assert log_in(client, member).status_code == 302
    response = client.get("/api/v1/me/")
    assert response.status_code == 200
    assert json.loads(response.content)["username"] == member.username


def test_iam_callbacks_that_fail_are_not_counted(rf):
    # What mozilla-django-oidc's callback passes: a nonce and a PKCE verifier, never a password.
    request = rf.get("/oidc/callback/")
    for _ in range(LIMIT + 1):
        assert authenticate(request, nonce="n", code_verifier="v") is None
    assert not AccessAttempt.objects.exists()


def test_iam_login_still_works_for_a_user_name_locked_out_locally(iam, client, experiments):
    assert fail(client, "liam", LIMIT).status_code == 429
    response = iam.login(client, "liam", next_url="/qos/")
    assert response.status_code == 302 and response.url == "/qos/"
    assert client.get("/qos/").status_code == 200
