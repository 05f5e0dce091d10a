"""Matching requirements to approved classes: each property right, with its reason, in Python and in SQL."""

from __future__ import annotations

import itertools
import random
from decimal import Decimal

import pytest
from django.db.models import Exists, OuterRef

from engagement.matching import DIMENSIONS, ApprovedClasses, match, match_all, satisfying_classes
from engagement.models import ClassLink, Requirement
from qos.models import StorageQoSClass

from .conftest import ARCHIVE_NEEDS, GAP_NEEDS

NEUTRAL_NEEDS = {
    "storage_media": "",
    "access_latency": "",
    "min_durability": None,
    "copies": 1,
    "retention_days": None,
    "min_throughput_mbps": None,
    "volume_tb": Decimal("1"),
}
NEUTRAL_CLASS = {
    "label": "X",
    "storage_media": "disk",
    "access_latency": "online",
    "durability_target": None,
    "copies": 1,
    "redundancy": "replicas",
    "lifetime_days": None,
    "throughput_mbps": None,
}


def check(name: str, needs: dict, offer: dict):
    """The named property's check of a requirement with ``needs`` against a class offering ``offer``."""
    requirement = Requirement(**{**NEUTRAL_NEEDS, **needs})
    qos_class = StorageQoSClass(**{**NEUTRAL_CLASS, **offer})
    return next(c for c in match(requirement, qos_class).checks if c.name == name)


@pytest.mark.parametrize(
    ("needed", "offered", "fits", "reason"),
    [
        ("", "tape", True, "Any media will do."),
        ("disk", "disk", True, "Disk, as asked."),
        ("disk", "ssd", True, "SSD is disk storage, only faster."),
        ("disk", "disk+tape", True, "Keeps a copy on disk (and one on tape)."),
        ("disk", "tape", False, "Tape, not disk."),
        ("ssd", "ssd", True, "SSD, as asked."),
        ("ssd", "disk", False, "Disk, not SSD."),
        ("tape", "tape", True, "Tape, as asked."),
        ("tape", "disk+tape", True, "Keeps a copy on tape (and one on disk)."),
        ("tape", "disk", False, "Disk, not tape."),
        ("disk+tape", "tape", False, "Tape, not disk + tape."),
        ("disk+tape", "disk+tape", True, "Disk + tape, as asked."),
    ],
)
def test_media_fits_when_the_class_stores_on_what_was_asked_or_better(needed, offered, fits, reason):
    result = check("storage_media", {"storage_media": needed}, {"storage_media": offered})
    assert (result.fits, result.reason) == (fits, reason)


@pytest.mark.parametrize(
    ("needed", "offered", "fits", "reason"),
    [
        ("", "nearline", True, "Any latency will do."),
        ("online", "online", True, "Online, as asked."),
        ("nearline", "nearline", True, "Nearline, as asked."),
        ("nearline", "online", True, "Online: readable at once, better than the nearline asked for."),
        (
            "online",
            "nearline",
            False,
            "Nearline: files must be staged before they are read; online was asked for.",
        ),
    ],
)
def test_online_satisfies_nearline_but_not_the_reverse(needed, offered, fits, reason):
    result = check("access_latency", {"access_latency": needed}, {"access_latency": offered})
    assert (result.fits, result.reason) == (fits, reason)


@pytest.mark.parametrize(
    ("needed", "offered", "fits", "reason"),
    [
        (None, None, True, "No durability asked for."),
        ("99.999", None, False, "The class promises no durability; at least 99.999 % asked for."),
        ("99.999", "99.99999", True, "Promises 99.99999 %; at least 99.999 % asked for."),
        ("99.999", "99.999", True, "Promises 99.999 %; at least 99.999 % asked for."),
        ("99.999", "99.9", False, "Promises only 99.9 %; at least 99.999 % asked for."),
    ],
)
def test_durability_must_be_promised_and_at_least_what_was_asked(needed, offered, fits, reason):
    result = check(
        "durability",
        {"min_durability": Decimal(needed) if needed else None},
        {"durability_target": Decimal(offered) if offered else None},
    )
    assert (result.fits, result.reason) == (fits, reason)


