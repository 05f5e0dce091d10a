"""Pushing classes onto RSEs of a real Rucio server, importing RSEs, drift, reconcile and adopt.

The sender runs in this process here (qos.rucio_gateway.sync.deliver); tests/qos/test_push_worker.py runs it in a real
Celery worker. Results are always checked through a separate rucio-clients session, not the portal's records.
"""

import re

import pytest
from django.core.exceptions import ValidationError
from django.core.management import call_command

from qos.models import RSE, Push, StorageQoSClass
from qos.rucio_gateway.sync import attempts_within, claim, deliver, due_for_sweep, retry_wait, sync_rses
from tests.conftest import SAFE_CONTENT

pytestmark = pytest.mark.django_db


@pytest.fixture
def rses(rucio_instance, make_rse):
    names = [make_rse() for _ in range(3)]
    sync_rses(rucio_instance)
    return list(RSE.objects.filter(name__in=names).order_by("name"))


@pytest.fixture
def fast_class(admin, admin2):
    fast = StorageQoSClass.objects.create_draft(
        by=admin, **{**SAFE_CONTENT, "label": "FAST", "storage_media": "ssd", "access_latency": "online"}
    )
    fast.propose(by=admin)
    fast.approve(by=admin2)
    return fast


def qos_of(client, name):
    return client.list_rse_attributes(name).get("QOS")


def test_sync_imports_rses_with_their_attributes(rucio_instance, make_rse, rucio_admin_client):
    name = make_rse()
    rucio_admin_client.add_rse_attribute(name, "QOS", "FAST")
    report = sync_rses(rucio_instance)
    assert name in report.new
    rse = RSE.objects.get(name=name)
    assert rse.rucio_value == "FAST"
    assert rse.rucio_attributes[name] == "true"  # Rucio's own-name attribute, read back as a boolean
    assert rse.sync_state == "drifted"  # Rucio says FAST, the portal assigned nothing


def test_rse_gone_from_rucio_is_flagged_not_deleted(rucio_instance, make_rse, rucio_admin_client):
    name = make_rse()
    sync_rses(rucio_instance)
    rucio_admin_client.delete_rse(name)
    report = sync_rses(rucio_instance)
    assert name in report.missing
    rse = RSE.objects.get(name=name)
    assert rse.missing_in_rucio


def test_assigning_an_approved_class_pushes_the_attribute(rses, approved_class, admin, rucio_admin_client):
    pushes = RSE.objects.filter(pk=rses[0].pk).assign(approved_class, by=admin)
    assert [push.state for push in pushes] == ["queued"]
    assert RSE.objects.get(pk=rses[0].pk).sync_state == "pending"
    report = deliver([push.pk for push in pushes])
    assert report.written == [pushes[0].pk]
    assert qos_of(rucio_admin_client, rses[0].name) == "SAFE"
    rse = RSE.objects.get(pk=rses[0].pk)
    assert (rse.sync_state, rse.rucio_value) == ("in_sync", "SAFE")
    assert rse.expression_may_be_stale
    attempt = Push.objects.get().attempt_log.get()
    assert (attempt.outcome, attempt.value_before) == ("written", None)


def attribute_requests(rucio_server, name: str) -> tuple[int, int]:
    """How many reads and writes of one RSE's attributes Rucio has received so far, each by a request of its
    own (not counting imports, which name their RSEs in the body only)."""
    reads = rucio_server.requests_logged(rf'"GET /rses/{re.escape(name)}/attr/')
    writes = rucio_server.requests_logged(rf'"(POST|PUT|DELETE) /rses/{re.escape(name)}/attr/')
    return reads, writes


def test_a_push_the_portal_knows_to_differ_is_written_without_reading_rucio_first(
    rses, approved_class, admin, rucio_admin_client, rucio_server
):
    last_read = RSE.objects.get(pk=rses[0].pk).last_read_at
    pushes = RSE.objects.filter(pk=rses[0].pk).assign(approved_class, by=admin)
    reads, writes = attribute_requests(rucio_server, rses[0].name)
    report = deliver([pushes[0].pk])
    assert report.written == [pushes[0].pk]
    assert attribute_requests(rucio_server, rses[0].name) == (reads, writes + 1)
    rse = RSE.objects.get(pk=rses[0].pk)
    assert (rse.rucio_value, rse.sync_state) == ("SAFE", "in_sync")
    # Not read: the time of the last read stays the sync's; the RSE's other attributes stay as it read them.
    assert rse.last_read_at == last_read
    assert rse.rucio_attributes == {**rses[0].rucio_attributes, "QOS": "SAFE"}
    assert rse.last_pushed_at is not None


