"""The table cache (common/table_cache.py): pages and API lists are served from it until a table they show is
written, by whatever means, and never show one user what another sees or what was never committed.

The tests run with the cache on and every write committed (transactional_db), as in production: inside the
test suite's usual per-test transaction nothing would ever be cached (a transaction that wrote bypasses it).
"""

from __future__ import annotations

import datetime
import uuid

import pytest
from django.contrib.auth.models import Group
from django.db import connection, transaction
from django.template import Context, Template
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from common import table_cache
from engagement.matching import ApprovedClasses
from meetings.models import Action, Person
from portal.choices import Role
from qos.models import RSE, RucioInstance, StorageQoSClass
from tests.conftest import SAFE_CONTENT

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def cache_on(settings):
    """The table cache on, in a memory cache of this test alone (one process: shared by everything here)."""
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.locmem.LocMemCache",
            "LOCATION": f"table-cache-{uuid.uuid4()}",
        }
    }
    settings.TABLE_CACHE = True
    # Sessions in that cache, as production keeps them with CACHE_URL: whole pages are served from it too
    # (common/page_cache.py), so every test here also holds them to what it checks of the cached parts.
    settings.SESSION_ENGINE = "django.contrib.sessions.backends.cached_db"


def queries_of(client, url: str) -> tuple[int, bytes]:
    with CaptureQueriesContext(connection) as queries:
        response = client.get(url)
    assert response.status_code == 200, url
    return len(queries), response.content


def make_class(by, label: str, **content) -> StorageQoSClass:
    return StorageQoSClass.objects.create_draft(by=by, **{**SAFE_CONTENT, "label": label, **content})


def test_the_catalogue_page_is_served_from_the_cache_until_a_class_is_written(cache_on, client_for, admin):
    make_class(admin, "SAFE")
    client = client_for(admin)
    first, page = queries_of(client, "/qos/")
    again, same = queries_of(client, "/qos/")
    assert b"SAFE" in page
    assert again < first  # neither the count nor the rows were read again
    assert same.split(b"<main")[1] == page.split(b"<main")[1]  # the header's log-out form has a fresh token

    make_class(admin, "FAST", storage_media="ssd", access_latency="online")
    _, changed = queries_of(client, "/qos/")
    assert b"FAST" in changed


def test_a_queryset_update_retires_the_cached_rse_list_and_api(cache_on, client_for, api_for, admin):
    instance = RucioInstance.objects.create(name="escape", host="https://rucio.escape.invalid")
    RSE.objects.create(instance=instance, name="CERN-EOS", sync_state="in_sync", last_read_at=timezone.now())
    page, api = client_for(admin), api_for(admin)
    assert b"In sync" in page.get("/qos/rses/").content
    assert api.get("/api/v1/rses/").json()["results"][0]["sync_state"] == "in_sync"

    RSE.objects.filter(name="CERN-EOS").update(sync_state="drifted")  # no signal, no save()

    assert b"Drifted" in page.get("/qos/rses/").content
    assert api.get("/api/v1/rses/").json()["results"][0]["sync_state"] == "drifted"


def test_a_write_in_raw_sql_retires_the_cached_api_list(cache_on, api_for, admin):
    make_class(admin, "SAFE")
    client = api_for(admin)
    assert client.get("/api/v1/qos-classes/").json()["results"][0]["title"] == SAFE_CONTENT["title"]
    with connection.cursor() as cursor:
        cursor.execute("UPDATE qos_storageqosclass SET title = %s", ["Renamed by hand"])
    assert client.get("/api/v1/qos-classes/").json()["results"][0]["title"] == "Renamed by hand"


def test_what_a_transaction_wrote_before_it_rolled_back_is_never_cached(cache_on, admin):
    make_class(admin, "SAFE")

    def labels():
        return table_cache.cached(
            "labels",
            ["qos_storageqosclass"],
            lambda: sorted(StorageQoSClass.objects.values_list("label", flat=True)),
        )

    with pytest.raises(RuntimeError), transaction.atomic():
        make_class(admin, "DOOMED")
        assert labels() == ["DOOMED", "SAFE"]  # the transaction reads its own writes
        raise RuntimeError("roll back")
    assert labels() == ["SAFE"]
    assert labels() == ["SAFE"]


