"""Many rows in one statement (common.bulk): the rows Django's bulk_create and per-row updates would write."""

import pytest
from django.db import DataError, connection, transaction
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from common.bulk import create_alike, update_each
from qos.models import RSE, Push, RucioInstance

pytestmark = pytest.mark.django_db

COLUMNS = ["rse_id", "key", "value", "operation", "reason", "state", "attempts", "last_error", "created_at"]


@pytest.fixture
def rses():
    instance = RucioInstance.objects.create(name="bulk", host="https://rucio.example.org", account="root")
    return [RSE.objects.create(instance=instance, name=f"BULK-{i}") for i in range(5)]


def pushes_of(rses, now, **fields):
    return [
        Push(
            rse=rse,
            key=f"QOS-{i % 2}",
            value="SAFE",
            operation="set",
            reason="test",
            created_at=now,
            **fields,
        )
        for i, rse in enumerate(rses)
    ]


def rows(pks):
    by_pk = {row[0]: row[1:] for row in Push.objects.filter(pk__in=pks).values_list("pk", *COLUMNS)}
    return [by_pk[pk] for pk in pks]


def test_create_alike_writes_the_rows_bulk_create_writes_in_one_statement(rses):
    now = timezone.now()
    with CaptureQueriesContext(connection) as queries:
        made = create_alike(Push.objects.all(), pushes_of(rses, now), varying=["rse_id", "key"], batch_size=2)
    expected = Push.objects.bulk_create(pushes_of(rses, now), batch_size=2)
    assert rows([push.pk for push in made]) == rows([push.pk for push in expected])
    # Each object holds the key of its own row, in the order given, and is saved.
    assert [row[:2] for row in rows([push.pk for push in made])] == [
        (rse.pk, f"QOS-{i % 2}") for i, rse in enumerate(rses)
    ]
    assert not any(push._state.adding for push in made)
    inserts = [query["sql"] for query in queries.captured_queries if query["sql"].startswith("INSERT")]
    assert len(inserts) == (1 if connection.vendor == "postgresql" else 3)


def test_rows_that_differ_in_another_field_are_written_as_bulk_create_writes_them(rses):
    now = timezone.now()
    different = pushes_of(rses, now)
    different[3].value = "FAST"
    different[4].reason = 'it\'s "quoted", and ünïcode'
    made = create_alike(Push.objects.all(), different, varying=["rse_id", "key"], batch_size=500)
    assert [row[2:5] for row in rows([push.pk for push in made])] == [
        ("SAFE", "set", "test"),
        ("SAFE", "set", "test"),
        ("SAFE", "set", "test"),
        ("FAST", "set", "test"),
        ("SAFE", "set", 'it\'s "quoted", and ünïcode'),
    ]


def test_create_alike_of_an_unknown_field_is_refused_and_writes_nothing(rses):
    with pytest.raises(ValueError, match="no field rse to vary"):
        create_alike(Push.objects.all(), pushes_of(rses, timezone.now()), varying=["rse"], batch_size=500)
    assert not Push.objects.exists()


def test_create_alike_of_nothing_writes_nothing(rses):
    with CaptureQueriesContext(connection) as queries:
        assert create_alike(Push.objects.all(), [], varying=["rse_id"], batch_size=500) == []
    assert len(queries) == 0


def test_create_alike_rolls_back_with_its_transaction(rses):
    with transaction.atomic():
        create_alike(Push.objects.all(), pushes_of(rses, timezone.now()), varying=["rse_id"], batch_size=500)
        transaction.set_rollback(True)
    assert not Push.objects.exists()


def test_update_each_writes_each_row_its_own_values_json_included(rses):
    odd = {"QOS": "SAFE", "quote": 'it\'s "x"', "nested": {"a": [1, None]}, "ünï": "çødé"}
    values = [odd, {}, {"QOS": None}, {"QOS": "FAST"}]
    for rse, value in zip(rses, values, strict=False):
        rse.rucio_attributes = value
        rse.rucio_value = value.get("QOS")
    with CaptureQueriesContext(connection) as queries:
        update_each(RSE, rses[:4], ["rucio_attributes", "rucio_value"])
    stored = {rse.pk: (rse.rucio_attributes, rse.rucio_value) for rse in RSE.objects.all()}
    assert [stored[rse.pk] for rse in rses] == [
        (odd, "SAFE"),
        ({}, None),
        ({"QOS": None}, None),
        ({"QOS": "FAST"}, "FAST"),
        ({}, None),  # not among those written
    ]
    assert len(queries) == (1 if connection.vendor == "postgresql" else 4)


def test_a_value_too_long_for_its_column_is_refused_not_cut_short(rses):
    """As Django's own statements: a cast to the column's varchar(64) would cut it short without a word."""
    if connection.vendor != "postgresql":
        pytest.skip("SQLite does not hold text to a column's length")
    too_long = pushes_of(rses, timezone.now())
    too_long[2].key = "K" * 65  # Push.key holds 64 characters
    with pytest.raises(DataError), transaction.atomic():
        create_alike(Push.objects.all(), too_long, varying=["rse_id", "key"], batch_size=500)
    assert not Push.objects.exists()
    rses[0].rucio_value, rses[1].rucio_value = "SAFE", "V" * 256  # RSE.rucio_value holds 255
    with pytest.raises(DataError), transaction.atomic():
        update_each(RSE, rses[:2], ["rucio_value"])
    assert set(RSE.objects.values_list("rucio_value", flat=True)) == {None}
