"""A bulk push larger than one import, against a real Rucio server: one listing for many imports, the claim
lease kept while they run, faults part-way, and the one-statement recording of many RSEs.

The imports run in a thread of their own (qos.rucio_gateway.sync._set_in_bulk) while the sender records the
one before; results are checked through a separate rucio-clients session, not the portal's records.
"""

import threading
from datetime import timedelta

import pytest
from django.conf import settings
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from qos.models import RSE, Push
from qos.rucio_gateway import PermanentRucioError, RucioGateway, TransientRucioError, sync
from qos.rucio_gateway.sync import PushesDeferred, claim, deliver, sync_rses

pytestmark = pytest.mark.django_db

LISTS = r'"GET /rses/[?" ]'
IMPORTS = r'"POST /import'


@pytest.fixture
def fifteen(rucio_instance, make_rse, monkeypatch):
    """15 synced RSEs, and imports of 5 RSEs each: three imports for a push onto all of them."""
    monkeypatch.setattr(sync, "IMPORT_CHUNK", 5)
    names = sorted(make_rse() for _ in range(15))
    sync_rses(rucio_instance)
    return names


def qos_of(client, name):
    return client.list_rse_attributes(name).get("QOS")


def assign(names, approved_class, admin):
    return sorted(
        RSE.objects.filter(name__in=names).assign(approved_class, by=admin), key=lambda p: p.rse.name
    )


def test_a_bulk_push_of_several_imports_lists_the_rses_once(
    fifteen, approved_class, admin, rucio_admin_client, rucio_server
):
    pushes = assign(fifteen, approved_class, admin)
    lists, imports = rucio_server.requests_logged(LISTS), rucio_server.requests_logged(IMPORTS)
    report = deliver([push.pk for push in pushes])
    assert len(report.written) == 15
    assert (rucio_server.requests_logged(LISTS), rucio_server.requests_logged(IMPORTS)) == (
        lists + 1,
        imports + 3,
    )
    assert {qos_of(rucio_admin_client, name) for name in fifteen} == {"SAFE"}
    assert set(RSE.objects.filter(name__in=fifteen).values_list("sync_state", "rucio_value")) == {
        ("in_sync", "SAFE")
    }


def test_an_rse_deleted_in_rucio_after_the_listing_is_not_brought_back_once_the_listing_is_old(
    fifteen, approved_class, admin, rucio_admin_client, rucio_server, monkeypatch
):
    # Every listing is too old for the next import: each import lists again.
    monkeypatch.setattr(sync, "LISTING_MAX_AGE_SECONDS", 0.0)
    real_import = RucioGateway.set_rse_attributes_bulk
    calls, deleted = [], []

    def import_then_delete(self, values, **kwargs):
        real_import(self, values, **kwargs)
        calls.append(sorted(values))
        if len(calls) == 1:
            # After the first listing and import, before the import that carries it.
            deleted.append(next(name for name in fifteen if name not in values))
            rucio_admin_client.delete_rse(deleted[0])

    monkeypatch.setattr(RucioGateway, "set_rse_attributes_bulk", import_then_delete)
    pushes = assign(fifteen, approved_class, admin)
    lists = rucio_server.requests_logged(LISTS)
    report = deliver([push.pk for push in pushes])
    # Every listing being too old at once: the one made while the pushes were claimed, one to size the
    # imports, then one before each of the three.
    assert rucio_server.requests_logged(LISTS) == lists + 5
    (gone,) = deleted
    failed = next(push for push in pushes if push.rse.name == gone)
    assert (report.failed, len(report.written)) == ([failed.pk], 14)
    failed.refresh_from_db()
    assert (failed.state, failed.last_error) == ("failed", f"Rucio has no RSE named {gone}.")
    assert gone not in {rse["rse"] for rse in rucio_admin_client.list_rses()}  # not brought back
    assert {qos_of(rucio_admin_client, name) for name in fifteen if name != gone} == {"SAFE"}


