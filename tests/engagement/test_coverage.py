"""Coverage: copies wanted per linked class against the RSEs in sync that advertise it, and the warning shown
before a change takes RSEs away from a class an accepted requirement counts on."""

from __future__ import annotations

import datetime
import re
from decimal import Decimal

import pytest
from django.contrib.messages import get_messages
from django.core.exceptions import ValidationError
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from engagement import demo
from engagement.coverage import breaks_if_assigned, count_at_risk, requirements_broken_by
from engagement.models import ClassLink, Requirement
from portal import demo as portal_demo
from qos import demo as qos_demo
from qos.demo import DEMO_CLASSES
from qos.models import RSE, Push, RucioInstance, StorageQoSClass

from .conftest import ARCHIVE_NEEDS

pytestmark = pytest.mark.django_db

TIMES = "\N{MULTIPLICATION SIGN}"  # as pages write 2 x SAFE


@pytest.fixture
def instance(db):
    return RucioInstance.objects.create(name="escape", host="https://rucio.escape.invalid")


TB = 10**12
PLENTY = 2000 * TB  # room for a copy of any requirement of these tests (the largest wants 500 TB)


@pytest.fixture
def make_rse(instance):
    """An RSE carrying ``qos_class``; in sync (Rucio holds the label) unless told otherwise, with ``usable``
    bytes of usable space (None: unknown capacity; plenty unless told otherwise)."""

    def make(
        name: str,
        qos_class: StorageQoSClass | None,
        state: str = "in_sync",
        missing: bool = False,
        usable: int | None = PLENTY,
        min_free: int | None = None,
    ):
        return RSE.objects.create(
            instance=instance,
            name=name,
            qos_class=qos_class,
            rucio_value=qos_class.label if qos_class and state == "in_sync" else None,
            sync_state=state,
            missing_in_rucio=missing,
            last_read_at=timezone.now(),
            capacity_free_bytes=None if usable is None else usable + (min_free or 0),
            capacity_min_free_bytes=min_free,
        )

    return make


def accept(requirement: Requirement, admin, links: dict[str, int], catalogue: dict) -> Requirement:
    requirement.take("accept", by=admin)
    for label, copies in links.items():
        requirement.link_class(catalogue[label], by=admin, copies=copies)
    return requirement


@pytest.fixture
def accepted(cta_requirement, admin, catalogue):
    """CTA's raw data, accepted with 2 x SAFE + 1 x FAST (FAIR's raw data asked the same)."""
    return accept(cta_requirement, admin, {"SAFE": 2, "FAST": 1}, catalogue)


def messages_of(response) -> list[str]:
    return [str(message) for message in get_messages(response.wsgi_request)]


def coverage(requirement: Requirement) -> dict[str, tuple[int, tuple[str, ...], int]]:
    return {line.qos_class.label: (line.wanted, line.rses, line.short_by) for line in requirement.coverage()}


# --- what counts ----------------------------------------------------------------------------------------
def test_coverage_counts_only_the_rses_in_sync_that_advertise_the_class(accepted, catalogue, make_rse):
    safe, fast = catalogue["SAFE"], catalogue["FAST"]
    make_rse("CERN-EOS", safe)
    make_rse("DESY-DCACHE", safe, state="pending")
    make_rse("PIC-DCACHE", safe, state="drifted")
    make_rse("INFN-NA", safe, state="failed")
    make_rse("LAPP-DCACHE", safe, state="unknown")
    make_rse("GONE-SE", safe, missing=True)
    make_rse("CNAF-STORM", fast)
    make_rse("SARA-DCACHE", catalogue["CHEAP-ANALYSIS"])
    make_rse("NO-CLASS", None)
    assert coverage(accepted) == {"FAST": (1, ("CNAF-STORM",), 0), "SAFE": (2, ("CERN-EOS",), 1)}


def test_a_deprecated_class_still_counts_and_a_retired_one_does_not(accepted, catalogue, make_rse):
    make_rse("CERN-EOS", catalogue["SAFE"])
    make_rse("DESY-DCACHE", catalogue["SAFE"])
    # Deprecation keeps the label on the RSEs in Rucio; retirement removes it.
    StorageQoSClass.objects.filter(label="SAFE").update(status="deprecated")
    assert coverage(accepted)["SAFE"] == (2, ("CERN-EOS", "DESY-DCACHE"), 0)
    StorageQoSClass.objects.filter(label="SAFE").update(status="retired")
    assert coverage(accepted)["SAFE"] == (2, (), 2)


def test_two_copies_on_safe_with_one_rse_in_sync_is_short_by_one(accepted, catalogue, make_rse):
    make_rse("CERN-EOS", catalogue["SAFE"])
    make_rse("CNAF-STORM", catalogue["FAST"])
    (fast, safe) = accepted.coverage()
    assert (safe.wanted, safe.available, safe.short_by, safe.covered) == (2, 1, 1, False)
    assert fast.covered
    assert accepted.coverage_at_risk
    make_rse("DESY-DCACHE", catalogue["SAFE"])
    (fast, safe) = accepted.coverage()
    assert (safe.available, safe.short_by, safe.covered) == (2, 0, True)
    assert not Requirement.objects.get(pk=accepted.pk).coverage_at_risk


