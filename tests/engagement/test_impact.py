"""What the catalogue's changes would do to the requirements, shown before they are made: the volume committed
on a class against its RSEs' space, and what a proposal awaiting approval would start or stop matching."""

# ruff: noqa: F811 - the fixtures imported from test_coverage are arguments of the tests
from __future__ import annotations

from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from engagement.models import ClassLink, Requirement
from qos.demo import DEMO_CLASSES
from qos.models import RSE, StorageQoSClass

from .conftest import ARCHIVE_NEEDS
from .test_coverage import TB, accept, instance, make_rse  # noqa: F401 - fixtures

pytestmark = pytest.mark.django_db

# Disk, one copy, kept for good: SAFE (tape) does not fit it today; SAFE as disk + tape would.
DISK_NEEDS = {
    **ARCHIVE_NEEDS,
    "title": "Disk mirror of the event lists",
    "storage_media": "disk",
    "copies": 1,
}


def commitment_of(page: str) -> str:
    start = page.index('class="card class-commitment"')
    return page[start : page.index("</section>", start)]


def committed(requirement: Requirement, volume: int, admin, catalogue, links: dict[str, int]) -> Requirement:
    Requirement.objects.filter(pk=requirement.pk).update(volume_tb=Decimal(volume))
    return accept(Requirement.objects.get(pk=requirement.pk), admin, links, catalogue)


# --- the class page: committed volume against usable space ----------------------------------------------------
def test_the_class_page_shows_committed_volume_against_usable_space_and_flags_over_commitment(
    client_for, member, admin, cta_requirement, ska_requirement, catalogue, make_rse
):
    committed(cta_requirement, 40, admin, catalogue, {"SAFE": 2})
    committed(ska_requirement, 10, admin, catalogue, {"SAFE": 1, "FAST": 1})
    make_rse("CERN-EOS", catalogue["SAFE"], usable=30 * TB)
    make_rse("DESY-DCACHE", catalogue["SAFE"], usable=20 * TB)
    make_rse("PIC-DCACHE", catalogue["SAFE"], usable=99 * TB, state="drifted")  # places nothing now
    client = client_for(member)
    panel = commitment_of(client.get("/qos/SAFE/").content.decode())
    # 40 TB x 2 + 10 TB x 1 = 90 TB, on 30 + 20 = 50 TB usable.
    assert "2 accepted or satisfied requirements linked to it commit <strong>90 TB</strong>" in panel
    assert "its 2 RSEs in sync have <strong>50 TB</strong> usable" in panel
    assert ">over-committed by 40 TB</span>" in panel
    RSE.objects.filter(name="DESY-DCACHE").update(capacity_free_bytes=70 * TB)
    panel = commitment_of(client.get("/qos/SAFE/").content.decode())
    assert ">within its usable space</span>" in panel


def test_an_unknown_capacity_makes_the_commitment_unknown_not_over_nor_within(
    client_for, member, admin, cta_requirement, catalogue, make_rse
):
    committed(cta_requirement, 40, admin, catalogue, {"SAFE": 2})
    make_rse("CERN-EOS", catalogue["SAFE"], usable=30 * TB)
    make_rse("DESY-DCACHE", catalogue["SAFE"], usable=None)
    panel = commitment_of(client_for(member).get("/qos/SAFE/").content.decode())
    assert "<strong>30 TB</strong> usable, and 1 of unknown capacity (DESY-DCACHE)" in panel
    assert ">unknown</span>" in panel and "50 TB more committed than the known usable space" in panel
    assert "over-committed" not in panel and "within its usable space" not in panel


def test_a_class_without_rses_or_commitment_says_nothing_committed(client_for, member, catalogue):
    panel = commitment_of(client_for(member).get("/qos/FAST/").content.decode())
    assert "0 accepted or satisfied requirements linked to it commit <strong>0 B</strong>" in panel
    assert "its 0 RSEs in sync have <strong>0 B</strong> usable" in panel


# --- what a proposal would change ------------------------------------------------------------------------------
@pytest.fixture
def proposal(admin, catalogue, cta_requirement, liaison_cta, experiments):
    """A change to SAFE awaiting approval: disk + tape, one copy. CTA's raw data (2 copies, tape) stops
    matching it; a disk requirement of one copy starts."""
    disk = Requirement.objects.file(by=liaison_cta, experiment=experiments["CTA"], **DISK_NEEDS)
    safe = catalogue["SAFE"]
    safe.edit(by=admin, changes={"storage_media": "disk+tape", "copies": 1}, base_revision=safe.revision)
    return StorageQoSClass.objects.get(pk=safe.pk), disk


