"""Whole pages and API lists from the table cache (common/page_cache.py): served with no query and no template
while nothing they show was written, never to another session, user or role, never stale.

With the cache on and sessions kept in it, as production runs with CACHE_URL; every write committed
(transactional_db): a transaction that wrote neither reads nor keeps entries. tests/common/test_table_cache.py
runs the staleness checks of the cached parts with the page cache on as well.
"""

from __future__ import annotations

import re
import uuid

import pytest
from django.contrib import messages
from django.contrib.auth.models import Group
from django.contrib.messages.storage.base import Message
from django.contrib.messages.storage.cookie import CookieStorage
from django.core.cache import cache
from django.db import connection
from django.http import HttpRequest
from django.test import Client
from django.test.utils import CaptureQueriesContext

from common import page_cache
from portal.choices import Role
from qos.models import StorageQoSClass
from tests.conftest import SAFE_CONTENT

pytestmark = pytest.mark.django_db(transaction=True)

PAGES = ["/", "/qos/", "/qos/rses/", "/actions/"]
LISTS = ["/api/v1/qos-classes/", "/api/v1/rses/", "/api/v1/requirements/", "/api/v1/actions/"]
TOKEN = re.compile(rb'name="csrfmiddlewaretoken" value="([A-Za-z0-9]+)"')


@pytest.fixture
def cache_on(settings):
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.locmem.LocMemCache",
            "LOCATION": f"page-cache-{uuid.uuid4()}",
        }
    }
    settings.TABLE_CACHE = True
    settings.SESSION_ENGINE = "django.contrib.sessions.backends.cached_db"


def make_class(by, label: str, **content) -> StorageQoSClass:
    return StorageQoSClass.objects.create_draft(by=by, **{**SAFE_CONTENT, "label": label, **content})


def get(client: Client, url: str):
    with CaptureQueriesContext(connection) as queries:
        response = client.get(url)
    return response, len(queries)


@pytest.mark.parametrize("url", PAGES + LISTS)
def test_a_page_seen_again_is_served_whole_with_no_query_and_no_template(cache_on, client_for, admin, url):
    make_class(admin, "SAFE")
    client = client_for(admin)
    first, _ = get(client, url)
    again, queries = get(client, url)
    assert first.status_code == again.status_code == 200
    assert queries == 0
    assert again.templates == []  # nothing rendered: the kept answer
    if url in LISTS:  # the view ran the first time only (it says until when its answer holds)
        assert hasattr(first.wsgi_request, "page_cache_until")
        assert not hasattr(again.wsgi_request, "page_cache_until")
    for header in ("Content-Type", "Cache-Control", "Vary", "X-Frame-Options", "Content-Security-Policy"):
        assert again.get(header) == first.get(header), header
    strip = (lambda body: TOKEN.sub(b"", body)) if url in PAGES else (lambda body: body)
    assert strip(again.content) == strip(first.content)


def test_a_served_page_carries_a_csrf_token_of_the_requester_that_a_post_accepts(cache_on, admin):
    client = Client(enforce_csrf_checks=True)
    client.force_login(admin)
    client.get("/qos/rses/")
    served = client.get("/qos/rses/")
    assert served.templates == []
    tokens = TOKEN.findall(served.content)
    assert len(tokens) == 3  # the log-out form and the RSE list's two forms
    assert page_cache.TOKEN_PLACEHOLDER not in served.content
    # The page's own token logs the user out (a wrong one would be refused with 403).
    response = client.post("/accounts/logout/", {"csrfmiddlewaretoken": tokens[0].decode()})
    assert response.status_code == 302
    assert client.get("/qos/rses/").status_code == 302  # logged out: to the login page, not the kept page


def test_a_write_shows_on_the_next_request(cache_on, client_for, admin):
    make_class(admin, "SAFE")
    client = client_for(admin)
    client.get("/qos/")
    assert client.get("/qos/").templates == []
    StorageQoSClass.objects.filter(label="SAFE").update(title="Renamed in place")  # no save(), no signal
    changed = client.get("/qos/")
    assert b"Renamed in place" in changed.content
    assert changed.templates != []