def test_a_write_committed_while_a_value_is_computed_retires_the_value(cache_on, admin):
    make_class(admin, "SAFE")
    computed = []

    def labels_while_someone_writes():
        found = sorted(StorageQoSClass.objects.values_list("label", flat=True))
        computed.append(found)
        if len(computed) == 1:
            make_class(
                admin, "FAST", storage_media="ssd", access_latency="online"
            )  # after the read, committed
        return found

    assert table_cache.cached("labels", ["qos_storageqosclass"], labels_while_someone_writes) == ["SAFE"]
    assert table_cache.cached("labels", ["qos_storageqosclass"], labels_while_someone_writes) == [
        "FAST",
        "SAFE",
    ]
    assert len(computed) == 2


def test_a_value_is_computed_once_while_its_tables_are_not_written(cache_on, admin):
    make_class(admin, "SAFE")
    calls = []

    def count():
        calls.append(1)
        return StorageQoSClass.objects.count()

    assert [table_cache.cached("count", ["qos_storageqosclass"], count) for _ in range(3)] == [1, 1, 1]
    Person.objects.create(name="Someone")  # another table: nothing to retire
    assert table_cache.cached("count", ["qos_storageqosclass"], count) == 1
    assert len(calls) == 1


def test_one_users_dashboard_is_never_shown_to_another(cache_on, client_for, admin, admin2):
    mine = Person.objects.create(name="Alice", user=admin)
    action = Action.objects.create_action(by=admin, text="Write the QoS page", owners=[mine])
    first = client_for(admin).get("/").content.decode()
    second = client_for(admin2).get("/").content.decode()
    assert f"#{action.pk}" in first
    assert f"#{action.pk}" not in second


def test_a_new_role_shows_at_once_on_cached_pages(cache_on, client_for, member):
    instance = RucioInstance.objects.create(name="escape", host="https://rucio.escape.invalid")
    RSE.objects.create(instance=instance, name="CERN-EOS")
    client = client_for(member)
    assert b"Select CERN-EOS" not in client.get("/qos/rses/").content
    assert client.get("/qos/new/").status_code == 403

    member.groups.add(Group.objects.get(name=Role.QOS_ADMIN))

    assert b"Select CERN-EOS" in client.get("/qos/rses/").content
    assert client.get("/qos/new/").status_code == 200


def test_a_lost_role_is_refused_at_once(cache_on, client_for, admin):
    client = client_for(admin)
    assert client.get("/qos/new/").status_code == 200
    admin.groups.remove(Group.objects.get(name=Role.QOS_ADMIN))
    assert client.get("/qos/new/").status_code == 403


def test_the_board_is_made_again_every_day(cache_on, client_for, coordinator, monkeypatch):
    owner = Person.objects.create(name="Bob")
    today = timezone.localdate()
    Action.objects.create_action(by=coordinator, text="Due today", owners=[owner], due_date=today)
    client = client_for(coordinator)
    assert b"is-overdue" not in client.get("/actions/").content
    tomorrow = today + datetime.timedelta(days=1)
    monkeypatch.setattr(timezone, "localdate", lambda *args, **kwargs: tomorrow)
    assert b"is-overdue" in client.get("/actions/").content


def test_the_approved_classes_are_loaded_again_after_an_approval(cache_on, admin, admin2):
    draft = make_class(admin, "SAFE")
    assert ApprovedClasses.cached().labels == []
    draft.propose(by=admin)
    draft.approve(by=admin2)
    assert ApprovedClasses.cached().labels == ["SAFE"]


def test_pages_are_computed_when_the_cache_does_not_answer(settings, client_for, api_for, admin):
    # A Redis that is not there (nothing listens on the port): a real fault.
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": "redis://127.0.0.1:9/0",
        }
    }
    settings.TABLE_CACHE = True
    make_class(admin, "SAFE")
    assert b"SAFE" in client_for(admin).get("/qos/").content
    assert api_for(admin).get("/api/v1/qos-classes/").json()["count"] == 1


@pytest.mark.parametrize(
    ("sql", "table"),
    [
        ('INSERT INTO "qos_rse" ("name") VALUES (%s)', "qos_rse"),
        ('  update "portal_action" SET "status" = %s', "portal_action"),
        ('DELETE FROM "engagement_classlink" WHERE "id" IN (%s)', "engagement_classlink"),
        ('TRUNCATE "qos_rse", "qos_push"', table_cache.EVERYTHING),
        ('SELECT "id" FROM "qos_rse" FOR UPDATE', None),
    ],
)
def test_every_kind_of_write_is_seen_and_reads_are_not(sql, table):
    assert table_cache.written_table(sql) == table


