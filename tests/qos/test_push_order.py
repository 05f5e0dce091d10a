"""One push of an RSE at a time: two senders claiming two pushes of one RSE at the same moment take one.

The claim of tests/qos/test_rucio_push.py's hand-on test happens first and commits; here the second claim comes
while the first one's transaction is still open, which only a lock makes wait (see qos.rucio_gateway.sync.claim).
"""

import threading

import pytest
from django.db import connection, connections, transaction

from qos.models import RSE, Push, RucioInstance
from qos.rucio_gateway.sync import claim

pytestmark = [pytest.mark.django_db(transaction=True)]


def test_two_senders_claiming_two_pushes_of_one_rse_at_the_same_moment_take_one():
    if connection.vendor != "postgresql":
        pytest.skip("SQLite lets one writer in at a time: there is no such moment")
    instance = RucioInstance.objects.create(name="race", host="https://rucio.example")
    rse = RSE.objects.create(instance=instance, name="RACE-RSE")
    older, newer = (
        Push.objects.create(rse=rse, key="QOS", value=value, operation="set", reason="race")
        for value in ("SAFE", "FAST")
    )
    claimed: dict[str, list[int]] = {}
    first_holds_it, first_may_commit = threading.Event(), threading.Event()

    def first() -> None:
        try:
            with transaction.atomic():
                claimed["first"] = [push.pk for push in claim([older.pk], token="first")]
                first_holds_it.set()
                first_may_commit.wait(30)
        finally:
            connections.close_all()

    def second() -> None:
        try:
            claimed["second"] = [push.pk for push in claim([newer.pk], token="second")]
        finally:
            connections.close_all()

    senders = [threading.Thread(target=first), threading.Thread(target=second)]
    senders[0].start()
    assert first_holds_it.wait(30)
    senders[1].start()
    senders[1].join(timeout=2)
    assert senders[1].is_alive(), "the second claim did not wait for the first"
    first_may_commit.set()
    for sender in senders:
        sender.join(timeout=30)
        assert not sender.is_alive()
    assert claimed == {"first": [older.pk], "second": []}
    assert list(Push.objects.order_by("pk").values_list("state", flat=True)) == ["sending", "queued"]