def test_a_kept_page_is_for_its_session_alone(cache_on, client_for, admin, admin2):
    one, other = client_for(admin), client_for(admin2)
    one.get("/")
    assert one.get("/").templates == []
    shown = other.get("/")
    assert shown.templates != []  # computed for the other user
    assert b"bob-admin" in shown.content and b"alice-admin" not in shown.content
    second_session = client_for(admin)  # the same user in another browser: its own entry
    assert second_session.get("/").templates != []


def test_a_lost_role_is_refused_at_once(cache_on, client_for, admin):
    client = client_for(admin)
    client.get("/qos/")
    assert client.get("/qos/").status_code == 200
    admin.groups.clear()
    assert client.get("/qos/").status_code == 403


def test_a_new_password_logs_the_session_out_at_the_next_request(cache_on, client_for, admin):
    client = client_for(admin)
    client.get("/actions/")
    assert client.get("/actions/").templates == []
    admin.set_password("a-new-and-long-password")
    admin.save()
    assert client.get("/actions/").status_code == 302  # to the login page


def test_a_pending_message_is_shown_and_never_kept(cache_on, client_for, admin):
    client = client_for(admin)
    client.get("/qos/")
    assert client.get("/qos/").templates == []
    # A message left for the next page, as a view leaves one before a redirect (in a cookie, the default).
    client.cookies[CookieStorage.cookie_name] = CookieStorage(HttpRequest())._encode(
        [Message(messages.SUCCESS, "Saved, and shown once")]
    )
    shown = client.get("/qos/")
    assert shown.templates != [], "served whole"
    assert b"Saved, and shown once" in shown.content
    assert shown.templates != []
    after = client.get("/qos/")
    assert b"Saved, and shown once" not in after.content


def test_an_api_list_is_kept_no_longer_than_its_rows_hold(cache_on, client_for, admin, monkeypatch):
    import datetime

    from django.utils import timezone

    from qos.models import RSE, RucioInstance

    instance = RucioInstance.objects.create(name="escape", host="https://rucio.escape.invalid")
    pushed = timezone.now() - datetime.timedelta(minutes=14)
    RSE.objects.create(instance=instance, name="CERN-EOS", last_pushed_at=pushed)
    client = client_for(admin)
    assert client.get("/api/v1/rses/").json()["results"][0]["expression_may_be_stale"] is True
    assert not hasattr(client.get("/api/v1/rses/").wsgi_request, "page_cache_until")  # served whole
    later = pushed + datetime.timedelta(minutes=16)
    monkeypatch.setattr(timezone, "now", lambda: later)  # time alone, no write
    assert client.get("/api/v1/rses/").json()["results"][0]["expression_may_be_stale"] is False


def test_a_role_given_shows_at_once(cache_on, client_for, member):
    client = client_for(member)
    client.get("/qos/")
    assert b"New class" not in client.get("/qos/").content
    member.groups.add(Group.objects.get(name=Role.QOS_ADMIN))
    assert b"New class" in client.get("/qos/").content


def test_nothing_is_kept_without_sessions_in_the_cache(settings, cache_on, client_for, admin):
    settings.SESSION_ENGINE = "django.contrib.sessions.backends.db"
    client = client_for(admin)
    client.get("/qos/")
    assert client.get("/qos/").templates != []
    assert not any(":table-cache:page:" in key for key in cache._cache)


def test_a_new_secret_key_logs_the_session_out_as_without_the_cache(settings, cache_on, client_for, admin):
    client = client_for(admin)
    client.get("/qos/")
    assert client.get("/qos/").templates == []
    settings.SECRET_KEY = "another-secret-key-" + "x" * 40  # the session's password hash no longer holds
    assert client.get("/qos/").status_code == 302