def test_only_accepted_or_satisfied_requirements_are_at_risk(
    cta_requirement, ska_requirement, admin, catalogue, make_rse
):
    make_rse("CERN-EOS", catalogue["SAFE"])
    # Under review, linked and short: coverage is shown, but nothing was agreed yet.
    ska_requirement.take("review", by=admin)
    ska_requirement.link_class(catalogue["SAFE"], by=admin, copies=2)
    assert ska_requirement.coverage()[0].short_by == 1
    assert not ska_requirement.coverage_at_risk
    accept(cta_requirement, admin, {"SAFE": 2}, catalogue)
    cta_requirement.take("satisfy", by=admin)
    assert list(Requirement.objects.coverage_at_risk()) == [cta_requirement]
    assert cta_requirement.coverage_at_risk


def test_the_database_flag_agrees_with_the_explained_coverage(
    liaison_cta, experiments, admin, catalogue, make_rse
):
    make_rse("CERN-EOS", catalogue["SAFE"])
    make_rse("DESY-DCACHE", catalogue["SAFE"])
    make_rse("PIC-DCACHE", catalogue["SAFE"], state="drifted")
    make_rse("CNAF-STORM", catalogue["FAST"])
    cases = [{}, {"SAFE": 1}, {"SAFE": 2}, {"SAFE": 3}, {"FAST": 1}, {"FAST": 2}, {"SAFE": 2, "FAST": 2}]
    cases += [{"CHEAP-ANALYSIS": 1}, {"SAFE": 2, "FAST": 1}, {"OPPORTUNISTIC": 10}]
    for i, links in enumerate(cases):
        requirement = Requirement.objects.file(
            by=liaison_cta, experiment=experiments["CTA"], **{**ARCHIVE_NEEDS, "title": f"Case {i}"}
        )
        accept(requirement, admin, links, catalogue)
    flags = dict(Requirement.objects.with_coverage_flag().values_list("title", "coverage_short"))
    for requirement in Requirement.objects.all():
        explained = any(not line.covered for line in requirement.coverage())
        assert flags[requirement.title] == explained, requirement.title
    assert sorted(r.title for r in Requirement.objects.coverage_at_risk()) == [
        "Case 3",
        "Case 5",
        "Case 6",
        "Case 7",
        "Case 9",
    ]


# --- space: each copy needs an RSE with usable space for the requirement's volume ------------------------------
@pytest.fixture
def archive_40tb(cta_requirement, admin, catalogue):
    """CTA's raw data, 40 TB, accepted with 2 x SAFE."""
    Requirement.objects.filter(pk=cta_requirement.pk).update(volume_tb=Decimal(40))
    cta_requirement.refresh_from_db()
    return accept(cta_requirement, admin, {"SAFE": 2}, catalogue)


def flag_of(requirement: Requirement) -> bool:
    return Requirement.objects.with_coverage_flag().get(pk=requirement.pk).coverage_short


def test_two_copies_of_40_tb_on_rses_with_10_tb_usable_are_short_of_space(archive_40tb, catalogue, make_rse):
    make_rse("CERN-EOS", catalogue["SAFE"], usable=10 * TB)
    make_rse("DESY-DCACHE", catalogue["SAFE"], usable=10 * TB)
    (safe,) = archive_40tb.coverage()
    assert (safe.available, safe.short_by, safe.rses_with_room, safe.fits) == (2, 0, 0, False)
    assert safe.short_of_space_bytes == 60 * TB  # 30 TB more on each of the two
    assert safe.verdict == "60 TB short of space"
    assert archive_40tb.coverage_at_risk and flag_of(archive_40tb)
    assert count_at_risk() == 1
    # One RSE grows: one copy fits, the other is still 30 TB short.
    RSE.objects.filter(name="CERN-EOS").update(capacity_free_bytes=40 * TB)
    (safe,) = archive_40tb.coverage()
    assert (safe.rses_with_room, safe.short_of_space_bytes, safe.verdict) == (
        1,
        30 * TB,
        "30 TB short of space",
    )
    RSE.objects.filter(name="DESY-DCACHE").update(capacity_free_bytes=41 * TB)
    (safe,) = archive_40tb.coverage()
    assert (safe.fits, safe.covered, safe.short_of_space_bytes, safe.verdict) == (True, True, 0, "covered")
    assert not flag_of(archive_40tb) and count_at_risk() == 0


def test_min_free_space_is_subtracted_from_the_free_space(archive_40tb, catalogue, make_rse):
    # 45 TB free, but Rucio keeps 10 TB free: 35 TB usable, short of a 40 TB copy.
    make_rse("CERN-EOS", catalogue["SAFE"], usable=35 * TB, min_free=10 * TB)
    make_rse("DESY-DCACHE", catalogue["SAFE"], usable=50 * TB, min_free=10 * TB)
    assert RSE.objects.get(name="CERN-EOS").capacity_free_bytes == 45 * TB
    (safe,) = archive_40tb.coverage()
    assert (safe.rses_with_room, safe.short_of_space_bytes) == (1, 5 * TB)
    assert flag_of(archive_40tb)


