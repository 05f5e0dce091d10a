"""The push sender when PostgreSQL goes away under it: the fault is real, a server-side end of its connection.

tests/qos/test_fault_drills.py restarts a whole PostgreSQL server under the deployed stack; here one sender's
connection is ended (``pg_terminate_backend``) while it is half-way through a push, which is what a restart or a
failover does to it.
"""

import logging
import threading

import psycopg
import pytest
from django.core.cache import cache
from django.db import connection, connections

from qos import tasks
from qos.models import RSE, Push
from qos.rucio_gateway.sync import sync_rses
from tests.celery_worker import wait_for

pytestmark = [pytest.mark.django_db(transaction=True)]


@pytest.fixture
def postgresql():
    if connection.vendor != "postgresql":
        pytest.skip("the fault is PostgreSQL ending a connection (pg_terminate_backend)")


def test_a_push_cut_short_by_a_lost_database_connection_is_sent_by_the_retry_without_waiting_for_the_lease(
    postgresql,
    rucio_instance,
    rucio_server,
    make_rse,
    rucio_admin_client,
    silent_server,
    admin,
    settings,
    rucio_deployment,
):
    # A push the retry could not take back would wait for its claim lease: an hour here.
    settings.PUSH_CLAIM_LEASE_SECONDS = 3600
    name = make_rse()
    sync_rses(rucio_instance)
    (push,) = Push.objects.enqueue_many([RSE.objects.get(name=name)], "SAFE", "drill", by=admin)
    # The sender claims the push, then hangs on a Rucio that never answers.
    rucio_deployment.move(rucio_instance, silent_server.url)
    backend_pid = []
    failures = []

    def send() -> None:
        try:
            connection.ensure_connection()
            backend_pid.append(connection.connection.info.backend_pid)
            # In this thread, as a worker runs it; a retry runs at once (Celery's eager apply, which
            # runs the retry only when it does not raise it).
            tasks.send_pushes.apply(args=[[push.pk]], throw=False)
        except BaseException as error:  # reported by the test below
            failures.append(error)
        finally:
            connections.close_all()

    sender = threading.Thread(target=send)
    sender.start()
    wait_for(
        lambda: silent_server.accepted and Push.objects.get(pk=push.pk).state == "sending",
        what="the sender to hold the push and wait on Rucio",
    )
    # The real Rucio is reachable again for the retry; PostgreSQL ends the sender's connection under it.
    rucio_deployment.move(rucio_instance, rucio_server.url)
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_terminate_backend(%s)", backend_pid)
        assert cursor.fetchone() == (True,)
    silent_server.close()  # the hung request fails: the sender records that ... on a connection that is gone
    sender.join(timeout=180)
    assert not sender.is_alive(), "the sender did not finish"
    assert not failures, failures

    push.refresh_from_db()
    assert push.state == "done"
    assert push.attempts == 2  # claimed by the cut-short attempt, then taken back by its retry at once
    assert list(push.attempt_log.values_list("outcome", flat=True)) == ["written"]
    assert rucio_admin_client.list_rse_attributes(name).get("QOS") == "SAFE"


def test_while_the_database_is_down_the_sweeper_says_so_once_and_once_when_it_is_back(postgresql, caplog):
    settings_dict = connection.settings_dict
    database = settings_dict["NAME"]
    # The server stays up; the portal's database refuses every connection, and the open ones are ended.
    server = psycopg.connect(
        host=settings_dict.get("HOST") or "127.0.0.1",
        port=settings_dict.get("PORT") or 5432,
        user=settings_dict.get("USER") or None,
        password=settings_dict.get("PASSWORD") or None,
        dbname="postgres",
        autocommit=True,
    )
    caplog.set_level(logging.INFO, logger="qos.tasks")
    try:
        server.execute(f'ALTER DATABASE "{database}" ALLOW_CONNECTIONS false')
        server.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()",
            [database],
        )
        ticks = [tasks.sweep_pushes() for _ in range(4)]  # beat's ticks while PostgreSQL is down
        server.execute(f'ALTER DATABASE "{database}" ALLOW_CONNECTIONS true')
        assert ticks == [0, 0, 0, 0]
        assert tasks.sweep_pushes() == 0
        assert tasks.sweep_pushes() == 0
    finally:
        server.execute(f'ALTER DATABASE "{database}" ALLOW_CONNECTIONS true')
        server.close()
        cache.delete(tasks.SWEEPER_DATABASE_DOWN)
    said = [
        (record.levelname, record.getMessage()) for record in caplog.records if record.name == "qos.tasks"
    ]
    assert [level for level, _ in said] == ["WARNING", "INFO"], said
    assert said[0][1].startswith("The push sweeper cannot reach the database (")
    assert said[1][1] == "The push sweeper reaches the database again."
    assert not any(record.exc_info for record in caplog.records)