@pytest.mark.parametrize(
    ("needed", "offer", "fits", "reason"),
    [
        (1, {"copies": 1}, True, "Keeps 1 copy; 1 asked for."),
        (2, {"copies": 1}, False, "Keeps 1 copy only; 2 asked for."),
        (2, {"copies": 2}, True, "Keeps 2 copies; 2 asked for."),
        (2, {"copies": 3}, True, "Keeps 3 copies; 2 asked for."),
        (
            2,
            {"copies": 1, "redundancy": "erasure-coding", "erasure_coding": "8+2"},
            False,
            "Erasure-coded (8+2): one copy, protected by parity chunks only; 2 asked for.",
        ),
    ],
)
def test_copies_count_replicas_and_erasure_coding_as_one(needed, offer, fits, reason):
    result = check("copies", {"copies": needed}, offer)
    assert (result.fits, result.reason) == (fits, reason)


@pytest.mark.parametrize(
    ("needed", "offered", "fits", "reason"),
    [
        (None, None, True, "Keeps data until it is deleted, as asked."),
        (None, 365, False, "Keeps data 365 days only; needed until deleted."),
        (180, None, True, "Keeps data until it is deleted; 180 days asked for."),
        (180, 365, True, "Keeps data 365 days; 180 asked for."),
        (180, 180, True, "Keeps data 180 days; 180 asked for."),
        (180, 90, False, "Keeps data 90 days only; 180 asked for."),
    ],
)
def test_retention_must_last_at_least_as_long_as_asked(needed, offered, fits, reason):
    result = check("retention", {"retention_days": needed}, {"lifetime_days": offered})
    assert (result.fits, result.reason) == (fits, reason)


@pytest.mark.parametrize(
    ("needed", "offered", "fits", "reason"),
    [
        (None, None, True, "No throughput asked for."),
        (1000, None, False, "The class promises no throughput; 1000 MB/s asked for."),
        (1000, 2000, True, "Promises 2000 MB/s; 1000 MB/s asked for."),
        (1000, 1000, True, "Promises 1000 MB/s; 1000 MB/s asked for."),
        (1000, 200, False, "Promises only 200 MB/s; 1000 MB/s asked for."),
    ],
)
def test_throughput_must_be_promised_and_at_least_what_was_asked(needed, offered, fits, reason):
    result = check("throughput", {"min_throughput_mbps": needed}, {"throughput_mbps": offered})
    assert (result.fits, result.reason) == (fits, reason)


def test_a_class_fits_only_when_every_property_does_and_misses_say_which_do_not(catalogue):
    requirement = Requirement(**GAP_NEEDS)
    fast = match(requirement, catalogue["FAST"])
    assert not fast.fits
    assert [c.name for c in fast.misses] == ["durability", "copies", "retention"]
    assert [c.name for c in fast.checks if c.fits] == ["storage_media", "access_latency", "throughput"]


def test_the_catalogue_answers_cta_raw_data_with_safe_alone(catalogue):
    matches = Requirement(**ARCHIVE_NEEDS).matches(catalogue.values())
    assert [(m.qos_class.label, m.fits) for m in matches] == [
        ("SAFE", True),
        ("CHEAP-ANALYSIS", False),
        ("FAST", False),
        ("OPPORTUNISTIC", False),
    ]


def test_only_approved_classes_are_matched(db, catalogue, cta_requirement):
    StorageQoSClass.objects.filter(label="SAFE").update(status="deprecated")
    assert [m.qos_class.label for m in cta_requirement.matches() if m.fits] == []
    assert {m.qos_class.label for m in cta_requirement.matches()} == {
        "CHEAP-ANALYSIS",
        "FAST",
        "OPPORTUNISTIC",
    }


