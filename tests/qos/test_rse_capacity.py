"""RSE capacity: read from a real Rucio by the RSE sync, shown on the RSE pages, in the API and in /metrics.

Usage and limits are set on the test Rucio with an admin rucio-clients session, as a site or an admin would.
"""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from common.templatetags.common_tags import bytes_si
from qos.models import RSE, RucioInstance
from qos.rucio_gateway import RucioGateway, TransientRucioError
from qos.rucio_gateway.sync import BULK_THRESHOLD, read_capacities, sync_rses

pytestmark = pytest.mark.django_db

TB = 10**12


def test_the_sync_reads_usage_from_storage_and_subtracts_min_free_space(
    rucio_instance, make_rse, rucio_admin_client
):
    name = make_rse()
    rucio_admin_client.set_rse_usage(name, "storage", used=200 * TB, free=50 * TB)
    rucio_admin_client.set_rse_limits(name, "MinFreeSpace", 10 * TB)
    before = timezone.now()
    sync_rses(rucio_instance)
    rse = RSE.objects.get(name=name)
    assert rse.capacity_source == "storage"
    assert (rse.capacity_used_bytes, rse.capacity_free_bytes, rse.capacity_total_bytes) == (
        200 * TB,
        50 * TB,
        250 * TB,
    )
    assert rse.capacity_min_free_bytes == 10 * TB
    assert rse.usable_bytes == 40 * TB
    assert rse.capacity_read_at >= before
    assert rse.capacity_error == ""


def test_a_sync_of_many_rses_reads_their_capacities_several_at_a_time_each_its_own(
    rucio_instance, make_rse, rucio_admin_client
):
    # Above BULK_THRESHOLD RSEs the capacities are read by several threads, each with a client of its own.
    names = [make_rse() for _ in range(BULK_THRESHOLD + 6)]
    for number, name in enumerate(names, start=1):
        rucio_admin_client.set_rse_usage(name, "storage", used=number * TB, free=2 * number * TB)
        rucio_admin_client.set_rse_limits(name, "MinFreeSpace", number)
    sync_rses(rucio_instance)
    for number, name in enumerate(names, start=1):
        rse = RSE.objects.get(name=name)
        assert (rse.capacity_used_bytes, rse.capacity_free_bytes, rse.capacity_min_free_bytes) == (
            number * TB,
            2 * number * TB,
            number,
        )
        assert (rse.capacity_source, rse.capacity_error) == ("storage", "")


def test_without_a_storage_report_rucios_own_count_is_read_and_free_space_is_unknown(
    rucio_instance, make_rse, rucio_admin_client
):
    name = make_rse()
    rucio_admin_client.set_rse_usage(name, "rucio", used=3 * TB, free=None)
    sync_rses(rucio_instance)
    rse = RSE.objects.get(name=name)
    assert rse.capacity_source == "rucio"
    assert rse.capacity_used_bytes == 3 * TB
    # Rucio's own count knows no free space: neither free, total nor usable may read as 0.
    assert rse.capacity_free_bytes is None
    assert rse.capacity_total_bytes is None
    assert rse.usable_bytes is None
    assert rse.capacity_min_free_bytes is None  # no MinFreeSpace set
    assert "no free space" in rse.capacity_error


def test_a_new_rse_has_an_unknown_capacity(rucio_instance, make_rse):
    name = make_rse()
    sync_rses(rucio_instance)
    rse = RSE.objects.get(name=name)
    assert rse.usable_bytes is None
    assert rse.capacity_free_bytes is None
    assert rse.capacity_error


def test_an_rse_renamed_between_list_and_read_does_not_stop_the_others(
    rucio_instance, make_rse, rucio_admin_client, monkeypatch
):
    # Rucio still answers usage and limits of a deleted RSE; one renamed meanwhile is not found under the name
    # the sync listed.
    renamed, kept = make_rse(), make_rse()
    rucio_admin_client.set_rse_usage(kept, "storage", used=1 * TB, free=2 * TB)
    list_all = RucioGateway.get_all_rse_attributes

    def list_then_rename(self, **kwargs):
        listed = list_all(self, **kwargs)
        rucio_admin_client.update_rse(renamed, {"name": f"{renamed}-NEW"})
        return listed

    monkeypatch.setattr(RucioGateway, "get_all_rse_attributes", list_then_rename)
    try:
        sync_rses(rucio_instance)
    finally:
        rucio_admin_client.delete_rse(f"{renamed}-NEW")
    gone = RSE.objects.get(name=renamed)
    assert gone.usable_bytes is None
    assert gone.capacity_source == ""
    assert "RSENotFound" in gone.capacity_error
    assert gone.capacity_read_at is not None
    assert RSE.objects.get(name=kept).usable_bytes == 2 * TB


class DownAfterFirst:
    """A gateway whose server answers one RSE and then stops answering (what a real one says when down)."""

    def __init__(self) -> None:
        self.asked: list[str] = []

    def get_rse_usage(self, rse: str) -> list[dict]:
        self.asked.append(rse)
        if len(self.asked) > 1:
            raise TransientRucioError(f"read usage of RSE {rse} failed: cannot connect to the Rucio server")
        return [{"source": "storage", "used": 1, "free": 2}]

    def get_rse_limits(self, rse: str) -> dict:
        return {}