def test_the_check_warns_of_a_cache_each_process_keeps_alone(settings):
    settings.TABLE_CACHE = True
    settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
    assert [message.id for message in table_cache.check_shared_cache()] == ["portal.W101"]
    settings.CACHES = {
        "default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": "redis://x:6379/0"}
    }
    assert table_cache.check_shared_cache() == []


def test_an_rses_cached_answer_says_when_rucios_cache_has_caught_up(cache_on, api_for, admin, monkeypatch):
    instance = RucioInstance.objects.create(name="escape", host="https://rucio.escape.invalid")
    pushed = timezone.now() - datetime.timedelta(minutes=14)
    RSE.objects.create(instance=instance, name="CERN-EOS", last_pushed_at=pushed)
    client = api_for(admin)
    assert client.get("/api/v1/rses/").json()["results"][0]["expression_may_be_stale"] is True
    later = pushed + datetime.timedelta(minutes=16)
    monkeypatch.setattr(timezone, "now", lambda: later)  # no write in between: time alone
    assert client.get("/api/v1/rses/").json()["results"][0]["expression_may_be_stale"] is False


def test_a_cached_part_is_kept_per_time_zone(cache_on, admin):
    template = Template(
        '{% load table_cache %}{% tablecache "clock" "qos_rse" %}{{ moment|date:"H:i" }}{% endtablecache %}'
    )
    moment = datetime.datetime(2020, 3, 18, 12, 0, tzinfo=datetime.UTC)
    context = {"user": admin, "moment": moment}
    with timezone.override("Europe/Zurich"):
        assert template.render(Context(context)) == "13:00"
    with timezone.override("UTC"):
        assert template.render(Context(context)) == "12:00"


def test_the_cached_actions_api_says_overdue_from_the_next_day_on(
    cache_on, api_for, coordinator, monkeypatch
):
    owner = Person.objects.create(name="Bob")
    today = timezone.localdate()
    Action.objects.create_action(by=coordinator, text="Due today", owners=[owner], due_date=today)
    client = api_for(coordinator)
    assert client.get("/api/v1/actions/").json()["results"][0]["is_overdue"] is False
    tomorrow = today + datetime.timedelta(days=1)
    noon = datetime.datetime.combine(tomorrow, datetime.time(12), tzinfo=timezone.get_current_timezone())
    monkeypatch.setattr(timezone, "localdate", lambda *args, **kwargs: tomorrow)
    monkeypatch.setattr(timezone, "now", lambda: noon)
    assert client.get("/api/v1/actions/").json()["results"][0]["is_overdue"] is True


def user_queries(client, url: str) -> int:
    """How many queries on auth_user one request of ``url`` makes."""
    with CaptureQueriesContext(connection) as queries:
        assert client.get(url).status_code == 200
    return sum('FROM "auth_user"' in query["sql"] for query in queries)


def test_the_user_of_a_session_comes_from_the_cache_until_the_user_is_written(cache_on, client_for, admin):
    client = client_for(admin)
    user_queries(client, "/qos/")
    assert user_queries(client, "/qos/") == 0
    admin.first_name = "Alice"
    admin.save()
    assert user_queries(client, "/qos/") > 0  # read again after the write (and the permissions), then kept
    assert user_queries(client, "/qos/") == 0


def test_a_user_deactivated_or_given_a_new_password_is_logged_out_at_the_next_request(
    cache_on, client_for, admin, admin2
):
    first, second = client_for(admin), client_for(admin2)
    for client in (first, second):
        assert client.get("/qos/").status_code == 200
    admin.is_active = False
    admin.save()
    admin2.set_password("a-new-password-9f1")
    admin2.save()
    for client in (first, second):
        assert client.get("/qos/").status_code == 302  # to the login page


def test_the_cache_holds_no_password_hash_and_the_cached_user_never_writes_one_back(cache_on, admin):
    from portal.iam.backends import LocalAccountBackend

    admin.set_password("the-password-4c2")
    admin.save()
    backend = LocalAccountBackend()
    backend.get_user(admin.pk)
    user = backend.get_user(admin.pk)  # from the cache
    assert "password" in user.get_deferred_fields()
    entry = table_cache.cache.get(table_cache.entry_key("user", [admin.pk, table_cache.secret_tag()]))
    assert entry is not None and admin.password not in repr(entry[1][0].__dict__)
    assert user.get_session_auth_hash() == admin.get_session_auth_hash()
    user.first_name = "Changed"
    user.save()
    admin.refresh_from_db()
    assert admin.first_name == "Changed" and admin.check_password("the-password-4c2")