def test_a_transient_fault_of_the_listing_before_a_bulk_set_gives_every_push_back(
    fifteen, approved_class, admin, rucio_server, monkeypatch
):
    def overloaded(self, expression=None):
        # A fault that cannot be caused for real at this moment: the server overloaded.
        raise TransientRucioError("list RSEs: HTTP 503")

    monkeypatch.setattr(RucioGateway, "list_rses", overloaded)
    pushes = assign(fifteen, approved_class, admin)
    ids = [push.pk for push in pushes]
    imports = rucio_server.requests_logged(IMPORTS)
    with pytest.raises(PushesDeferred) as deferred:
        deliver(ids)
    assert sorted(deferred.value.report.retry) == sorted(ids)
    assert rucio_server.requests_logged(IMPORTS) == imports
    assert set(Push.objects.filter(pk__in=ids).values_list("state", flat=True)) == {"queued"}


def test_a_listing_refused_for_good_before_a_bulk_set_sends_each_value_on_its_own(
    fifteen, approved_class, admin, rucio_admin_client, rucio_server, monkeypatch
):
    def refused(self, expression=None):
        # A fault that cannot be caused for real here: a server that refuses this account the list of RSEs.
        raise PermanentRucioError("list RSEs: HTTP 401")

    monkeypatch.setattr(RucioGateway, "list_rses", refused)
    pushes = assign(fifteen, approved_class, admin)
    imports = rucio_server.requests_logged(IMPORTS)
    report = deliver([push.pk for push in pushes])
    # No import without a listing (it could create an RSE): one request each instead.
    assert len(report.written) == 15
    assert rucio_server.requests_logged(IMPORTS) == imports
    assert {qos_of(rucio_admin_client, name) for name in fifteen} == {"SAFE"}


def test_a_sender_keeps_its_claim_through_many_imports(fifteen, approved_class, admin, monkeypatch):
    pushes = assign(fifteen, approved_class, admin)
    ids = [push.pk for push in pushes]
    real_renew = sync._renew_lease
    taken_by_another, renewed = [], []

    def renew_late(token):
        # As if the imports before had taken longer than the lease: without the renewal these pushes would
        # be free for any other sender to claim.
        expired = timezone.now() - timedelta(seconds=settings.PUSH_CLAIM_LEASE_SECONDS + 1)
        Push.objects.filter(claim_token=token, state="sending").update(claimed_at=expired)
        real_renew(token)
        renewed.append(token)
        taken_by_another.extend(push.pk for push in claim(ids, token="another-sender"))

    monkeypatch.setattr(sync, "_renew_lease", renew_late)
    monkeypatch.setattr(sync, "RENEW_AFTER_LEASE_FRACTION", 0.0)  # before every import
    report = deliver(ids)
    assert len(report.written) == 15
    assert len(renewed) == 3
    assert taken_by_another == []
    assert set(Push.objects.filter(pk__in=ids).values_list("state", "attempts")) == {("done", 1)}


def test_a_transient_fault_on_a_later_import_gives_back_only_the_pushes_not_written(
    fifteen, approved_class, admin, rucio_admin_client, monkeypatch
):
    real_import = RucioGateway.set_rse_attributes_bulk
    calls = []

    def second_one_fails(self, values, **kwargs):
        calls.append(sorted(values))
        if len(calls) == 2:
            # A fault that cannot be caused for real at this moment: the server overloaded mid-push.
            raise TransientRucioError("bulk set of attributes: HTTP 503")
        real_import(self, values, **kwargs)

    monkeypatch.setattr(RucioGateway, "set_rse_attributes_bulk", second_one_fails)
    pushes = assign(fifteen, approved_class, admin)
    with pytest.raises(PushesDeferred) as deferred:
        deliver([push.pk for push in pushes])
    assert len(calls) == 2  # the third import was never sent
    report = deferred.value.report
    first = set(calls[0])
    written = {push.pk for push in pushes if push.rse.name in first}
    assert (set(report.written), set(report.retry)) == (written, {push.pk for push in pushes} - written)
    for push in pushes:
        push.refresh_from_db()
        if push.rse.name in first:
            assert push.state == "done"
            assert qos_of(rucio_admin_client, push.rse.name) == "SAFE"
        else:
            assert (push.state, push.next_attempt_at is not None) == ("queued", True)
            assert qos_of(rucio_admin_client, push.rse.name) is None
    # Once the wait is over, the rest go out.
    Push.objects.filter(state="queued").update(next_attempt_at=None)
    monkeypatch.setattr(RucioGateway, "set_rse_attributes_bulk", real_import)
    assert len(deliver([push.pk for push in pushes]).written) == 10
    assert {qos_of(rucio_admin_client, name) for name in fifteen} == {"SAFE"}


