"""QOS_COVERAGE_COUNTS_CONFORMING_ONLY: coverage counts an RSE in sync only if its probes find it delivering its
class (conforming or degraded); off, every RSE in sync counts, whatever its verdict."""

from __future__ import annotations

from decimal import Decimal

import pytest

from engagement.coverage import changes_if_assigned, count_at_risk
from engagement.models import Requirement
from qos.models import RSE, Conformance

from . import test_coverage
from .test_coverage import TB, count_queries, grow_requirements

# The RSEs, Rucio instance and accepted requirement of the coverage tests.
instance, make_rse, accepted = test_coverage.instance, test_coverage.make_rse, test_coverage.accepted

pytestmark = pytest.mark.django_db


@pytest.fixture
def conforming_only(settings):
    settings.QOS_COVERAGE_COUNTS_CONFORMING_ONLY = True


def judged(rse: RSE, verdict: str, label: str | None = None) -> RSE:
    """``rse`` with a verdict about its class (or about the class ``label``, one it carried before)."""
    Conformance.objects.create(rse=rse, verdict=verdict, qos_class_label=label or rse.qos_class.label)
    return rse


def safe_lines(requirement: Requirement):
    return next(line for line in requirement.coverage() if line.qos_class.label == "SAFE")


def flag_of(requirement: Requirement) -> bool:
    return Requirement.objects.with_coverage_flag().get(pk=requirement.pk).coverage_short


@pytest.fixture
def two_safe_one_violating(accepted, catalogue, make_rse):
    """2 x SAFE + 1 x FAST, covered by two SAFE RSEs in sync, one of them violating, and a conforming FAST."""
    judged(make_rse("CERN-EOS", catalogue["SAFE"]), "conforming")
    judged(make_rse("DESY-DCACHE", catalogue["SAFE"]), "violating")
    judged(make_rse("CNAF-STORM", catalogue["FAST"]), "conforming")
    return accepted


def test_on_a_violating_rse_leaves_a_requirement_covered_by_two_short(
    conforming_only, two_safe_one_violating
):
    line = safe_lines(two_safe_one_violating)
    assert (line.rses, line.short_by, line.short) == (("CERN-EOS",), 1, True)
    assert two_safe_one_violating.coverage_at_risk
    assert flag_of(two_safe_one_violating) is True
    assert count_at_risk() == 1


def test_off_a_violating_rse_in_sync_still_counts(two_safe_one_violating):
    line = safe_lines(two_safe_one_violating)
    assert (line.rses, line.covered) == (("CERN-EOS", "DESY-DCACHE"), True)
    assert flag_of(two_safe_one_violating) is False
    assert count_at_risk() == 0


def test_on_degraded_counts_and_unreachable_unknown_never_probed_or_judged_on_another_class_do_not(
    conforming_only, accepted, catalogue, make_rse
):
    safe = catalogue["SAFE"]
    judged(make_rse("A-CONFORMING", safe), "conforming")
    judged(make_rse("B-DEGRADED", safe), "degraded")
    judged(make_rse("C-UNREACHABLE", safe), "unreachable")
    judged(make_rse("D-UNKNOWN", safe), "unknown")
    make_rse("E-NEVER-PROBED", safe)
    # Conforming to the class it carried before, not yet probed against SAFE: says nothing of SAFE.
    judged(make_rse("F-FORMER-CLASS", safe), "conforming", label="FAST")
    judged(make_rse("G-PENDING", safe, state="pending"), "conforming")
    assert safe_lines(accepted).rses == ("A-CONFORMING", "B-DEGRADED")


def test_the_sql_twin_agrees_with_the_python_rule_when_counting_conforming_only(
    conforming_only, liaison_cta, experiments, admin, catalogue, make_rse
):
    verdicts = ["conforming", "degraded", "violating", "unreachable", "unknown", None]
    for i, verdict in enumerate(verdicts):
        for label, usable in (("SAFE", 40 * TB), ("SAFE", None), ("FAST", 10 * TB)):
            rse = make_rse(f"{label}-{i}-{usable}", catalogue[label], usable=usable)
            if verdict:
                judged(rse, verdict)
    cases = [{"SAFE": n} for n in (1, 2, 3, 4, 5)] + [
        {"FAST": 1},
        {"FAST": 2},
        {"FAST": 3},
        {"SAFE": 2, "FAST": 1},
    ]
    volumes = [Decimal(1), Decimal(40), Decimal(41)]
    test_coverage.assert_sql_agrees_with_python(
        volumes, cases, liaison_cta, experiments["CTA"], admin, catalogue
    )


@pytest.mark.parametrize(
    ("on", "sentence"),
    [
        (True, "Coverage counts only the RSEs in sync whose probes find them delivering their class"),
        (False, "Coverage counts every RSE in sync, whatever its probes found"),
    ],
)
def test_the_requirement_and_coverage_pages_say_which_way_it_counts(
    settings, client_for, member, two_safe_one_violating, on, sentence
):
    settings.QOS_COVERAGE_COUNTS_CONFORMING_ONLY = on
    client = client_for(member)
    for url in (f"/requirements/{two_safe_one_violating.pk}/", "/requirements/coverage/"):
        assert sentence in client.get(url).content.decode(), url


@pytest.mark.parametrize("url", ["/requirements/", "/requirements/coverage/", "/api/v1/requirements/", "/"])
def test_counting_conforming_only_costs_no_more_queries_and_does_not_grow_with_rows(
    settings, client_for, api_for, member, admin, experiments, catalogue, make_rse, url
):
    client = api_for(member) if url.startswith("/api/") else client_for(member)
    grow_requirements(5, 0, experiments, catalogue, admin, make_rse)
    for rse in RSE.objects.filter(qos_class__isnull=False):
        judged(rse, "conforming" if rse.pk % 3 else "violating")
    off = count_queries(client, url)
    settings.QOS_COVERAGE_COUNTS_CONFORMING_ONLY = True
    few = count_queries(client, url)
    assert few == off
    grow_requirements(45, 5, experiments, catalogue, admin, make_rse)
    assert count_queries(client, url) == few


def test_on_an_rse_arriving_in_a_class_counts_only_once_probed_against_it(
    settings, accepted, catalogue, make_rse
):
    judged(make_rse("CERN-EOS", catalogue["SAFE"]), "conforming")
    newcomer = judged(make_rse("DESY-DCACHE", catalogue["FAST"]), "conforming")
    # Off: once pushed, the newcomer covers the second SAFE copy.
    assert [change.mends for change in changes_if_assigned([newcomer], catalogue["SAFE"])] == [False, True]
    settings.QOS_COVERAGE_COUNTS_CONFORMING_ONLY = True
    # On: its verdict is about FAST; it leaves FAST, and counts for SAFE only once probed against it.
    changes = changes_if_assigned([newcomer], catalogue["SAFE"])
    assert [(change.now.qos_class.label, change.then.rses) for change in changes] == [("FAST", ())]