def test_an_unknown_capacity_makes_the_coverage_unknown_not_short_nor_covered(
    client_for, api_for, member, archive_40tb, catalogue, make_rse
):
    make_rse("CERN-EOS", catalogue["SAFE"], usable=50 * TB)
    make_rse("DESY-DCACHE", catalogue["SAFE"], usable=None)
    (safe,) = archive_40tb.coverage()
    assert (safe.fits, safe.covered, safe.short, safe.short_of_space_bytes) == (None, False, False, None)
    assert safe.space_unknown == ("DESY-DCACHE",)
    assert safe.verdict == "space unknown"
    assert not archive_40tb.coverage_at_risk and not flag_of(archive_40tb) and count_at_risk() == 0
    page = client_for(member).get(f"/requirements/{archive_40tb.pk}/").content.decode()
    section = page[page.index('id="coverage"') :]
    assert "<code>DESY-DCACHE</code></a> (unknown)" in section
    assert "<code>CERN-EOS</code></a> (50 TB)" in section
    assert ">space unknown</span>" in section
    assert "1 with room for a copy, 1 unknown" in section
    listed = client_for(member).get("/requirements/").content.decode()
    assert ">space unknown</span>" in listed
    line = api_for(member).get(f"/api/v1/requirements/{archive_40tb.pk}/").json()["coverage"][0]
    assert (line["fits"], line["covered"], line["short_of_space_bytes"]) == (None, False, None)
    assert line["space"] == [
        {"name": "CERN-EOS", "usable_bytes": 50 * TB},
        {"name": "DESY-DCACHE", "usable_bytes": None},
    ]
    # An unknown capacity cannot save a requirement already short: two copies, one RSE unknown, one too small.
    RSE.objects.filter(name="CERN-EOS").update(capacity_free_bytes=10 * TB)
    RSE.objects.filter(name="DESY-DCACHE").update(qos_class=catalogue["FAST"])
    make_rse("PIC-DCACHE", catalogue["SAFE"], usable=None)
    (safe,) = archive_40tb.coverage()
    assert (safe.fits, safe.verdict) == (False, "30 TB short of space")  # at least: PIC's space is unknown


def test_pages_say_what_is_short_of_space_with_the_numbers(
    client_for, member, liaison_cta, archive_40tb, catalogue, make_rse
):
    make_rse("CERN-EOS", catalogue["SAFE"], usable=10 * TB)
    make_rse("DESY-DCACHE", catalogue["SAFE"], usable=50 * TB)
    client = client_for(member)
    detail = client.get(f"/requirements/{archive_40tb.pk}/").content.decode()
    assert "<code>SAFE</code> (2 for 2 copies, 30 TB short of space)" in detail
    assert "<code>CERN-EOS</code></a> (10 TB)" in detail
    for url in ("/requirements/", "/experiments/CTA/", "/requirements/coverage/"):
        page = client.get(url).content.decode()
        assert ">30 TB short of space</span>" in page, url
    # The dashboard: a liaison's rows, and the count of those at risk.
    assert ">30 TB short of space</span>" in client_for(liaison_cta).get("/").content.decode()
    assert (
        "1</span> accepted requirement short of RSEs in sync or of space" in client.get("/").content.decode()
    )
    coverage_page = client.get("/requirements/coverage/").content.decode()
    assert "CERN-EOS 10 TB, DESY-DCACHE 50 TB (2 of 2; 1 with room for 40 TB)" in coverage_page


def test_the_space_rule_in_sql_agrees_with_the_python_one(
    liaison_cta, experiments, admin, catalogue, make_rse
):
    make_rse("A-10", catalogue["SAFE"], usable=10 * TB)
    make_rse("B-40", catalogue["SAFE"], usable=40 * TB)
    make_rse("C-60", catalogue["SAFE"], usable=60 * TB, min_free=5 * TB)
    make_rse("D-NONE", catalogue["SAFE"], usable=None)
    make_rse("E-NEG", catalogue["FAST"], usable=-2 * TB, min_free=3 * TB)  # less free than Rucio keeps
    make_rse("F-UNKNOWN", catalogue["FAST"], usable=None)
    volumes = [Decimal("0.001"), Decimal(10), Decimal("39.999"), Decimal(40), Decimal("40.001"), Decimal(60)]
    cases = [{"SAFE": n} for n in (1, 2, 3, 4, 5)] + [
        {"FAST": 1},
        {"FAST": 2},
        {"FAST": 3},
        {"SAFE": 2, "FAST": 1},
    ]
    assert_sql_agrees_with_python(volumes, cases, liaison_cta, experiments["CTA"], admin, catalogue)


def assert_sql_agrees_with_python(volumes, cases, liaison, experiment, admin, catalogue) -> None:
    """Files and accepts a requirement per volume and linked classes, then checks that the SQL flag and the
    dashboard's count agree with the coverage explained in Python, and that some are short and some not."""
    for v, volume in enumerate(volumes):
        for c, links in enumerate(cases):
            requirement = Requirement.objects.file(
                by=liaison, experiment=experiment, **{**ARCHIVE_NEEDS, "title": f"V{v} C{c}"}
            )
            Requirement.objects.filter(pk=requirement.pk).update(volume_tb=volume)
            accept(Requirement.objects.get(pk=requirement.pk), admin, links, catalogue)
    flags = dict(Requirement.objects.with_coverage_flag().values_list("title", "coverage_short"))
    explained = {r.title: any(line.short for line in r.coverage()) for r in Requirement.objects.all()}
    assert flags == explained
    assert count_at_risk() == sum(explained.values())
    assert 0 < sum(explained.values()) < len(explained)