def test_after_a_transient_fault_the_remaining_rses_are_not_asked():
    gateway = DownAfterFirst()
    capacities = read_capacities(gateway, ["A", "B", "C", "D"])
    assert gateway.asked == ["A", "B"]
    assert capacities["A"]["capacity_free_bytes"] == 2
    assert "cannot connect" in capacities["B"]["capacity_error"]
    assert capacities["D"]["capacity_error"].startswith("Not read, after an earlier fault:")
    assert capacities["D"]["capacity_free_bytes"] is None


# --- Shown: pages, API, metrics (no Rucio needed) -----------------------------------------------------------
@pytest.fixture
def instance():
    return RucioInstance.objects.create(name="escape", host="https://rucio.escape.invalid")


def with_capacity(instance, name, free=50 * TB, min_free=10 * TB, used=200 * TB):
    return RSE.objects.create(
        instance=instance,
        name=name,
        capacity_used_bytes=used,
        capacity_free_bytes=free,
        capacity_total_bytes=None if free is None else used + free,
        capacity_min_free_bytes=min_free,
        capacity_source="storage" if free is not None else "",
        capacity_read_at=timezone.now(),
        capacity_error="" if free is not None else "read usage of RSE failed: RSENotFound",
    )


def test_the_api_gives_the_capacity_with_nulls_where_unknown(api_for, member, instance):
    with_capacity(instance, "CERN-EOS")
    with_capacity(instance, "DESY-DCACHE", free=None, min_free=None, used=None)
    known = api_for(member).get("/api/v1/rses/CERN-EOS/").json()["capacity"]
    assert set(known) == {
        "total_bytes",
        "used_bytes",
        "free_bytes",
        "min_free_bytes",
        "usable_bytes",
        "source",
        "read_at",
        "error",
    }
    assert known["total_bytes"] == 250 * TB
    assert known["used_bytes"] == 200 * TB
    assert known["free_bytes"] == 50 * TB
    assert known["min_free_bytes"] == 10 * TB
    assert known["usable_bytes"] == 40 * TB
    assert known["source"] == "storage"
    assert known["read_at"]
    assert known["error"] is None
    unknown = api_for(member).get("/api/v1/rses/DESY-DCACHE/").json()["capacity"]
    assert unknown["usable_bytes"] is None
    assert unknown["free_bytes"] is None
    assert unknown["total_bytes"] is None
    assert unknown["source"] is None
    assert "RSENotFound" in unknown["error"]
    never = RSE.objects.create(instance=instance, name="NEVER-READ")
    assert api_for(member).get(f"/api/v1/rses/{never.name}/").json()["capacity"]["read_at"] is None


def test_the_rse_list_and_page_show_decimal_units_and_unknown(client_for, member, instance):
    with_capacity(instance, "CERN-EOS")
    with_capacity(instance, "DESY-DCACHE", free=None, min_free=None, used=None)
    listing = client_for(member).get("/qos/rses/").content.decode()
    assert "Usable" in listing
    assert "40 TB" in listing
    assert "unknown" in listing
    page = client_for(member).get("/qos/rses/CERN-EOS/").content.decode()
    for shown in ("40 TB", "50 TB", "10 TB", "200 TB", "250 TB", "from storage"):
        assert shown in page
    unknown_page = client_for(member).get("/qos/rses/DESY-DCACHE/").content.decode()
    assert "Capacity unknown: read usage of RSE failed: RSENotFound" in unknown_page
    assert " 0 B" not in unknown_page


def test_bytes_in_decimal_units():
    assert bytes_si(None) == "unknown"
    assert bytes_si(0) == "0 B"
    assert bytes_si(1500) == "1.5 kB"
    assert bytes_si(40 * TB) == "40 TB"
    assert bytes_si(123_456_789_012) == "123 GB"
    assert bytes_si(-5 * TB) == "-5 TB"  # below MinFreeSpace: less than nothing to spare


def count_queries(client, url):
    client.get(url)
    with CaptureQueriesContext(connection) as queries:
        assert client.get(url).status_code == 200
    return len(queries)


@pytest.mark.parametrize("url", ["/qos/rses/", "/api/v1/rses/"])
def test_the_rse_lists_queries_do_not_grow_with_rses_that_have_a_capacity(
    client_for, api_for, member, instance, url
):
    client = api_for(member) if url.startswith("/api/") else client_for(member)
    for n in range(5):
        with_capacity(instance, f"SITE-{n:04d}")
    few = count_queries(client, url)
    for n in range(5, 300):
        with_capacity(instance, f"SITE-{n:04d}", free=None if n % 2 else 7 * TB)
    assert count_queries(client, url) == few


def test_the_sql_usable_space_agrees_with_the_python_one(instance):
    with_capacity(instance, "CERN-EOS")
    with_capacity(instance, "DESY-DCACHE", free=None, min_free=None, used=None)
    with_capacity(instance, "PIC-DCACHE", min_free=None)
    with_capacity(instance, "INFN-NA", free=5 * TB, min_free=10 * TB)  # less free than Rucio keeps
    in_sql = dict(RSE.objects.with_usable().values_list("name", "usable"))
    assert in_sql == {rse.name: rse.usable_bytes for rse in RSE.objects.all()}
    assert in_sql == {"CERN-EOS": 40 * TB, "DESY-DCACHE": None, "PIC-DCACHE": 50 * TB, "INFN-NA": -5 * TB}
