"""RSE pages and API: who may assign, the plan before a change, the push log, constant query counts.

Nothing here talks to Rucio: the pushes are only written (the outbox); test_rucio_push.py and
test_push_worker.py send them.
"""

import base64
import json
import logging

import pytest
import redis
from django.contrib.messages import get_messages
from django.db import connection
from django.test.utils import CaptureQueriesContext

from qos import querysets
from qos.models import RSE, Push, RucioInstance, StorageQoSClass
from tests.celery_worker import publishing_to
from tests.conftest import SAFE_CONTENT

pytestmark = pytest.mark.django_db


@pytest.fixture
def instance(db):
    return RucioInstance.objects.create(name="escape", host="https://rucio.escape.invalid")


@pytest.fixture
def rse(instance):
    return RSE.objects.create(instance=instance, name="CERN-EOS")


def make_rses(instance, count, start=0, qos_class=None):
    return RSE.objects.bulk_create(
        RSE(instance=instance, name=f"SITE-{i:05d}", qos_class=qos_class, rucio_attributes={"QOS": "SAFE"})
        for i in range(start, start + count)
    )


def messages_of(response):
    return [str(message) for message in get_messages(response.wsgi_request)]


@pytest.mark.parametrize("persona", ["member", "coordinator", "liaison_cta"])
def test_non_admins_read_rses_but_cannot_assign(request, client_for, api_for, persona, rse, approved_class):
    user = request.getfixturevalue(persona)
    page = client_for(user).get("/qos/rses/")
    assert page.status_code == 200
    assert b"CERN-EOS" in page.content
    assert b"Review the plan" not in page.content
    assert client_for(user).get("/qos/rses/CERN-EOS/").status_code == 200
    assert (
        client_for(user)
        .post("/qos/rses/assign/", {"rses": "CERN-EOS", "qos_class": "SAFE", "confirm": "True"})
        .status_code
        == 403
    )
    assert client_for(user).post("/qos/rses/CERN-EOS/reconcile/").status_code == 403
    assert (
        api_for(user).patch("/api/v1/rses/CERN-EOS/", {"qos_class": "SAFE"}, format="json").status_code == 403
    )
    assert api_for(user).post("/api/v1/rses/CERN-EOS/adopt/").status_code == 403
    # Nobody adds instances through the API (the deployment's environment does): 405 rather than 403.
    assert (
        api_for(user).post("/api/v1/rucio-instances/", {"name": "x", "host": "https://x.invalid"}).status_code
        == 405
    )
    assert not Push.objects.exists()
    assert RSE.objects.get().qos_class is None


def test_outsider_sees_no_rse(client_for, api_for, outsider, rse):
    assert client_for(outsider).get("/qos/rses/").status_code == 403
    assert api_for(outsider).get("/api/v1/rses/").status_code == 403
    assert api_for(outsider).get("/api/v1/pushes/").status_code == 403


def test_assignment_shows_the_plan_first_and_changes_nothing_until_confirmed(
    client_for, admin, rse, approved_class
):
    rse.rucio_value = "OLD"
    rse.save()
    response = client_for(admin).post("/qos/rses/assign/", {"rses": ["CERN-EOS"], "qos_class": "SAFE"})
    page = response.content.decode()
    assert response.status_code == 200
    assert "Review the plan" in page
    assert "OLD" in page and "<strong>SAFE</strong>" in page
    assert not Push.objects.exists()
    response = client_for(admin).post(
        "/qos/rses/assign/",
        {"rses": ["CERN-EOS"], "qos_class": "SAFE", "confirm": "True", "reason": "wiki page"},
    )
    assert response.status_code == 302
    assert "1 RSE queued for Rucio" in messages_of(response)[0]
    push = Push.objects.get()
    assert (push.rse, push.key, push.value, push.reason, push.requested_by) == (
        rse,
        "QOS",
        "SAFE",
        "wiki page",
        admin,
    )
    rse.refresh_from_db()
    assert (rse.qos_class, rse.sync_state) == (approved_class, "pending")


def test_bulk_assignment_of_many_rses(client_for, admin, instance, approved_class):
    make_rses(instance, 5)
    names = list(RSE.objects.values_list("name", flat=True))
    client_for(admin).post("/qos/rses/assign/", {"rses": names, "qos_class": "SAFE", "confirm": "True"})
    assert Push.objects.filter(value="SAFE").count() == 5