# --- linking a class with copies --------------------------------------------------------------------------
def test_an_admin_links_a_class_with_the_copies_wanted_in_it(client_for, admin, cta_requirement, catalogue):
    url = f"/requirements/{cta_requirement.pk}/classes/"
    response = client_for(admin).post(url, {"qos_class": "SAFE", "copies": "2", "note": "two sites"})
    assert response.status_code == 302
    assert messages_of(response) == ["SAFE linked to this requirement: 2 copies wanted in it."]
    link = ClassLink.objects.get()
    assert (link.qos_class.label, link.copies, link.note) == ("SAFE", 2, "two sites")
    page = client_for(admin).get(f"/requirements/{cta_requirement.pk}/").content.decode()
    assert f"<code>SAFE</code></a> {TIMES} 2" in page


@pytest.mark.parametrize(
    ("copies", "error"),
    [
        ("0", "At least one copy in the class."),
        ("11", "At most 10 copies in one class."),
        ("two", "A whole number of copies, from 1 to 10."),
    ],
)
def test_bad_copies_are_refused_and_nothing_is_linked(
    client_for, api_for, admin, cta_requirement, catalogue, copies, error
):
    url = f"/requirements/{cta_requirement.pk}/classes/"
    response = client_for(admin).post(url, {"qos_class": "SAFE", "copies": copies, "note": "kept"})
    assert response.status_code == 400
    page = response.content.decode()
    assert error in page
    assert 'value="kept"' in page  # the form keeps what was typed
    api = api_for(admin).post(
        f"/api/v1/requirements/{cta_requirement.pk}/link/", {"qos_class": "SAFE", "copies": copies}
    )
    assert api.status_code == 400
    assert api.json() == {"copies": [error]}
    assert not ClassLink.objects.exists()
    with pytest.raises(ValidationError, match=re.escape(error)):
        cta_requirement.link_class(
            catalogue["SAFE"], by=admin, copies=int(copies) if copies.isdigit() else copies
        )
    assert not ClassLink.objects.exists()


def test_linking_a_class_twice_says_how_many_copies_it_already_has(
    client_for, admin, cta_requirement, catalogue
):
    cta_requirement.link_class(catalogue["SAFE"], by=admin, copies=2)
    url = f"/requirements/{cta_requirement.pk}/classes/"
    response = client_for(admin).post(url, {"qos_class": "SAFE", "copies": "3"})
    assert "SAFE is already linked, with 2 copies: unlink it first" in response.content.decode()
    assert ClassLink.objects.get().copies == 2


def test_only_qos_admins_link_classes_with_copies(client_for, api_for, liaison_cta, member, cta_requirement):
    for user in (liaison_cta, member):
        page = client_for(user).post(
            f"/requirements/{cta_requirement.pk}/classes/", {"qos_class": "SAFE", "copies": "2"}
        )
        assert page.status_code == 403
        api = api_for(user).post(
            f"/api/v1/requirements/{cta_requirement.pk}/link/", {"qos_class": "SAFE", "copies": 2}
        )
        assert api.status_code == 403
    assert not ClassLink.objects.exists()


# --- pages ------------------------------------------------------------------------------------------------
def test_the_requirement_page_shows_each_class_wanted_available_rses_and_verdict(
    client_for, member, accepted, catalogue, make_rse
):
    make_rse("CERN-EOS", catalogue["SAFE"])
    make_rse("DESY-DCACHE", catalogue["SAFE"], state="pending")
    make_rse("CNAF-STORM", catalogue["FAST"])
    page = client_for(member).get(f"/requirements/{accepted.pk}/").content.decode()
    section = page[page.index('id="coverage"') :]
    assert "RSEs in sync advertising it" in section
    assert '<td data-label="Copies wanted">2</td>' in section
    assert "<code>CERN-EOS</code>" in section
    assert "DESY-DCACHE" not in section
    assert "short by 1" in section
    assert "covered" in section
    # Accepted and short: flagged at the top, with the class and the shortfall.
    assert "coverage at risk</span>" in page
    assert "Coverage at risk:" in page
    assert "<code>SAFE</code> (1 for 2 copies, short by 1)" in page


def test_a_requirement_not_yet_accepted_shows_its_coverage_without_the_alarm(
    client_for, member, cta_requirement, admin, catalogue, make_rse
):
    cta_requirement.link_class(catalogue["SAFE"], by=admin, copies=2)
    page = client_for(member).get(f"/requirements/{cta_requirement.pk}/").content.decode()
    assert "short by 2" in page
    assert "Coverage at risk" not in page
    assert "coverage at risk" not in page


def test_a_requirement_without_links_explains_coverage(client_for, member, cta_requirement):
    page = client_for(member).get(f"/requirements/{cta_requirement.pk}/").content.decode()
    assert "No class linked yet." in page


def test_the_experiment_page_and_the_list_show_coverage_and_flag_the_requirement(
    client_for, member, accepted, catalogue, make_rse
):
    make_rse("CERN-EOS", catalogue["SAFE"])
    make_rse("CNAF-STORM", catalogue["FAST"])
    for url in ("/experiments/CTA/", "/requirements/"):
        page = client_for(member).get(url).content.decode()
        assert "coverage at risk</span>" in page, url
        assert "short by 1</span>" in page, url
        assert ">covered</span>" in page, url
        assert f"<code>SAFE</code></a> {TIMES} 2" in page, url
    make_rse("DESY-DCACHE", catalogue["SAFE"])
    page = client_for(member).get("/experiments/CTA/").content.decode()
    assert "coverage at risk</span>" not in page
    assert "short by" not in page