def test_the_impact_of_a_proposal_lists_the_requirements_it_would_gain_and_lose(
    client_for, api_for, member, admin, admin2, proposal, cta_requirement, catalogue
):
    safe, disk = proposal
    cta_requirement.link_class(catalogue["SAFE"], by=admin, copies=2)
    body = api_for(member).get("/api/v1/qos-classes/SAFE/impact/").json()
    assert (body["qos_class"], body["revision"]) == ("SAFE", safe.revision)
    assert [(r["experiment"], r["title"]) for r in body["starts_matching"]] == [("CTA", disk.title)]
    assert [(r["title"], r["linked"]) for r in body["stops_matching"]] == [(cta_requirement.title, True)]
    assert body["stops_matching"][0]["url"].endswith(f"/api/v1/requirements/{cta_requirement.pk}/")
    assert body["coverage_changes"] == []  # a change to an approved class moves no RSE
    for page in (
        client_for(member).get("/qos/SAFE/").content.decode(),
        client_for(admin2).get("/qos/SAFE/approve/").content.decode(),
    ):
        section = page[page.index('class="card proposal-impact"') :]
        assert "Would start matching" in section and disk.title in section
        assert "Would stop matching" in section and cta_requirement.title in section
        assert 'title="Linked by hand: it stays linked">linked</span>' in section


def test_a_requirement_no_longer_active_is_not_in_the_impact(api_for, member, proposal, cta_requirement):
    cta_requirement.take("withdraw", by=cta_requirement.filed_by)
    body = api_for(member).get("/api/v1/qos-classes/SAFE/impact/").json()
    assert body["stops_matching"] == []


def test_a_new_class_planned_on_rses_shows_the_coverage_its_approval_changes(
    api_for, member, admin, catalogue, cta_requirement, make_rse
):
    committed(cta_requirement, 40, admin, catalogue, {"SAFE": 2})
    cern = make_rse("CERN-EOS", catalogue["SAFE"], usable=50 * TB)
    make_rse("DESY-DCACHE", catalogue["SAFE"], usable=50 * TB)
    new = StorageQoSClass.objects.create_draft(
        by=admin, **{**DEMO_CLASSES[0], "label": "NEW-TAPE", "title": "New tape"}
    )
    new.propose(by=admin)
    RSE.objects.filter(pk=cern.pk).assign(new, by=admin)
    body = api_for(member).get("/api/v1/qos-classes/NEW-TAPE/impact/").json()
    (change,) = body["coverage_changes"]
    assert (change["qos_class"], change["copies"], change["leaving"], change["breaks"]) == (
        "SAFE",
        2,
        ["CERN-EOS"],
        True,
    )
    assert (change["before"]["fits"], change["after"]["fits"], change["after"]["short_by"]) == (
        True,
        False,
        1,
    )
    # Not approved yet, it matches nothing now: whatever it fits, it would start matching.
    assert cta_requirement.title not in [r["title"] for r in body["stops_matching"]]


def test_without_a_proposal_the_impact_is_not_found_and_the_page_shows_none(
    client_for, api_for, member, catalogue
):
    response = api_for(member).get("/api/v1/qos-classes/SAFE/impact/")
    assert response.status_code == 404
    assert response.json() == {"detail": "Nothing awaits approval on SAFE: there is no proposal to weigh."}
    assert api_for(member).get("/api/v1/qos-classes/NOPE/impact/").status_code == 404
    assert "proposal-impact" not in client_for(member).get("/qos/SAFE/").content.decode()


def test_only_readers_of_classes_and_requirements_see_an_impact(api_for, outsider, proposal):
    assert api_for(outsider).get("/api/v1/qos-classes/SAFE/impact/").status_code == 403


def test_the_class_page_and_the_impact_do_not_grow_with_requirements_and_rses(
    client_for, api_for, member, admin, liaison_cta, experiments, proposal, catalogue, make_rse
):
    def grow(start: int, count: int) -> None:
        for i in range(start, start + count):
            requirement = Requirement.objects.create(
                experiment=experiments["CTA"],
                title=f"R{i}",
                volume_tb=Decimal(i + 1),
                status="accepted" if i % 2 else "filed",
                **{k: v for k, v in ARCHIVE_NEEDS.items() if k not in ("title", "volume_tb")},
            )
            ClassLink.objects.create(requirement=requirement, qos_class=catalogue["SAFE"], copies=2)
            if i % 2 == 0:  # up to 22 RSEs: the page lists 25 before it also counts them (one more query)
                make_rse(f"SITE-{i:03d}", catalogue["SAFE"], usable=None if i % 3 else i * TB)

    def queries(client, url: str) -> int:
        client.get(url)
        with CaptureQueriesContext(connection) as captured:
            assert client.get(url).status_code == 200
        return len(captured)

    urls = [(client_for(member), "/qos/SAFE/"), (api_for(member), "/api/v1/qos-classes/SAFE/impact/")]
    grow(0, 3)
    few = [queries(client, url) for client, url in urls]
    grow(3, 40)
    assert [queries(client, url) for client, url in urls] == few
    body = api_for(member).get("/api/v1/qos-classes/SAFE/impact/").json()
    assert len(body["stops_matching"]) == 44  # the 43 and CTA's raw data
