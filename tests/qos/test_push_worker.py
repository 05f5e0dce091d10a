"""End to end through a real Celery worker on a real Redis to a real Rucio, and the fault drills of the push.

Every result is checked through a separate rucio-clients session (``rucio_admin_client``).
"""

import itertools
import re
import time

import pytest

from qos import tasks
from qos.models import RSE, Push, PushAttempt, StorageQoSClass
from qos.rucio_gateway.sync import sync_rses
from tests.celery_worker import wait_for
from tests.conftest import SAFE_CONTENT

pytestmark = [pytest.mark.django_db(transaction=True)]


@pytest.fixture
def rses(rucio_instance, make_rse):
    names = [make_rse() for _ in range(3)]
    sync_rses(rucio_instance)
    return list(RSE.objects.filter(name__in=names).order_by("name"))


def qos_in_rucio(client, name):
    return client.list_rse_attributes(name).get("QOS")


def push_of(rse):
    return Push.objects.filter(rse=rse).order_by("-pk").first()


def attribute_writes(rucio_server, rse: str) -> int:
    """Requests Rucio received that could write an attribute of the RSE: one for it alone, or an import
    (the sender's bulk write, which names its RSEs in the body only)."""
    return rucio_server.requests_logged(rf'"(POST|PUT) /rses/{re.escape(rse)}/attr/|"POST /import')


def test_approved_and_assigned_class_lands_in_rucio(
    start_worker, rses, proposed_class, admin, admin2, rucio_admin_client
):
    start_worker()
    # Planned on two RSEs while proposed; approval pushes both; a third is assigned after approval.
    RSE.objects.filter(pk__in=[rses[0].pk, rses[1].pk]).assign(proposed_class, by=admin)
    assert not Push.objects.exists()
    proposed_class.approve(by=admin2)
    RSE.objects.filter(pk=rses[2].pk).assign(proposed_class, by=admin)
    for rse in rses:
        wait_for(
            lambda rse=rse: qos_in_rucio(rucio_admin_client, rse.name) == "SAFE",
            what=f"QOS=SAFE on {rse.name}",
        )
    wait_for(lambda: set(Push.objects.values_list("state", flat=True)) == {"done"}, what="pushes done")
    assert set(RSE.objects.values_list("sync_state", flat=True)) == {"in_sync"}


def test_rucio_stopped_during_a_push_is_retried_and_delivered_after_restart(
    start_worker, rses, approved_class, admin, rucio_server, rucio_admin_client
):
    start_worker()
    rucio_server.stop()
    try:
        RSE.objects.filter(pk=rses[0].pk).assign(approved_class, by=admin)
        wait_for(
            lambda: push_of(rses[0]).attempt_log.filter(outcome="transient").exists(),
            what="a transient failure",
        )
        assert push_of(rses[0]).state in ("queued", "sending")
    finally:
        rucio_server.start()
    wait_for(lambda: push_of(rses[0]).state == "done", timeout=90, what="delivery after restart")
    assert qos_in_rucio(rucio_admin_client, rses[0].name) == "SAFE"
    assert push_of(rses[0]).attempt_log.filter(outcome="written").count() == 1


def test_broker_down_when_an_admin_approves(
    start_worker, private_redis, rses, proposed_class, admin, admin2, rucio_admin_client, settings
):
    settings.PUSH_SWEEP_AFTER_SECONDS = 0
    RSE.objects.filter(pk=rses[0].pk).assign(proposed_class, by=admin)
    private_redis.stop()
    try:
        proposed_class.approve(by=admin2)  # must not fail: the push waits in the outbox
        proposed_class.refresh_from_db()
        assert proposed_class.status == "approved"
        assert push_of(rses[0]).state == "queued"
    finally:
        private_redis.start()
    start_worker()
    assert tasks.sweep_pushes() == 1
    wait_for(lambda: push_of(rses[0]).state == "done", what="delivery after the broker is back")
    assert qos_in_rucio(rucio_admin_client, rses[0].name) == "SAFE"