def test_coverage_at_risk_page_filter_and_dashboard(client_for, member, accepted, ska_requirement, make_rse):
    make_rse("CERN-EOS", accepted.links.get(qos_class__label="SAFE").qos_class)
    client = client_for(member)
    page = client.get("/requirements/coverage/").content.decode()
    assert accepted.title in page
    assert ska_requirement.title not in page
    assert "CERN-EOS 2 PB (1 of 2)" in page
    assert "FAST</code>: none (0 of 1)" in page
    listed = client.get("/requirements/?at_risk=true").content.decode()
    assert accepted.title in listed and ska_requirement.title not in listed
    others = client.get("/requirements/?at_risk=false").content.decode()
    assert accepted.title not in others and ska_requirement.title in others
    dashboard = client.get("/").content.decode()
    assert "1</span> accepted requirement short of RSEs in sync" in dashboard


def test_no_coverage_at_risk_says_so(client_for, member, experiments):
    page = client_for(member).get("/requirements/coverage/").content.decode()
    assert "No coverage at risk" in page


def test_outsiders_see_no_coverage(client_for, api_for, outsider, accepted):
    assert client_for(outsider).get("/requirements/coverage/").status_code == 403
    assert api_for(outsider).get(f"/api/v1/requirements/{accepted.pk}/").status_code == 403


# --- API --------------------------------------------------------------------------------------------------
def test_the_api_gives_coverage_per_class_and_flags_the_requirement(
    api_for, member, accepted, catalogue, make_rse
):
    make_rse("DESY-DCACHE", catalogue["SAFE"])
    make_rse("CERN-EOS", catalogue["SAFE"])
    body = api_for(member).get(f"/api/v1/requirements/{accepted.pk}/").json()
    assert body["coverage"] == [
        {
            "qos_class": "FAST",
            "copies": 1,
            "rses": [],
            "available": 0,
            "covered": False,
            "short_by": 1,
            "volume_bytes": 500 * TB,
            "space": [],
            "rses_with_room": 0,
            "fits": False,
            "short_of_space_bytes": 0,
        },
        {
            "qos_class": "SAFE",
            "copies": 2,
            "rses": ["CERN-EOS", "DESY-DCACHE"],
            "available": 2,
            "covered": True,
            "short_by": 0,
            "volume_bytes": 500 * TB,
            "space": [
                {"name": "CERN-EOS", "usable_bytes": PLENTY},
                {"name": "DESY-DCACHE", "usable_bytes": PLENTY},
            ],
            "rses_with_room": 2,
            "fits": True,
            "short_of_space_bytes": 0,
        },
    ]
    assert body["coverage_at_risk"] is True
    assert [(link["qos_class"], link["copies"]) for link in body["linked_classes"]] == [
        ("FAST", 1),
        ("SAFE", 2),
    ]
    rows = api_for(member).get("/api/v1/requirements/?at_risk=true").json()["results"]
    assert [row["id"] for row in rows] == [accepted.pk]
    assert api_for(member).get("/api/v1/requirements/?at_risk=false").json()["results"] == []


def test_the_api_links_with_copies_and_defaults_to_one(api_for, admin, cta_requirement, catalogue):
    client = api_for(admin)
    url = f"/api/v1/requirements/{cta_requirement.pk}/link/"
    body = client.post(url, {"qos_class": "SAFE", "copies": 2}, format="json").json()
    assert body["coverage"][0] | {"rses": None} == {
        "qos_class": "SAFE",
        "copies": 2,
        "rses": None,
        "available": 0,
        "covered": False,
        "short_by": 2,
        "volume_bytes": 500 * TB,
        "space": [],
        "rses_with_room": 0,
        "fits": False,
        "short_of_space_bytes": 0,
    }
    client.post(url, {"qos_class": "FAST"}, format="json")
    assert dict(cta_requirement.links.values_list("qos_class__label", "copies")) == {"SAFE": 2, "FAST": 1}


# --- the warning before RSEs leave a class ---------------------------------------------------------------------
def plan_page(client, rses: list[str], label: str) -> str:
    response = client.post("/qos/rses/assign/", {"rses": rses, "qos_class": label})
    assert response.status_code == 200
    return response.content.decode()


def warning_of(page: str) -> str:
    """The coverage warning of a plan page ("" when there is none)."""
    if "coverage-breaks" not in page:
        return ""
    start = page.index('class="message warning coverage-breaks"')
    return page[start : page.index("</div>", start)]


def changes_of(page: str) -> str:
    """The table of coverage changes of a plan page ("" when there is none)."""
    if 'class="coverage-changes"' not in page:
        return ""
    start = page.index('class="coverage-changes"')
    return page[start : page.index("</section>", start)]