def test_recording_many_rses_in_one_statement_stores_what_one_update_each_stores(
    rucio_instance, approved_class
):
    def make(prefix):
        return [
            RSE.objects.create(instance=rucio_instance, name=f"{prefix}-{i}", qos_class=approved_class)
            for i in range(3)
        ]

    reported = [{"QOS": "SAFE", "tier": "1"}, {"QOS": "OTHER"}, {}]
    fields = ("rucio_attributes", "rucio_value", "sync_state", "missing_in_rucio")
    for pushed, read in ((False, True), (True, False)):
        together, one_by_one = make(f"T{pushed:d}"), make(f"O{pushed:d}")
        RSE.objects.record_rucio_attributes(
            {rse.pk: attributes for rse, attributes in zip(together, reported, strict=True)},
            pushed=pushed,
            read=read,
        )
        for rse, attributes in zip(one_by_one, reported, strict=True):
            RSE.objects.record_rucio_attributes({rse.pk: attributes}, pushed=pushed, read=read)
        for a, b in zip(together, one_by_one, strict=True):
            a, b = RSE.objects.get(pk=a.pk), RSE.objects.get(pk=b.pk)
            assert [getattr(a, name) for name in fields] == [getattr(b, name) for name in fields]
            assert (a.last_read_at is None, a.last_pushed_at is None) == (not read, not pushed)
            assert (b.last_read_at is None, b.last_pushed_at is None) == (not read, not pushed)
    states = (
        RSE.objects.filter(name__startswith="T0").order_by("name").values_list("sync_state", "rucio_value")
    )
    assert list(states) == [("in_sync", "SAFE"), ("drifted", "OTHER"), ("drifted", None)]


def test_a_bulk_push_lists_the_rses_while_it_claims_the_pushes(fifteen, approved_class, admin, monkeypatch):
    real_list, real_claim = RucioGateway.list_rses, sync.claim
    events = []

    def listing(self, expression=None):
        events.append(("listing", threading.current_thread().name.split("_")[0]))
        return real_list(self, expression)

    def claiming(*args, **kwargs):
        events.append(("claim", threading.current_thread().name.split("_")[0]))
        return real_claim(*args, **kwargs)

    monkeypatch.setattr(RucioGateway, "list_rses", listing)
    monkeypatch.setattr(sync, "claim", claiming)
    pushes = assign(fifteen, approved_class, admin)
    report = deliver([push.pk for push in pushes])
    assert len(report.written) == 15
    # The listing was asked for before the claim, in a thread of its own; the imports used it.
    assert events == [("listing", "rucio-listing"), ("claim", "MainThread")]


def test_a_push_of_a_few_rses_lists_nothing(rucio_instance, make_rse, approved_class, admin, rucio_server):
    names = [make_rse() for _ in range(sync.BULK_THRESHOLD)]
    sync_rses(rucio_instance)
    pushes = assign(names, approved_class, admin)
    lists = rucio_server.requests_logged(LISTS)
    assert len(deliver([push.pk for push in pushes]).written) == sync.BULK_THRESHOLD
    assert rucio_server.requests_logged(LISTS) == lists


def test_removing_the_class_of_many_rses_lists_nothing(fifteen, approved_class, admin, rucio_server):
    assert len(deliver([push.pk for push in assign(fifteen, approved_class, admin)]).written) == 15
    removals = assign(fifteen, None, admin)
    lists = rucio_server.requests_logged(LISTS)
    # Removals are sent one request each: no listing, ahead or not.
    assert len(deliver([push.pk for push in removals]).written) == 15
    assert rucio_server.requests_logged(LISTS) == lists


def test_a_listing_made_for_pushes_another_sender_took_is_dropped(
    fifteen, approved_class, admin, rucio_server
):
    pushes = assign(fifteen, approved_class, admin)
    ids = [push.pk for push in pushes]
    assert len(claim(ids, token="another-sender")) == 15
    lists, imports = rucio_server.requests_logged(LISTS), rucio_server.requests_logged(IMPORTS)
    report = deliver(ids)
    assert (report.written, report.retry) == ([], [])
    # Listed in vain (the claim found nothing free), waited for, and nothing imported.
    assert rucio_server.requests_logged(LISTS) == lists + 1
    assert rucio_server.requests_logged(IMPORTS) == imports
    assert set(Push.objects.filter(pk__in=ids).values_list("claim_token", flat=True)) == {"another-sender"}