def test_a_push_the_portal_believes_done_reads_first_and_does_not_write_an_unchanged_value(
    rses, approved_class, admin, rucio_admin_client, rucio_server, rucio_instance
):
    rucio_admin_client.add_rse_attribute(rses[0].name, "QOS", "SAFE")
    sync_rses(rucio_instance)  # the portal has read SAFE: drifted, as it assigned nothing
    pushes = RSE.objects.filter(pk=rses[0].pk).assign(approved_class, by=admin)
    reads, writes = attribute_requests(rucio_server, rses[0].name)
    report = deliver([pushes[0].pk])
    assert report.unchanged == [pushes[0].pk]
    assert attribute_requests(rucio_server, rses[0].name) == (reads + 1, writes)
    assert Push.objects.get().attempt_log.get().outcome == "unchanged"
    assert RSE.objects.get(pk=rses[0].pk).sync_state == "in_sync"


def test_a_value_changed_in_rucio_behind_the_portals_back_is_overwritten_by_a_push(
    rses, approved_class, admin, rucio_admin_client
):
    rucio_admin_client.add_rse_attribute(rses[0].name, "QOS", "CHEAP")  # since the portal last read it
    pushes = RSE.objects.filter(pk=rses[0].pk).assign(approved_class, by=admin)
    report = deliver([pushes[0].pk])
    assert report.written == [pushes[0].pk]
    assert qos_of(rucio_admin_client, rses[0].name) == "SAFE"
    # What the portal knew before it wrote: Rucio's value before the push was not read.
    assert pushes[0].attempt_log.get().value_before is None


def test_a_value_changed_in_rucio_behind_the_portals_back_is_repaired_by_a_push_of_the_value_it_knows(
    rses, approved_class, fast_class, admin, rucio_admin_client
):
    deliver([p.pk for p in RSE.objects.filter(pk=rses[0].pk).assign(approved_class, by=admin)])
    rucio_admin_client.add_rse_attribute(rses[0].name, "QOS", "CHEAP")  # not yet seen by a sync
    # Assigned another class and back before either is sent: the portal believes Rucio already holds SAFE.
    superseded = RSE.objects.filter(pk=rses[0].pk).assign(fast_class, by=admin)[0]
    back = RSE.objects.filter(pk=rses[0].pk).assign(approved_class, by=admin)[0]
    report = deliver([superseded.pk, back.pk])
    assert report.written == [back.pk]
    assert Push.objects.get(pk=superseded.pk).state == "superseded"
    assert qos_of(rucio_admin_client, rses[0].name) == "SAFE"
    assert back.attempt_log.get().value_before == "CHEAP"  # read before writing
    rse = RSE.objects.get(pk=rses[0].pk)
    assert (rse.rucio_value, rse.sync_state) == ("SAFE", "in_sync")


def test_a_change_in_rucio_after_a_push_written_unread_is_shown_as_drift_by_the_next_sync(
    rses, approved_class, admin, rucio_admin_client, rucio_instance
):
    deliver([p.pk for p in RSE.objects.filter(pk=rses[0].pk).assign(approved_class, by=admin)])
    rucio_admin_client.add_rse_attribute(rses[0].name, "QOS", "CHEAP")
    sync_rses(rucio_instance)
    rse = RSE.objects.get(pk=rses[0].pk)
    assert (rse.rucio_value, rse.sync_state) == ("CHEAP", "drifted")


def test_sending_a_push_twice_changes_nothing_more(rses, approved_class, admin, rucio_admin_client):
    pushes = RSE.objects.filter(pk=rses[0].pk).assign(approved_class, by=admin)
    deliver([pushes[0].pk])
    again = deliver([pushes[0].pk])
    assert (again.written, again.unchanged) == ([], [])
    assert Push.objects.get().attempts == 1


def test_unassigning_removes_the_attribute(rses, approved_class, admin, rucio_admin_client):
    deliver([p.pk for p in RSE.objects.filter(pk=rses[0].pk).assign(approved_class, by=admin)])
    pushes = RSE.objects.filter(pk=rses[0].pk).assign(None, by=admin)
    assert pushes[0].operation == "delete"
    deliver([pushes[0].pk])
    assert qos_of(rucio_admin_client, rses[0].name) is None
    assert RSE.objects.get(pk=rses[0].pk).sync_state == "in_sync"