def test_the_plan_shows_every_coverage_change_with_rses_and_space_before_and_after(
    client_for, admin, archive_40tb, catalogue, make_rse
):
    make_rse("CERN-EOS", catalogue["SAFE"], usable=50 * TB)
    make_rse("DESY-DCACHE", catalogue["FAST"], usable=10 * TB)
    make_rse("PIC-DCACHE", catalogue["FAST"], usable=60 * TB)
    make_rse("LAPP-DCACHE", None, usable=None)
    client = client_for(admin)
    # DESY-DCACHE (10 TB usable) joins SAFE: two RSEs in sync, still one with room for 40 TB.
    page = plan_page(client, ["DESY-DCACHE"], "SAFE")
    table = changes_of(page)
    assert "1 → 2 <span" in table and "+ DESY-DCACHE" in table
    assert ">short by 1</span> → <span" in table
    assert ">30 TB short of space</span>" in table
    assert "Coverage at risk" not in page  # short before, and no shorter: not a break
    # PIC-DCACHE (60 TB usable) joins instead: covered once pushed.
    table = changes_of(plan_page(client, ["PIC-DCACHE"], "SAFE"))
    assert '>short by 1</span> → <span class="badge status-approved"' in table
    assert "With room for a copy" in table and "1 → 2" in table
    # An RSE of unknown capacity joining: coverage unknown, shown as such.
    table = changes_of(plan_page(client, ["LAPP-DCACHE"], "SAFE"))
    assert ">space unknown</span>" in table and "(1 unknown)" in table
    # Moving an RSE no requirement counts on changes no coverage: no table.
    assert changes_of(plan_page(client, ["DESY-DCACHE"], "CHEAP-ANALYSIS")) == ""


def test_the_api_assignment_plan_carries_the_coverage_changes_and_changes_nothing(
    api_for, admin, member, archive_40tb, catalogue, make_rse
):
    make_rse("CERN-EOS", catalogue["SAFE"], usable=50 * TB)
    make_rse("DESY-DCACHE", catalogue["SAFE"], usable=50 * TB)
    make_rse("PIC-DCACHE", catalogue["FAST"], usable=10 * TB)
    client = api_for(admin)
    body = client.post(
        "/api/v1/rses/plan/", {"rses": ["CERN-EOS", "PIC-DCACHE"], "qos_class": "FAST"}, format="json"
    ).json()
    assert body["qos_class"] == "FAST"
    assert [(row["name"], row["current"], row["after"], row["changes"]) for row in body["rses"]] == [
        ("CERN-EOS", "SAFE", "FAST", True),
        ("PIC-DCACHE", "FAST", "FAST", False),
    ]
    (change,) = body["consequences"]["coverage_changes"]
    assert change["requirement"]["title"] == archive_40tb.title
    assert (change["qos_class"], change["copies"], change["leaving"], change["arriving"]) == (
        "SAFE",
        2,
        ["CERN-EOS"],
        [],
    )
    assert (change["before"]["covered"], change["after"]["short_by"], change["breaks"]) == (True, 1, True)
    assert change["after"]["space"] == [{"name": "DESY-DCACHE", "usable_bytes": 50 * TB}]
    assert not Push.objects.exists()
    assert RSE.objects.get(name="CERN-EOS").qos_class.label == "SAFE"
    # Removing: the same; asking about nothing, or a retired class, is refused.
    body = client.post(
        "/api/v1/rses/plan/", {"rses": ["DESY-DCACHE"], "qos_class": None}, format="json"
    ).json()
    assert body["consequences"]["coverage_changes"][0]["leaving"] == ["DESY-DCACHE"]
    assert (
        client.post("/api/v1/rses/plan/", {"rses": [], "qos_class": "FAST"}, format="json").status_code == 400
    )
    assert (
        api_for(member)
        .post("/api/v1/rses/plan/", {"rses": ["CERN-EOS"], "qos_class": "FAST"}, format="json")
        .status_code
        == 403
    )


def test_taking_the_only_rse_with_room_away_breaks_on_space(
    client_for, admin, archive_40tb, catalogue, make_rse
):
    make_rse("CERN-EOS", catalogue["SAFE"], usable=50 * TB)
    make_rse("DESY-DCACHE", catalogue["SAFE"], usable=50 * TB)
    make_rse("PIC-DCACHE", catalogue["SAFE"], usable=10 * TB)
    page = plan_page(client_for(admin), ["CERN-EOS"], "FAST")
    assert (
        "3 RSEs in sync now, 2 after (CERN-EOS leaves SAFE): <strong>30 TB short of space</strong>."
        in warning_of(page)
    )


def test_the_assignment_plan_warns_when_an_accepted_requirement_would_be_short(
    client_for, admin, accepted, catalogue, make_rse
):
    make_rse("CERN-EOS", catalogue["SAFE"])
    make_rse("DESY-DCACHE", catalogue["SAFE"])
    make_rse("CNAF-STORM", catalogue["FAST"])
    page = plan_page(client_for(admin), ["CERN-EOS"], "CHEAP-ANALYSIS")
    assert "Coverage at risk:" in page
    assert f"CTA: {accepted.title}" in page
    assert (
        f"wants <code>SAFE</code> {TIMES} 2: 2 RSEs in sync now, 1 after (CERN-EOS leaves SAFE): "
        "<strong>short by 1</strong>." in page
    )
    # The warning comes before the button, and the admin may still confirm.
    assert page.index("Coverage at risk:") < page.index(">Confirm</button>")
    response = client_for(admin).post(
        "/qos/rses/assign/", {"rses": ["CERN-EOS"], "qos_class": "CHEAP-ANALYSIS", "confirm": "True"}
    )
    assert response.status_code == 302
    assert Push.objects.get().value == "CHEAP-ANALYSIS"