@pytest.mark.django_db(transaction=True)  # the tasks are queued when the assignment commits
def test_a_bulk_assignment_queues_its_tasks_before_writing_an_audit_line_per_push(
    admin, instance, approved_class, private_redis
):
    """The worker may start while the web process still writes the audit lines (one per push: 10,000 of them
    take 0.15-0.2 s)."""
    make_rses(instance, 30)
    queue = redis.Redis.from_url(private_redis.database_url(12))
    queue.delete("celery")
    tasks_queued_at_each_line = []

    class Watch(logging.Handler):
        def emit(self, record):
            if getattr(record, "event", "") == "push.queued":
                tasks_queued_at_each_line.append(queue.llen("celery"))

    watch = Watch()
    audit = logging.getLogger("qos.audit")
    audit.addHandler(watch)
    level = audit.level
    audit.setLevel(logging.INFO)
    try:
        with publishing_to(private_redis.database_url(12)):
            pushes = RSE.objects.all().assign(approved_class, by=admin)
    finally:
        audit.removeHandler(watch)
        audit.setLevel(level)
    assert tasks_queued_at_each_line == [1] * len(pushes) == [1] * 30
    queue.delete("celery")


@pytest.mark.django_db(transaction=True)  # the tasks are queued when the assignment commits
def test_a_bulk_assignment_splits_its_pushes_into_tasks_of_pushes_per_task(
    monkeypatch, admin, instance, approved_class, private_redis
):
    monkeypatch.setattr(querysets, "PUSHES_PER_TASK", 12)
    make_rses(instance, 30)
    queue = redis.Redis.from_url(private_redis.database_url(12))
    queue.delete("celery")
    with publishing_to(private_redis.database_url(12)):
        pushes = RSE.objects.all().assign(approved_class, by=admin)
    messages = [json.loads(raw) for raw in reversed(queue.lrange("celery", 0, -1))]  # LPUSHed: oldest last
    queue.delete("celery")
    assert [message["headers"]["task"] for message in messages] == ["qos.tasks.send_pushes"] * 3
    carried = [json.loads(base64.b64decode(message["body"]))[0][0] for message in messages]
    assert [len(ids) for ids in carried] == [12, 12, 6]
    assert [pk for ids in carried for pk in ids] == sorted(push.pk for push in pushes)


def test_assignment_without_rses_is_refused_with_a_message(client_for, admin, rse, approved_class):
    response = client_for(admin).post("/qos/rses/assign/", {"qos_class": "SAFE", "confirm": "True"})
    assert messages_of(response) == ["Choose at least one RSE."]
    assert not Push.objects.exists()


def test_the_bulk_assignment_has_no_default_class_and_removing_is_asked_for(
    client_for, admin, rse, approved_class
):
    page = client_for(admin).get("/qos/rses/").content.decode()
    assert '<option value="" disabled selected>— choose a class —</option>' in page
    assert "remove the attribute" not in page
    assert 'name="remove" value="True" formnovalidate>Review removing the class</button>' in page
    rse.qos_class = approved_class
    rse.save()
    # The placeholder is not sent: no class chosen changes nothing, whatever "confirm" says.
    response = client_for(admin).post("/qos/rses/assign/", {"rses": ["CERN-EOS"], "confirm": "True"})
    assert messages_of(response) == ["Choose the class to assign, or “Review removing the class”."]
    plan = client_for(admin).post("/qos/rses/assign/", {"rses": ["CERN-EOS"], "remove": "True"})
    assert "Remove the class on 1 RSE:" in plan.content.decode()
    assert not Push.objects.exists()
    assert RSE.objects.get().qos_class == approved_class


def test_state_tiles_are_named_as_people_say_them(client_for, member, rse):
    RSE.objects.update(sync_state="in_sync")
    page = client_for(member).get("/qos/rses/").content.decode()
    assert '<span class="badge sync-in_sync">In sync</span>' in page
    assert "Insync" not in page


@pytest.mark.django_db(transaction=True)  # the pushes are sent when the assignment commits
@pytest.mark.parametrize(
    ("outcome", "says"),
    [
        ("done", "2 RSEs pushed to Rucio. Rucio may serve the old value"),
        ("queued", "2 RSEs queued for Rucio. Rucio may serve the old value"),
        ("failed", "The push to Rucio failed for 2 RSEs: see the push log, or the RSE's page."),
    ],
)
def test_the_message_says_what_became_of_the_pushes(
    client_for, admin, instance, approved_class, monkeypatch, outcome, says
):
    """With tasks run in the request (CELERY_TASK_ALWAYS_EAGER) the pushes are done, or failed, by the time
    the message is written: it says so rather than "queued"."""
    make_rses(instance, 2)

    def sent(push_ids: list[int]) -> None:
        Push.objects.filter(pk__in=push_ids).update(state=outcome)

    monkeypatch.setattr("qos.querysets.send_after_commit", sent)
    response = client_for(admin).post(
        "/qos/rses/assign/", {"rses": ["SITE-00000", "SITE-00001"], "qos_class": "SAFE", "confirm": "True"}
    )
    shown = messages_of(response)
    assert len(shown) == 1 and shown[0].startswith(says), shown