def test_bulk_assignment_sets_many_rses_in_two_requests_without_reading_them(
    rucio_instance, make_rse, approved_class, admin, rucio_admin_client, rucio_server
):
    names = [make_rse() for _ in range(15)]
    sync_rses(rucio_instance)
    pushes = RSE.objects.filter(name__in=names).assign(approved_class, by=admin)
    before = rucio_server.requests_logged(r'"[A-Z]+ /(rses|import)')
    report = deliver([push.pk for push in pushes])
    assert len(report.written) == 15
    # One list of the RSEs (an import must not create one), one import; no read of an RSE's attributes.
    assert rucio_server.requests_logged(r'"[A-Z]+ /(rses|import)') == before + 2
    assert {qos_of(rucio_admin_client, name) for name in names} == {"SAFE"}


def test_a_bulk_push_fails_the_rses_rucio_no_longer_has_and_writes_the_others_without_creating_them(
    rucio_instance, make_rse, approved_class, admin, rucio_admin_client
):
    names = [make_rse() for _ in range(12)]
    sync_rses(rucio_instance)
    rucio_admin_client.delete_rse(names[3])  # since the last sync
    pushes = RSE.objects.filter(name__in=names).order_by("name").assign(approved_class, by=admin)
    gone = next(push for push in pushes if push.rse.name == names[3])
    report = deliver([push.pk for push in pushes])
    assert (report.failed, len(report.written)) == ([gone.pk], 11)
    gone.refresh_from_db()
    assert (gone.state, gone.last_error) == ("failed", f"Rucio has no RSE named {names[3]}.")
    assert names[3] not in {rse["rse"] for rse in rucio_admin_client.list_rses()}  # not brought back
    assert {qos_of(rucio_admin_client, name) for name in names if name != names[3]} == {"SAFE"}


def test_newer_push_supersedes_an_unsent_one(rses, approved_class, admin, admin2, rucio_admin_client):
    fast = StorageQoSClass.objects.create_draft(
        by=admin, **{**SAFE_CONTENT, "label": "FAST", "storage_media": "ssd", "access_latency": "online"}
    )
    fast.propose(by=admin)
    fast.approve(by=admin2)
    first = RSE.objects.filter(pk=rses[0].pk).assign(approved_class, by=admin)[0]
    second = RSE.objects.filter(pk=rses[0].pk).assign(fast, by=admin)[0]
    first.refresh_from_db()
    assert first.state == "superseded"
    report = deliver([first.pk, second.pk])
    assert report.written == [second.pk]
    assert qos_of(rucio_admin_client, rses[0].name) == "FAST"


def test_unknown_rse_fails_for_good_with_rucios_message(rucio_instance, approved_class, admin):
    ghost = RSE.objects.create(instance=rucio_instance, name="NO-SUCH-RSE")
    push = RSE.objects.filter(pk=ghost.pk).assign(approved_class, by=admin)[0]
    report = deliver([push.pk])
    assert report.failed == [push.pk]
    push.refresh_from_db()
    assert push.state == "failed"
    assert "NO-SUCH-RSE" in push.last_error
    assert RSE.objects.get(pk=ghost.pk).sync_state == "failed"


def test_wrong_credentials_fail_with_a_clear_message_and_no_retry(rses, approved_class, admin, monkeypatch):
    monkeypatch.setenv("RUCIO_TEST_PASSWORD", "wrong-password")
    push = RSE.objects.filter(pk=rses[0].pk).assign(approved_class, by=admin)[0]
    report = deliver([push.pk])
    assert report.failed == [push.pk]
    push.refresh_from_db()
    assert push.state == "failed"
    assert push.attempts == 1
    assert "wrong-password" not in push.last_error
    assert "authenticat" in push.last_error.lower()


def test_unreachable_rucio_is_transient_and_the_push_stays_queued(
    rses, approved_class, admin, rucio_instance, rucio_deployment
):
    rucio_deployment.move(rucio_instance, "http://127.0.0.1:9")
    push = RSE.objects.filter(pk=rses[0].pk).assign(approved_class, by=admin)[0]
    from qos.rucio_gateway import TransientRucioError

    with pytest.raises(TransientRucioError):
        deliver([push.pk])
    push.refresh_from_db()
    assert push.state == "queued"
    assert push.attempt_log.get().outcome == "transient"
    assert push.next_attempt_at is not None