def test_unassigning_warns_too_and_names_every_class_left_short(
    client_for, admin, accepted, catalogue, make_rse
):
    make_rse("CERN-EOS", catalogue["SAFE"])
    make_rse("DESY-DCACHE", catalogue["SAFE"])
    make_rse("CNAF-STORM", catalogue["FAST"])
    page = plan_page(client_for(admin), ["CERN-EOS", "DESY-DCACHE", "CNAF-STORM"], "")
    assert "Remove the class" in page
    assert f"wants <code>FAST</code> {TIMES} 1: 1 RSE in sync now, 0 after (CNAF-STORM leaves FAST)" in page
    assert "(CERN-EOS, DESY-DCACHE leave SAFE): <strong>short by 2</strong>" in page


def test_no_warning_for_a_requirement_not_accepted_or_still_covered(
    client_for, admin, cta_requirement, ska_requirement, catalogue, make_rse
):
    for name in ("CERN-EOS", "DESY-DCACHE", "PIC-DCACHE"):
        make_rse(name, catalogue["SAFE"])
    make_rse("INFN-NA", catalogue["SAFE"], state="drifted")
    ska_requirement.link_class(catalogue["SAFE"], by=admin, copies=3)  # filed, not accepted
    accept(cta_requirement, admin, {"SAFE": 2}, catalogue)  # three in sync: one may go
    client = client_for(admin)
    assert "Coverage at risk" not in plan_page(client, ["CERN-EOS"], "FAST")
    # An RSE that is not in sync places nothing now: its leaving changes no coverage.
    assert "Coverage at risk" not in plan_page(client, ["INFN-NA", "CERN-EOS"], "FAST")
    # Giving an RSE the class it already has moves nothing.
    assert "Coverage at risk" not in plan_page(client, ["CERN-EOS", "DESY-DCACHE"], "SAFE")
    page = plan_page(client, ["CERN-EOS", "DESY-DCACHE"], "FAST")
    assert warning_of(page).count("<li>") == 1
    assert f"CTA: {cta_requirement.title}" in warning_of(page)
    assert ska_requirement.title not in warning_of(page)
    # Not accepted, it is not warned of; its coverage changes all the same, and the plan says so.
    assert ska_requirement.title in changes_of(page)


def test_planning_a_draft_class_on_rses_moves_nothing_yet(client_for, admin, accepted, catalogue, make_rse):
    make_rse("CERN-EOS", catalogue["SAFE"])
    make_rse("DESY-DCACHE", catalogue["SAFE"])
    StorageQoSClass.objects.create(label="NEW-TAPE", title="New tape", status="draft")
    page = plan_page(client_for(admin), ["CERN-EOS"], "NEW-TAPE")
    assert "planned now, pushed to Rucio once approved" in page
    assert "Coverage at risk" not in page


def test_approving_a_class_planned_on_rses_of_another_warns(
    client_for, admin, admin2, accepted, catalogue, make_rse
):
    cern = make_rse("CERN-EOS", catalogue["SAFE"])
    make_rse("DESY-DCACHE", catalogue["SAFE"])
    new = StorageQoSClass.objects.create_draft(
        by=admin, **{**DEMO_CLASSES[0], "label": "NEW-TAPE", "title": "New tape"}
    )
    new.propose(by=admin)
    RSE.objects.filter(pk=cern.pk).assign(new, by=admin)
    page = client_for(admin2).get("/qos/NEW-TAPE/approve/").content.decode()
    assert "(CERN-EOS leaves SAFE): <strong>short by 1</strong>" in page


def test_the_retire_page_warns_when_an_accepted_requirement_counts_on_the_class(
    client_for, admin, accepted, catalogue, make_rse
):
    make_rse("CERN-EOS", catalogue["SAFE"])
    make_rse("DESY-DCACHE", catalogue["SAFE"])
    make_rse("CNAF-STORM", catalogue["FAST"])
    catalogue["SAFE"].deprecate(by=admin, reason="replaced by SAFE-2")
    page = client_for(admin).get("/qos/SAFE/retire/").content.decode()
    assert "RSEs that lose the attribute in Rucio" in page
    assert "Coverage at risk:" in page
    assert (
        "2 RSEs in sync now, 0 after (CERN-EOS, DESY-DCACHE leave SAFE): <strong>short by 2</strong>" in page
    )
    assert "FAST" not in warning_of(page)
    # Without the accepted requirement, no warning.
    accepted.take("withdraw", by=accepted.filed_by)
    assert "Coverage at risk" not in client_for(admin).get("/qos/SAFE/retire/").content.decode()


def test_an_already_short_requirement_is_named_when_it_gets_shorter(
    client_for, admin, accepted, catalogue, make_rse
):
    cern = make_rse("CERN-EOS", catalogue["SAFE"])
    (shorter,) = breaks_if_assigned([cern], catalogue["FAST"])
    assert (
        shorter.now.qos_class.label,
        shorter.now.available,
        shorter.then.available,
        shorter.then.short_by,
    ) == (
        "SAFE",
        1,
        0,
        2,
    )
    assert (shorter.now.short, shorter.now.short_by) == (True, 1)
    page = plan_page(client_for(admin), ["CERN-EOS"], "FAST")
    assert "(CERN-EOS leaves SAFE): <strong>short by 2</strong> (already short by 1 before)." in page
    assert requirements_broken_by({}) == []


