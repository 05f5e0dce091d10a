"""Coverage counts space, read from a real Rucio: usage and limits are set with an admin rucio-clients session,
as a site (its storage report) or an admin (MinFreeSpace) would, and the portal learns them from its RSE sync."""

from __future__ import annotations

from decimal import Decimal

import pytest

from engagement.models import Requirement
from qos.models import RSE
from qos.rucio_gateway.sync import deliver, sync_rses
from tests.qos.conftest import rucio_instance  # noqa: F401 - the session's Rucio as a portal instance

pytestmark = pytest.mark.django_db

TB = 10**12


def report_usage(client, names: list[str], free: int) -> None:
    for name in names:
        client.set_rse_usage(name, "storage", used=100 * TB, free=free)
        client.set_rse_limits(name, "MinFreeSpace", 5 * TB)


def test_40_tb_on_2_x_safe_is_short_of_space_until_the_rses_free_space_grows_and_the_sync_runs(
    rucio_instance,  # noqa: F811
    make_rse,
    rucio_admin_client,
    catalogue,
    cta_requirement,
    admin,
    client_for,
    member,
):
    names = [make_rse("SAFESPACE"), make_rse("SAFESPACE")]
    # 15 TB free, of which Rucio keeps 5 TB: 10 TB usable on each.
    report_usage(rucio_admin_client, names, free=15 * TB)
    sync_rses(rucio_instance)
    deliver([push.pk for push in RSE.objects.filter(name__in=names).assign(catalogue["SAFE"], by=admin)])
    assert set(RSE.objects.filter(name__in=names).values_list("sync_state", flat=True)) == {"in_sync"}
    Requirement.objects.filter(pk=cta_requirement.pk).update(volume_tb=Decimal(40))
    requirement = Requirement.objects.get(pk=cta_requirement.pk)
    requirement.take("accept", by=admin)
    requirement.link_class(catalogue["SAFE"], by=admin, copies=2)

    (safe,) = requirement.coverage()
    assert safe.usable == (10 * TB, 10 * TB)
    assert (safe.available, safe.short_by, safe.fits, safe.short_of_space_bytes) == (2, 0, False, 60 * TB)
    assert requirement.coverage_at_risk
    assert [r.pk for r in Requirement.objects.coverage_at_risk()] == [requirement.pk]
    page = client_for(member).get("/requirements/coverage/").content.decode()
    assert "60 TB short of space" in page

    # The sites free space; the portal knows it after its next sync.
    report_usage(rucio_admin_client, names, free=50 * TB)
    assert not Requirement.objects.get(pk=requirement.pk).coverage()[0].covered
    sync_rses(rucio_instance)
    requirement = Requirement.objects.get(pk=requirement.pk)
    (safe,) = requirement.coverage()
    assert safe.usable == (45 * TB, 45 * TB)
    assert (safe.fits, safe.covered, safe.short_of_space_bytes) == (True, True, 0)
    assert not requirement.coverage_at_risk
    assert not Requirement.objects.coverage_at_risk().exists()
    assert "No coverage at risk" in client_for(member).get("/requirements/coverage/").content.decode()