def test_unknown_class_is_refused(client_for, api_for, admin, rse):
    response = client_for(admin).post(
        "/qos/rses/assign/", {"rses": ["CERN-EOS"], "qos_class": "NOPE", "confirm": "True"}
    )
    assert "Select a valid choice" in messages_of(response)[0]
    api = api_for(admin).patch("/api/v1/rses/CERN-EOS/", {"qos_class": "NOPE"}, format="json")
    assert api.status_code == 400
    assert "qos_class" in api.json()
    assert not Push.objects.exists()


def test_api_patch_assigns_and_null_unassigns(api_for, admin, rse, approved_class):
    client = api_for(admin)
    body = client.patch(
        "/api/v1/rses/CERN-EOS/", {"qos_class": "SAFE", "reason": "demo"}, format="json"
    ).json()
    assert (body["qos_class"], body["sync_state"], body["desired_value"]) == ("SAFE", "pending", "SAFE")
    body = client.patch("/api/v1/rses/CERN-EOS/", {"qos_class": None}, format="json").json()
    assert (body["qos_class"], body["desired_value"]) == (None, None)
    assert list(Push.objects.order_by("pk").values_list("operation", "state")) == [
        ("set", "superseded"),
        ("delete", "queued"),
    ]


def test_api_refuses_a_deprecated_class(api_for, admin, rse, approved_class):
    approved_class.deprecate(by=admin)
    response = api_for(admin).patch("/api/v1/rses/CERN-EOS/", {"qos_class": "SAFE"}, format="json")
    assert response.status_code == 400
    assert "deprecated" in response.json()["qos_class"][0]


def test_reconcile_of_an_rse_in_sync_is_refused(api_for, client_for, admin, rse):
    rse.sync_state = "in_sync"
    rse.save()
    response = api_for(admin).post("/api/v1/rses/CERN-EOS/reconcile/")
    assert response.status_code == 400
    assert "not drifted" in str(response.json())
    page = client_for(admin).post("/qos/rses/CERN-EOS/reconcile/")
    assert "not drifted" in messages_of(page)[0]
    assert not Push.objects.exists()


def test_adopt_through_the_api(api_for, admin, rse, approved_class):
    rse.rucio_value = "SAFE"
    rse.sync_state = "drifted"
    rse.save()
    body = api_for(admin).post("/api/v1/rses/CERN-EOS/adopt/").json()
    assert (body["qos_class"], body["sync_state"]) == ("SAFE", "in_sync")


def test_rse_detail_shows_attributes_pushes_and_the_cache_warning(
    client_for, member, rse, approved_class, admin
):
    rse.rucio_attributes = {"QOS": "SAFE", "CERN-EOS": "true"}
    rse.save()
    push = RSE.objects.filter(pk=rse.pk).assign(approved_class, by=admin)[0]
    push.attempt_log.create(outcome="transient", error="connection refused")
    from django.utils import timezone

    RSE.objects.filter(pk=rse.pk).update(last_pushed_at=timezone.now())
    page = client_for(member).get("/qos/rses/CERN-EOS/").content.decode()
    assert "QOS=SAFE" in page
    assert "connection refused" in page
    assert "may not yet resolve in RSE expressions" in page


def test_rse_list_filters_and_counts_states(client_for, member, instance, approved_class):
    make_rses(instance, 3, qos_class=approved_class)
    RSE.objects.filter(name="SITE-00001").update(sync_state="drifted")
    response = client_for(member).get("/qos/rses/?sync_state=drifted")
    assert [rse.name for rse in response.context["page"].object_list] == ["SITE-00001"]
    assert response.context["state_counts"]["drifted"] == 1
    assert response.context["state_counts"]["unknown"] == 2
    by_class = client_for(member).get("/qos/rses/?qos_class=SAFE").context["page"].object_list
    assert len(by_class) == 3


def test_dashboard_counts_failed_and_drifted_rses(client_for, member, instance):
    make_rses(instance, 3)
    RSE.objects.filter(name="SITE-00000").update(sync_state="failed")
    RSE.objects.filter(name__in=["SITE-00001", "SITE-00002"]).update(sync_state="drifted")
    context = client_for(member).get("/").context
    assert (context["rse_counts"]["failed"], context["rse_counts"]["drifted"]) == (1, 2)