def test_the_warning_costs_the_same_queries_for_many_requirements(
    client_for, admin, liaison_cta, experiments, catalogue, make_rse
):
    make_rse("CERN-EOS", catalogue["SAFE"])
    make_rse("DESY-DCACHE", catalogue["SAFE"])
    client = client_for(admin)

    def grow(start: int, count: int) -> None:
        for i in range(start, start + count):
            requirement = Requirement.objects.create(
                experiment=experiments["CTA"], title=f"R{i}", volume_tb=Decimal(1), status="accepted"
            )
            ClassLink.objects.create(requirement=requirement, qos_class=catalogue["SAFE"], copies=2)

    def queries() -> tuple[int, str]:
        plan_page(client, ["CERN-EOS"], "FAST")
        with CaptureQueriesContext(connection) as captured:
            page = plan_page(client, ["CERN-EOS"], "FAST")
        return len(captured), page

    grow(0, 2)
    few, page = queries()
    assert warning_of(page).count("short by 1") == 2
    assert changes_of(page).count("<tr>") == 3  # the head, and a row per requirement
    grow(2, 30)
    many, page = queries()
    assert warning_of(page).count("short by 1") == 32
    assert changes_of(page).count("<tr>") == 33
    assert many == few


# --- query counts of the lists with coverage shown ------------------------------------------------------------
def grow_requirements(count: int, start: int, experiments: dict, catalogue: dict, admin, make_rse) -> None:
    """``count`` more requirements, half accepted, linked 2 x SAFE + 1 x FAST, and RSEs of both classes."""
    for i in range(start, start + count):
        requirement = Requirement.objects.create(
            experiment=experiments["CTA"] if i % 2 else experiments["SKA"],
            title=f"Requirement {i}",
            volume_tb=Decimal(i + 1),
            status="accepted" if i % 2 else "filed",
            filed_by=admin,
            needed_by=datetime.date(2030, 1, 1),
        )
        ClassLink.objects.bulk_create(
            [
                ClassLink(requirement=requirement, qos_class=catalogue["SAFE"], copies=2, linked_by=admin),
                ClassLink(requirement=requirement, qos_class=catalogue["FAST"], copies=1, linked_by=admin),
            ]
        )
        # Space varies too: from 0 to 49 TB usable, unknown on one (more unknown RSEs of SAFE would make every
        # two-copy coverage unknown, and the at-risk lists empty).
        make_rse(
            f"SITE-{i:03d}",
            catalogue["SAFE" if i % 3 else "FAST"],
            state="in_sync" if i % 4 else "drifted",
            usable=None if i == 5 else i * TB,
        )


def count_queries(client, url: str) -> int:
    client.get(url)  # warm up: the first request of a client also loads the user's permissions
    with CaptureQueriesContext(connection) as queries:
        response = client.get(url)
    assert response.status_code == 200, url
    return len(queries)


@pytest.mark.parametrize(
    "url",
    [
        "/requirements/",
        "/requirements/?at_risk=true",
        "/requirements/coverage/",
        "/experiments/CTA/",
        "/",
        "/api/v1/requirements/",
        "/api/v1/requirements/?at_risk=true&page_size=500",
    ],
)
def test_coverage_lists_do_not_grow_with_rows(
    client_for, api_for, member, admin, experiments, catalogue, make_rse, url
):
    client = api_for(member) if url.startswith("/api/") else client_for(member)
    grow_requirements(5, 0, experiments, catalogue, admin, make_rse)
    few = count_queries(client, url)
    grow_requirements(45, 5, experiments, catalogue, admin, make_rse)
    assert count_queries(client, url) == few
    # Covered, short of space, and unknown, all among the rows counted.
    lines = [line for requirement in Requirement.objects.all() for line in requirement.coverage()]
    assert {True, False, None} == {line.fits for line in lines}
    assert any(line.short_of_space_bytes for line in lines)
    assert Requirement.objects.coverage_at_risk().count() >= 3


def test_a_requirement_page_and_api_detail_do_not_grow_with_rses(
    client_for, api_for, member, accepted, catalogue, make_rse
):
    urls = [
        (client_for(member), f"/requirements/{accepted.pk}/"),
        (api_for(member), f"/api/v1/requirements/{accepted.pk}/"),
    ]
    make_rse("CERN-EOS", catalogue["SAFE"])
    few = [count_queries(client, url) for client, url in urls]
    for i in range(30):
        make_rse(f"SITE-{i:03d}", catalogue["SAFE" if i % 2 else "FAST"])
    assert [count_queries(client, url) for client, url in urls] == few


# --- the demo ------------------------------------------------------------------------------------------------
def test_the_demo_accepts_ctas_raw_data_with_two_copies_on_safe_and_loads_twice_alike(db):
    portal_demo.load_accounts()
    qos_demo.load()
    demo.load()
    link = ClassLink.objects.get(requirement__experiment__short_name="CTA")
    assert (link.requirement.status, link.qos_class.label, link.copies) == ("accepted", "SAFE", 2)
    # A demo loaded before links carried copies gets its two copies; loading again changes nothing more.
    ClassLink.objects.filter(pk=link.pk).update(copies=1)
    demo.load()
    demo.load()
    assert ClassLink.objects.get(pk=link.pk).copies == 2
