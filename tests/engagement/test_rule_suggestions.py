"""The replication rule offered for each class linked to a requirement (engagement/rules.py): the command, the
RSEs its expression selects now by the portal's knowledge, and whether each has room for a copy."""

from __future__ import annotations

import html

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from qos.models import RSE, RucioInstance
from qos.rucio_gateway import RucioGateway

pytestmark = pytest.mark.django_db

TB = 10**12


@pytest.fixture
def instance(db):
    return RucioInstance.objects.create(name="escape", host="https://rucio.escape.invalid")


def rse(instance, name, qos_class, *, usable_tb=None, state="in_sync", **fields):
    """An RSE carrying ``qos_class`` with ``usable_tb`` of usable space (None: unknown)."""
    capacity = {}
    if usable_tb is not None:
        capacity = {"capacity_free_bytes": (usable_tb + 10) * TB, "capacity_min_free_bytes": 10 * TB}
    return RSE.objects.create(
        instance=instance,
        name=name,
        qos_class=qos_class,
        sync_state=state,
        rucio_value=qos_class.label if qos_class and state == "in_sync" else None,
        rucio_attributes={"QOS": qos_class.label} if qos_class and state == "in_sync" else {},
        **capacity,
        **fields,
    )


@pytest.fixture
def safe_archive(cta_requirement, catalogue, admin, instance):
    """CTA's 500 TB archive, 2 x SAFE, and RSEs of every kind."""
    cta_requirement.link_class(catalogue["SAFE"], by=admin, copies=2)
    safe = catalogue["SAFE"]
    rse(instance, "AMPLE-SAFE", safe, usable_tb=600)
    rse(instance, "SMALL-SAFE", safe, usable_tb=100)
    rse(instance, "UNKNOWN-SAFE", safe)
    rse(instance, "PENDING-SAFE", safe, usable_tb=900, state="pending")
    rse(instance, "FAST-ONLY", catalogue["FAST"], usable_tb=900)
    rse(instance, "GONE-SAFE", safe, usable_tb=900, missing_in_rucio=True)
    return cta_requirement


@pytest.fixture
def no_rucio(monkeypatch):
    """The requirement page asks Rucio nothing: any request through the gateway fails the test."""

    def refuse(self, *args, **kwargs):
        raise AssertionError("the requirement page called Rucio")

    monkeypatch.setattr(RucioGateway, "_call", refuse)


def test_the_requirement_page_offers_the_rule_with_the_rses_it_selects_now_and_their_room(
    client_for, liaison_cta, safe_archive, no_rucio
):
    page = client_for(liaison_cta).get(safe_archive.get_absolute_url())
    assert page.status_code == 200
    [rule] = page.context["rules"]
    assert rule.command == 'rucio rule add --copies 2 --rses "QOS=SAFE" <scope>:<name>'
    rooms = {line.rse.name: line.room for line in rule.selected}
    # Not FAST-ONLY (another class), not GONE-SAFE (Rucio no longer lists it).
    assert rooms == {"AMPLE-SAFE": True, "SMALL-SAFE": False, "UNKNOWN-SAFE": None, "PENDING-SAFE": True}
    # In sync with room: AMPLE only (PENDING is not in Rucio yet); UNKNOWN might be the second copy.
    assert (rule.with_room, rule.room_unknown, rule.placeable) == (1, 1, None)
    text = html.unescape(page.content.decode())
    assert 'rucio rule add --copies 2 --rses "QOS=SAFE" <scope>:<name>' in text
    assert "room unknown" in text
    assert "/qos/rse-expression/?expression=QOS%3DSAFE&instance=escape" in text


def test_a_rule_with_enough_rses_with_room_can_be_placed_and_one_without_cannot(
    client_for, member, safe_archive, catalogue, instance, no_rucio
):
    rse(instance, "SECOND-AMPLE", catalogue["SAFE"], usable_tb=500)  # exactly the volume: room
    [rule] = client_for(member).get(safe_archive.get_absolute_url()).context["rules"]
    assert (rule.with_room, rule.placeable) == (2, True)
    RSE.objects.filter(name__in=["SECOND-AMPLE", "AMPLE-SAFE"]).update(capacity_free_bytes=1 * TB)
    [rule] = client_for(member).get(safe_archive.get_absolute_url()).context["rules"]
    assert (rule.with_room, rule.placeable) == (0, False)
    assert "cannot be placed now" in client_for(member).get(safe_archive.get_absolute_url()).content.decode()


def test_a_class_no_rse_carries_gives_a_rule_that_selects_none(
    client_for, member, cta_requirement, catalogue, admin, instance
):
    cta_requirement.link_class(catalogue["FAST"], by=admin)
    page = client_for(member).get(cta_requirement.get_absolute_url())
    [rule] = page.context["rules"]
    assert rule.selected == ()
    assert "the rule would select none" in page.content.decode()


def test_without_a_linked_class_there_is_no_rule(client_for, member, cta_requirement, instance):
    page = client_for(member).get(cta_requirement.get_absolute_url())
    assert page.context["rules"] == []
    assert "Replication rules" not in page.content.decode()


def queries(client, url):
    client.get(url)
    with CaptureQueriesContext(connection) as captured:
        assert client.get(url).status_code == 200
    return len(captured)


def test_the_rules_do_not_grow_the_requirement_pages_queries_with_rses(
    client_for, member, safe_archive, catalogue, instance
):
    client, url = client_for(member), safe_archive.get_absolute_url()
    few = queries(client, url)
    for n in range(100):
        rse(instance, f"SITE-{n:03d}", catalogue["SAFE"], usable_tb=n)
    assert queries(client, url) == few