def test_approve_page_shows_which_rses_will_get_the_class(client_for, admin, admin2, rse, proposed_class):
    RSE.objects.filter(pk=rse.pk).assign(proposed_class, by=admin)
    page = client_for(admin2).get("/qos/SAFE/approve/").content.decode()
    assert "RSEs that get this class in Rucio" in page
    assert "CERN-EOS" in page


def test_retire_page_shows_which_rses_lose_the_attribute(client_for, admin, rse, approved_class):
    RSE.objects.filter(pk=rse.pk).assign(approved_class, by=admin)
    approved_class.deprecate(by=admin)
    page = client_for(admin).get("/qos/SAFE/retire/").content.decode()
    assert "RSEs that lose the attribute in Rucio" in page
    assert "CERN-EOS" in page


def test_instances_api_never_shows_credentials(api_for, admin, instance):
    body = api_for(admin).get("/api/v1/rucio-instances/escape/").json()
    assert "password" not in str(body).lower()
    assert body["env_prefix"] == "RUCIO"


def test_admin_sets_the_attribute_key_and_bad_input_is_refused(api_for, admin, instance):
    client = api_for(admin)
    ok = client.patch("/api/v1/rucio-instances/escape/", {"attribute_key": "QOS_CLASS"}, format="json")
    assert ok.status_code == 200, ok.json()
    assert ok.json()["attribute_key"] == "QOS_CLASS"
    bad = client.patch("/api/v1/rucio-instances/escape/", {"attribute_key": "no spaces"}, format="json")
    assert bad.status_code == 400
    assert set(bad.json()) == {"attribute_key"}
    instance.refresh_from_db()
    assert instance.attribute_key == "QOS_CLASS"


def count_queries(client, url):
    client.get(url)
    with CaptureQueriesContext(connection) as queries:
        assert client.get(url).status_code == 200
    return len(queries)


@pytest.mark.parametrize("url", ["/qos/rses/", "/api/v1/rses/", "/qos/pushes/", "/api/v1/pushes/", "/"])
def test_rse_and_push_lists_issue_constant_queries(
    client_for, api_for, member, admin, instance, approved_class, url
):
    client = api_for(member) if url.startswith("/api/") else client_for(member)
    other = StorageQoSClass.objects.create_draft(by=admin, **{**SAFE_CONTENT, "label": "OTHER"})
    make_rses(instance, 10, qos_class=approved_class)
    RSE.objects.filter(name="SITE-00001").update(planned_class=other)
    RSE.objects.all().assign(approved_class, by=admin)
    few = count_queries(client, url)
    make_rses(instance, 990, start=10, qos_class=approved_class)
    RSE.objects.filter(name__startswith="SITE-009").assign(approved_class, by=admin)
    assert count_queries(client, url) == few


def test_recording_what_rucio_reports_sets_value_read_time_and_sync_state(instance, admin, approved_class):
    carrying, other, pending, deleted = make_rses(instance, 4, qos_class=approved_class)
    Push.objects.enqueue(pending, "SAFE", "test", by=admin, dispatch=False)
    deleted_pk = deleted.pk
    deleted.delete()
    recorded = RSE.objects.record_rucio_attributes(
        {
            carrying.pk: {"QOS": "SAFE", "site": "CERN"},
            other.pk: {"QOS": "FAST"},
            pending.pk: {},
            deleted_pk: {"QOS": "SAFE"},
        }
    )
    assert set(recorded) == {carrying.pk, other.pk, pending.pk}
    rows = {rse.name: rse for rse in RSE.objects.all()}
    assert rows[carrying.name].rucio_attributes == {"QOS": "SAFE", "site": "CERN"}
    assert (rows[carrying.name].rucio_value, rows[carrying.name].sync_state) == ("SAFE", "in_sync")
    assert (rows[other.name].rucio_value, rows[other.name].sync_state) == ("FAST", "drifted")
    assert (rows[pending.name].rucio_value, rows[pending.name].sync_state) == (None, "pending")
    assert all(rse.last_read_at and not rse.missing_in_rucio for rse in rows.values())
    assert not any(rse.last_pushed_at for rse in rows.values())
    RSE.objects.record_rucio_attributes({carrying.pk: {"QOS": "SAFE"}}, pushed=True)
    assert RSE.objects.get(pk=carrying.pk).last_pushed_at is not None