def test_the_last_import_is_split_where_an_import_costs_the_server_little():
    def sizes(sets, rses_on_server):
        return [len(chunk) for chunk in sync._import_chunks(list(range(sets)), rses_on_server)]

    # A server of 1,000 RSEs: a fifth of the last import's RSEs go last, so that little is left to record
    # once Rucio is done.
    assert sizes(1_000, 1_000) == [800, 200]
    assert sizes(2_000, 2_000) == [1_000, 800, 200]
    # A server of 10,000: each import also lists them all, which costs more than recording 800 RSEs.
    assert sizes(5_000, 10_000) == [2_000, 2_000, 1_000]
    # A few RSEs: one import.
    assert sizes(15, 20) == [15]


def test_imports_are_larger_on_a_server_of_many_rses_and_bounded():
    # Each import also lists all the server's RSEs: a fifth of them a time, within the bounds.
    assert [sync._import_size(rses) for rses in (10, 1_000, 5_000, 7_500, 10_000, 100_000)] == [
        sync.IMPORT_CHUNK_MIN,
        sync.IMPORT_CHUNK_MIN,
        sync.IMPORT_CHUNK_MIN,
        1_500,
        sync.IMPORT_CHUNK,
        sync.IMPORT_CHUNK,
    ]


@pytest.mark.django_db(transaction=True)
def test_a_sender_waits_while_another_senders_import_to_the_instance_is_in_flight(
    fifteen, rucio_instance, approved_class, admin, rucio_admin_client, rucio_server
):
    import threading

    from django.db import connection, connections

    if connection.vendor != "postgresql":
        pytest.skip("the turn is a PostgreSQL advisory lock; SQLite lets one writer in at a time anyway")
    pushes = assign(fifteen, approved_class, admin)
    imports = rucio_server.requests_logged(IMPORTS)
    key = [sync.IMPORT_LOCK_SPACE, rucio_instance.pk]
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_lock(%s, %s)", key)  # another sender's import in flight
    reports = []

    def sender():
        try:
            reports.append(deliver([push.pk for push in pushes]))
        finally:
            connections.close_all()

    thread = threading.Thread(target=sender)
    thread.start()
    try:

        def waiting_for_its_turn():
            with connection.cursor() as cursor:
                cursor.execute(
                    "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted "
                    "AND classid = %s AND objid = %s",
                    key,
                )
                return cursor.fetchone()[0] == 1

        for _ in range(600):
            if waiting_for_its_turn():
                break
            thread.join(0.05)
        assert waiting_for_its_turn()
        assert rucio_server.requests_logged(IMPORTS) == imports  # nothing sent meanwhile
    finally:
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_unlock(%s, %s)", key)
        thread.join(60)
    assert len(reports[0].written) == 15
    assert rucio_server.requests_logged(IMPORTS) == imports + 3
    assert {qos_of(rucio_admin_client, name) for name in fifteen} == {"SAFE"}


def test_a_bulk_push_makes_as_many_queries_for_24_rses_as_for_12(
    rucio_instance, make_rse, approved_class, admin, rucio_admin_client
):
    # The claim, the superseding check and the recording take the pushes and RSEs a chunk at a time (the
    # recording reads each RSE's latest push in the same query): one query per push or RSE would show here.
    names = sorted(make_rse() for _ in range(36))
    sync_rses(rucio_instance)
    counts = []
    for group in (names[:12], names[12:]):
        pushes = assign(group, approved_class, admin)
        with CaptureQueriesContext(connection) as queries:
            report = deliver([push.pk for push in pushes])
        assert len(report.written) == len(group)
        counts.append(len(queries))
    assert counts[0] == counts[1]
    assert {qos_of(rucio_admin_client, name) for name in names} == {"SAFE"}
    assert set(RSE.objects.filter(name__in=names).values_list("sync_state", "rucio_value")) == {
        ("in_sync", "SAFE")
    }
