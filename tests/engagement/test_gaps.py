"""What makes a requirement a gap is written twice: in Python (``ApprovedClasses.is_gap``: the requirement's
page, list rows, the API, the dashboard) and in SQL (``Requirement.objects.gaps()``: the gap list, the ``gap``
filter, the experiments' gap counts). Both must say the same of every requirement."""

from __future__ import annotations

import itertools
import random
from collections import Counter
from decimal import Decimal

import pytest

from engagement.choices import RequirementStatus
from engagement.matching import ApprovedClasses
from engagement.models import ClassLink, Experiment, Requirement
from qos.models import StorageQoSClass

pytestmark = pytest.mark.django_db

# Fits the replicated SSD needs that no approved class of the catalogue meets; deprecated, so it must not count.
DEPRECATED_SSD = {
    "label": "OLD-SSD",
    "title": "Replicated SSD (deprecated)",
    "storage_media": "ssd",
    "access_latency": "online",
    "durability_target": Decimal("99.9999"),
    "copies": 3,
    "redundancy": "replicas",
    "lifetime_days": None,
    "throughput_mbps": 5000,
    "status": "deprecated",
}


def varied_requirements(experiments: dict, catalogue: dict) -> list[Requirement]:
    """Every status, needs that approved classes meet or not (or only a deprecated one), and no link, a link
    to an approved class or a link to a deprecated one: a seeded sample of all their combinations."""
    deprecated = StorageQoSClass.objects.create(**DEPRECATED_SSD)
    needs = itertools.product(
        ["", "disk", "ssd", "tape"],
        ["", "online", "nearline"],
        [None, Decimal("99.999")],
        [1, 2, 3],
        [None, 180],
        [None, 1000],
    )
    combinations = list(
        itertools.product(needs, RequirementStatus.values, [None, catalogue["SAFE"], deprecated])
    )
    sample = random.Random(20200318).sample(combinations, 400)
    experiment_list = list(experiments.values())
    requirements = Requirement.objects.bulk_create(
        Requirement(
            experiment=experiment_list[i % len(experiment_list)],
            title=f"Requirement {i}",
            storage_media=media,
            access_latency=latency,
            min_durability=durability,
            copies=copies,
            retention_days=retention,
            min_throughput_mbps=throughput,
            volume_tb=Decimal("10"),
            status=status,
        )
        for i, ((media, latency, durability, copies, retention, throughput), status, _) in enumerate(sample)
    )
    ClassLink.objects.bulk_create(
        ClassLink(requirement=requirement, qos_class=linked)
        for requirement, (_, _, linked) in zip(requirements, sample, strict=True)
        if linked is not None
    )
    return requirements


def test_python_and_sql_agree_on_which_requirements_are_gaps(experiments, catalogue):
    requirements = varied_requirements(experiments, catalogue)
    classes = ApprovedClasses.load()

    in_python = {r.pk for r in Requirement.objects.for_lists() if classes.is_gap(r)}
    in_sql = set(Requirement.objects.gaps().values_list("pk", flat=True))

    assert in_python == in_sql
    assert set(classes.gap_ids(Requirement.objects.all())) == in_sql
    everyone = {r.pk for r in requirements}
    assert set(Requirement.objects.not_gaps().values_list("pk", flat=True)) == everyone - in_sql
    by_experiment = Counter(r.experiment.short_name for r in Requirement.objects.filter(pk__in=in_sql))
    assert {e.short_name: e.gap_count for e in Experiment.objects.with_counts()} == {
        short_name: by_experiment[short_name] for short_name in experiments
    }
    # The sample holds gaps and requirements that are not, many times over.
    assert 30 < len(in_sql) < len(everyone) - 30


def test_a_class_linked_by_hand_counts_only_while_approved(experiments, catalogue, cta_requirement, admin):
    """Both definitions read the same facts: a link closes a gap while its class is approved."""
    cta_requirement.edit(by=cta_requirement.filed_by, changes={"storage_media": "ssd"})
    cta_requirement.link_class(catalogue["FAST"], by=admin)
    requirement = Requirement.objects.for_lists().get()
    assert not ApprovedClasses.load().is_gap(requirement)
    assert not Requirement.objects.gaps().exists()

    StorageQoSClass.objects.filter(label="FAST").update(status="deprecated")
    requirement = Requirement.objects.for_lists().get()
    assert ApprovedClasses.load().is_gap(requirement)
    assert list(Requirement.objects.gaps()) == [requirement]