def test_a_push_given_back_is_not_tried_again_before_its_wait_which_doubles(
    rses, approved_class, admin, rucio_instance, settings, rucio_deployment
):
    from datetime import timedelta

    from django.utils import timezone

    from qos.rucio_gateway import TransientRucioError

    settings.PUSH_RETRY_FIRST_SECONDS, settings.PUSH_RETRY_MAX_SECONDS = 15, 120
    rucio_deployment.move(rucio_instance, "http://127.0.0.1:9")
    push = RSE.objects.filter(pk=rses[0].pk).assign(approved_class, by=admin)[0]
    waits = []
    for _ in range(3):
        before = timezone.now()
        with pytest.raises(TransientRucioError):
            deliver([push.pk])
        push.refresh_from_db()
        waits.append((push.next_attempt_at - before).total_seconds())
        # Neither a retry that comes early nor the sweeper takes it: it is not tried, not counted.
        assert deliver([push.pk]).retry == []
        assert push.pk not in due_for_sweep()
        attempts = push.attempts
        push.refresh_from_db()
        assert (push.state, push.attempts) == ("queued", attempts)
        # Its wait is over.
        Push.objects.filter(pk=push.pk).update(next_attempt_at=timezone.now() - timedelta(seconds=1))
    assert push.attempts == 3
    assert push.attempt_log.filter(outcome="transient").count() == 3
    for wait, shortest in zip(waits, (15, 30, 60), strict=True):
        assert shortest <= wait <= shortest * 1.25 + 5
    # The sweeper takes it only once its own task is late by PUSH_SWEEP_AFTER_SECONDS: the task was lost.
    assert push.pk not in due_for_sweep()
    late = timezone.now() - timedelta(seconds=settings.PUSH_SWEEP_AFTER_SECONDS + 1)
    Push.objects.filter(pk=push.pk).update(next_attempt_at=late)
    assert push.pk in due_for_sweep()


def test_the_operators_push_pending_does_not_wait_out_a_pushs_wait(
    rses, approved_class, admin, rucio_admin_client, capsys
):
    from datetime import timedelta

    from django.utils import timezone

    push = RSE.objects.filter(pk=rses[0].pk).assign(approved_class, by=admin)[0]
    Push.objects.filter(pk=push.pk).update(next_attempt_at=timezone.now() + timedelta(hours=1))
    call_command("push_pending")
    assert "1 written" in capsys.readouterr().out
    assert qos_of(rucio_admin_client, rses[0].name) == "SAFE"


def test_a_ten_minute_outage_costs_a_push_at_most_twelve_attempts(settings):
    # The settings as they are (production's defaults, unless the environment sets them).
    assert attempts_within(600) <= 12
    settings.PUSH_RETRY_FIRST_SECONDS, settings.PUSH_RETRY_MAX_SECONDS = 15, 120
    # Tries at 0, 15, 45, 105, 225, 345, 465 and 585 s fail; the one after lands.
    assert attempts_within(600) == 9
    assert attempts_within(44) == 3
    assert [retry_wait(attempts) for attempts in (1, 2, 3, 4, 5, 50)] == [15, 30, 60, 120, 120, 120]


def test_a_push_of_an_rse_waits_while_another_push_of_it_is_sent_then_is_handed_on(
    rses, approved_class, fast_class, admin, rucio_admin_client
):
    first = RSE.objects.filter(pk=rses[0].pk).assign(approved_class, by=admin)[0]
    assert [push.pk for push in claim([first.pk], token="another-sender")] == [first.pk]
    second = RSE.objects.filter(pk=rses[0].pk).assign(fast_class, by=admin)[0]
    first.refresh_from_db()
    assert first.state == "sending"  # in flight: too late to supersede it
    report = deliver([second.pk])
    assert (report.written, report.waiting) == ([], [])
    second.refresh_from_db()
    assert (second.state, second.attempts) == ("queued", 0)
    # The other sender finishes (its push is older than the newest: not written), and hands the RSE on.
    report = deliver([first.pk], reclaim=["another-sender"])
    assert (report.superseded, report.waiting) == ([first.pk], [second.pk])
    assert deliver(report.waiting).written == [second.pk]
    assert qos_of(rucio_admin_client, rses[0].name) == "FAST"
    assert RSE.objects.get(pk=rses[0].pk).sync_state == "in_sync"


def test_planned_class_is_pushed_when_it_is_approved(rses, proposed_class, admin2, admin, rucio_admin_client):
    assert RSE.objects.filter(pk=rses[0].pk).assign(proposed_class, by=admin) == []
    rse = RSE.objects.get(pk=rses[0].pk)
    assert (rse.qos_class, rse.planned_class) == (None, proposed_class)
    proposed_class.approve(by=admin2)
    push = Push.objects.get(rse=rse)
    assert push.value == "SAFE"
    deliver([push.pk])
    assert qos_of(rucio_admin_client, rse.name) == "SAFE"


