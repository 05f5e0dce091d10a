"""``__any``: the rows whose integer key is one of a list, one array parameter on PostgreSQL."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from qos.models import RSE, Push, RucioInstance

pytestmark = pytest.mark.django_db


@pytest.fixture
def pushes():
    instance = RucioInstance.objects.create(name="lookups", host="https://rucio.example.org", account="root")
    rses = [RSE.objects.create(instance=instance, name=f"LOOKUP-{i}") for i in range(4)]
    return [Push.objects.create(rse=rse, key="QOS", value="SAFE") for rse in rses for _ in range(2)]


def test_any_finds_the_rows_in_finds(pushes):
    wanted = [pushes[0].pk, pushes[3].pk, pushes[6].pk, 10**12]
    assert set(Push.objects.filter(pk__any=wanted)) == set(Push.objects.filter(pk__in=wanted))
    assert set(Push.objects.filter(pk__any=wanted).values_list("pk", flat=True)) == set(wanted[:3])


def test_any_of_foreign_keys_takes_ids_or_objects(pushes):
    rses = [pushes[0].rse, pushes[2].rse]
    expected = {push.pk for push in pushes[:4]}
    assert (
        set(Push.objects.filter(rse_id__any=[rse.pk for rse in rses]).values_list("pk", flat=True))
        == expected
    )
    assert set(Push.objects.filter(rse__any=rses).values_list("pk", flat=True)) == expected


def test_any_of_nothing_is_no_row_and_no_query(pushes):
    with CaptureQueriesContext(connection) as queries:
        assert list(Push.objects.filter(pk__any=[])) == []
    assert len(queries) == 0


def test_any_is_one_array_parameter_on_postgresql_and_an_in_list_elsewhere(pushes):
    with CaptureQueriesContext(connection) as queries:
        list(Push.objects.filter(pk__any=[pushes[0].pk]))
        list(Push.objects.filter(pk__any=[push.pk for push in pushes]))
    one, many = (query["sql"] for query in queries.captured_queries)
    if connection.vendor == "postgresql":
        # The logged SQL shows the values; the statement's text is the same up to them, whatever their number.
        assert one.split(" = ANY(")[0] == many.split(" = ANY(")[0]
        assert " IN (" not in many
    else:
        assert many.count(",") > one.count(",")
        assert " IN (" in many