@pytest.mark.django_db
def test_sql_and_python_agree_on_every_pair_of_needs_and_offers(django_user_model, experiments):
    """The database's verdict (used for gaps) and the one people read, on a wide sample of pairs."""
    needs = [
        dict(zip(keys, values, strict=True))
        for keys in [
            (
                "storage_media",
                "access_latency",
                "min_durability",
                "copies",
                "retention_days",
                "min_throughput_mbps",
            )
        ]
        for values in itertools.product(
            ["", "disk", "ssd", "tape", "disk+tape"],
            ["", "online", "nearline"],
            [None, Decimal("99.999")],
            [1, 2],
            [None, 180],
            [None, 1000],
        )
    ]
    offers = [
        dict(zip(keys, values, strict=True))
        for keys in [
            (
                "storage_media",
                "access_latency",
                "durability_target",
                "copies",
                "lifetime_days",
                "throughput_mbps",
            )
        ]
        for values in itertools.product(
            ["disk", "ssd", "tape", "disk+tape"],
            ["online", "nearline"],
            [None, Decimal("99.9"), Decimal("99.999")],
            [1, 2],
            [None, 90, 180],
            [None, 200, 1000],
        )
    ]
    requirements = Requirement.objects.bulk_create(
        Requirement(
            experiment=experiments["CTA"],
            title=f"r{i}",
            volume_tb=Decimal("1"),
            access_pattern="archive",
            **n,
        )
        for i, n in enumerate(needs)
    )
    classes = StorageQoSClass.objects.bulk_create(
        StorageQoSClass(**{**NEUTRAL_CLASS, **o, "label": f"C{i}"}, title="c", status="approved")
        for i, o in enumerate(offers)
    )
    pairs = random.Random(20200318).sample(list(itertools.product(requirements, classes)), 4000)
    ClassLink.objects.bulk_create(ClassLink(requirement=r, qos_class=c) for r, c in pairs)

    in_sql = dict(
        ClassLink.objects.annotate(
            fits=Exists(satisfying_classes(outer="requirement__").filter(pk=OuterRef("qos_class_id")))
        ).values_list("pk", "fits")
    )
    links = ClassLink.objects.select_related("requirement", "qos_class")
    in_python = {link.pk: match(link.requirement, link.qos_class).fits for link in links}
    assert in_sql == in_python
    # The sample is wide enough to hold both verdicts many times over.
    assert 100 < sum(in_python.values()) < len(in_python) - 100


def test_the_index_of_approved_classes_agrees_with_match_on_every_pair_of_needs_and_offers():
    """ApprovedClasses (lists, gap counts) holds many requirements against many classes at once; its verdicts,
    and the closest class it names for a gap, must be those of match() one pair at a time."""
    needs = [
        Requirement(**{**NEUTRAL_NEEDS, **dict(zip(keys, values, strict=True))})
        for keys in [
            (
                "storage_media",
                "access_latency",
                "min_durability",
                "copies",
                "retention_days",
                "min_throughput_mbps",
            )
        ]
        for values in itertools.product(
            ["", "disk", "ssd", "tape", "disk+tape"],
            ["", "online", "nearline"],
            [None, Decimal("99.999")],
            [1, 2],
            [None, 180],
            [None, 1000],
        )
    ]
    offers = [
        StorageQoSClass(**{**NEUTRAL_CLASS, **dict(zip(keys, values, strict=True)), "label": f"C{i:03d}"})
        for i, values in enumerate(
            itertools.product(
                ["disk", "ssd", "tape", "disk+tape"],
                ["online", "nearline"],
                [None, Decimal("99.9"), Decimal("99.999")],
                [1, 2],
                [None, 90, 180],
                [None, 200, 1000],
            )
        )
        for keys in [
            (
                "storage_media",
                "access_latency",
                "durability_target",
                "copies",
                "lifetime_days",
                "throughput_mbps",
            )
        ]
    ]
    fields = [field for _, _, fields in DIMENSIONS for field in fields]
    index = ApprovedClasses([(c.label, *(getattr(c, field) for field in fields)) for c in offers])
    for requirement in random.Random(20200318).sample(needs, 60):
        matches = match_all(requirement, offers)
        assert index.fitting_labels(requirement) == [m.qos_class.label for m in matches if m.fits]
        closest = min(matches, key=lambda m: len(m.misses))
        assert index.closest_label(requirement) == closest.qos_class.label