def test_retiring_a_class_removes_it_from_its_rses(rses, approved_class, admin, rucio_admin_client):
    deliver([p.pk for p in RSE.objects.filter(pk=rses[0].pk).assign(approved_class, by=admin)])
    approved_class.deprecate(by=admin, reason="replaced")
    assert Push.objects.count() == 1  # deprecation keeps the class on its RSEs
    approved_class.retire(by=admin)
    removal = Push.objects.order_by("-pk").first()
    assert removal.operation == "delete"
    deliver([removal.pk])
    assert qos_of(rucio_admin_client, rses[0].name) is None
    assert RSE.objects.get(pk=rses[0].pk).qos_class is None


def test_deprecated_class_cannot_be_assigned(rses, approved_class, admin):
    approved_class.deprecate(by=admin)
    with pytest.raises(ValidationError, match="only approved classes can be assigned"):
        RSE.objects.filter(pk=rses[0].pk).assign(approved_class, by=admin)
    assert not Push.objects.exists()


def test_drift_is_detected_and_reconcile_pushes_the_portals_value(
    rses, approved_class, admin, rucio_admin_client, rucio_instance
):
    deliver([p.pk for p in RSE.objects.filter(pk=rses[0].pk).assign(approved_class, by=admin)])
    rucio_admin_client.add_rse_attribute(rses[0].name, "QOS", "CHEAP")  # someone changed it in Rucio
    sync_rses(rucio_instance)
    rse = RSE.objects.get(pk=rses[0].pk)
    assert (rse.sync_state, rse.rucio_value) == ("drifted", "CHEAP")
    push = rse.reconcile(by=admin)
    deliver([push.pk])
    assert qos_of(rucio_admin_client, rse.name) == "SAFE"
    assert push.attempt_log.get().value_before == "CHEAP"


def test_reconcile_removes_a_value_the_portal_did_not_set(rses, admin, rucio_admin_client, rucio_instance):
    rucio_admin_client.add_rse_attribute(rses[1].name, "QOS", "ROGUE")
    sync_rses(rucio_instance)
    rse = RSE.objects.get(pk=rses[1].pk)
    push = rse.reconcile(by=admin)
    assert push.operation == "delete"
    deliver([push.pk])
    assert qos_of(rucio_admin_client, rse.name) is None


def test_adopt_takes_rucios_value_when_it_is_an_approved_class(
    rses, approved_class, admin, rucio_admin_client, rucio_instance
):
    rucio_admin_client.add_rse_attribute(rses[2].name, "QOS", "SAFE")
    sync_rses(rucio_instance)
    rse = RSE.objects.get(pk=rses[2].pk)
    rse.adopt(by=admin)
    rse.refresh_from_db()
    assert (rse.qos_class, rse.sync_state) == (approved_class, "in_sync")
    assert not Push.objects.exists()


def test_adopt_refuses_a_value_that_is_no_approved_class(rses, admin, rucio_admin_client, rucio_instance):
    rucio_admin_client.add_rse_attribute(rses[2].name, "QOS", "ROGUE")
    sync_rses(rucio_instance)
    rse = RSE.objects.get(pk=rses[2].pk)
    with pytest.raises(ValidationError, match="not an approved class"):
        rse.adopt(by=admin)
    rse.refresh_from_db()
    assert rse.qos_class is None


def test_sync_rucio_command(rucio_instance, make_rse, capsys):
    sync_rses(rucio_instance)  # the RSEs other tests left on the session's server are known before
    known = RSE.objects.filter(instance=rucio_instance).count()
    name = make_rse()
    call_command("sync_rucio", "--instance", "test")
    assert capsys.readouterr().out == f"test: 1 new, {known} updated, 0 gone from Rucio\n"
    assert RSE.objects.filter(name=name).exists()


def test_sync_rucio_command_with_unknown_instance_says_which_exist(rucio_instance):
    from django.core.management.base import CommandError

    with pytest.raises(CommandError, match="No Rucio instance named 'nope' \\(known: test\\)"):
        call_command("sync_rucio", "--instance", "nope")


def test_push_pending_command_sends_queued_pushes(rses, approved_class, admin, rucio_admin_client, capsys):
    RSE.objects.filter(pk=rses[0].pk).assign(approved_class, by=admin)
    call_command("push_pending")
    assert "1 written" in capsys.readouterr().out
    assert qos_of(rucio_admin_client, rses[0].name) == "SAFE"


def test_secrets_never_reach_the_database(rucio_instance, rucio_server):
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT * FROM qos_rucioinstance")
        rows = cursor.fetchall()
    assert rucio_server.password not in repr(rows)
    assert rucio_server.password not in repr(rucio_instance.connection())