def test_worker_killed_mid_push_delivers_exactly_once(
    start_worker,
    rses,
    approved_class,
    admin,
    rucio_instance,
    rucio_server,
    rucio_admin_client,
    settings,
    silent_server,
    rucio_deployment,
):
    url, accepted = silent_server.url, silent_server.accepted
    writes_before = attribute_writes(rucio_server, rses[0].name)
    lease = {"PUSH_CLAIM_LEASE_SECONDS": "2"}
    settings.PUSH_CLAIM_LEASE_SECONDS = 2
    rucio_deployment.move(rucio_instance, url)
    worker = start_worker(**lease)
    RSE.objects.filter(pk=rses[0].pk).assign(approved_class, by=admin)
    wait_for(lambda: push_of(rses[0]).state == "sending" and accepted, what="the worker to be mid-push")
    worker.kill()
    rucio_deployment.move(rucio_instance, rucio_server.url)
    start_worker(**lease)
    wait_for(lambda: tasks.sync.due_for_sweep(), timeout=10, what="the lease to expire")
    tasks.sweep_pushes()
    wait_for(lambda: push_of(rses[0]).state == "done", what="delivery by the second worker")
    assert qos_in_rucio(rucio_admin_client, rses[0].name) == "SAFE"
    # Counted by Rucio, not in the portal's own records: a write they missed (or recorded once for two
    # requests) is still in Rucio's access log.
    assert attribute_writes(rucio_server, rses[0].name) == writes_before + 1
    assert push_of(rses[0]).attempt_log.filter(outcome="written").count() == 1  # and the portal says so
    assert Push.objects.count() == 1


def test_wrong_credentials_fail_with_a_clear_message_and_no_endless_retry(
    start_worker, rses, approved_class, admin, monkeypatch
):
    monkeypatch.setenv("RUCIO_TEST_PASSWORD", "not-the-password")
    start_worker()
    RSE.objects.filter(pk=rses[0].pk).assign(approved_class, by=admin)
    wait_for(lambda: push_of(rses[0]).state == "failed", what="the push to fail")
    push = push_of(rses[0])
    assert push.attempts == 1
    assert "authenticat" in push.last_error.lower()
    assert "not-the-password" not in push.last_error


def test_assignments_to_one_rse_in_quick_succession_against_a_slow_rucio_end_with_the_newest_value(
    start_worker,
    rses,
    approved_class,
    admin,
    admin2,
    rucio_instance,
    rucio_admin_client,
    slow_rucio,
    rucio_deployment,
):
    fast = StorageQoSClass.objects.create_draft(
        by=admin, **{**SAFE_CONTENT, "label": "FAST", "storage_media": "ssd", "access_latency": "online"}
    )
    fast.propose(by=admin)
    fast.approve(by=admin2)
    rucio_deployment.move(rucio_instance, slow_rucio.url)  # before the workers start: they inherit it
    # Two senders, each free to take the next push while the other one's requests are still on their way.
    start_worker()
    start_worker()
    rse = rses[0]
    for qos_class in (approved_class, fast, None, approved_class, fast, None, fast, approved_class):
        RSE.objects.filter(pk=rse.pk).assign(qos_class, by=admin)
        time.sleep(slow_rucio.most_seconds / 2)
    wait_for(lambda: not Push.objects.filter(rse=rse).unsent().exists(), timeout=180, what="every push sent")
    newest = push_of(rse)
    assert (newest.state, newest.value) == ("done", "SAFE")
    assert set(Push.objects.filter(rse=rse).values_list("state", flat=True)) <= {"done", "superseded"}
    # Checked in Rucio, through a session of its own.
    assert qos_in_rucio(rucio_admin_client, rse.name) == "SAFE"
    rse.refresh_from_db()
    assert (rse.rucio_value, rse.sync_state) == ("SAFE", "in_sync")
    # One push of the RSE at a time: each attempt began after the one before had ended, in the pushes' order.
    attempts = list(PushAttempt.objects.filter(push__rse=rse).order_by("started_at"))
    assert len(attempts) >= 2, "the pushes were all superseded but one: the drill tested nothing"
    for before, after in itertools.pairwise(attempts):
        assert after.started_at >= before.finished_at, (before.push_id, after.push_id)
        assert after.push_id > before.push_id
