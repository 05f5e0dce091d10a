"""Fixtures of the engagement tests: the data lake's catalogue, a liaison of SKA, requirements to file."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.contrib.auth.models import Group

from engagement.models import Requirement
from portal.choices import Role
from qos.demo import DEMO_CLASSES
from qos.models import StorageQoSClass

# CTA's raw data: tape, nearline, two copies, kept for good. SAFE (and only SAFE) of the catalogue fits.
ARCHIVE_NEEDS = {
    "title": "Raw camera data archive",
    "description": "Raw *camera* data, written once.",
    "storage_media": "tape",
    "access_latency": "nearline",
    "min_durability": Decimal("99.999"),
    "copies": 2,
    "volume_tb": Decimal("500"),
    "retention_days": None,
    "min_throughput_mbps": None,
    "access_pattern": "archive",
    "sites": "Two sites in Europe",
    "needed_by": None,
}
# Replicated SSD: no class of the catalogue fits (FAST keeps one copy, 90 days, 99.99 %).
GAP_NEEDS = {
    **ARCHIVE_NEEDS,
    "title": "Hot analysis data, two SSD copies",
    "storage_media": "ssd",
    "access_latency": "online",
    "retention_days": 180,
    "min_throughput_mbps": 1000,
    "access_pattern": "analysis",
}


@pytest.fixture
def catalogue(db):
    """The ESCAPE data lake's four classes, approved: SAFE, CHEAP-ANALYSIS, FAST, OPPORTUNISTIC."""
    return {
        content["label"]: StorageQoSClass.objects.create(
            **content, status="approved", revision=3, label_locked=True
        )
        for content in DEMO_CLASSES
    }


@pytest.fixture
def liaison_ska(db, django_user_model, experiments):
    user = django_user_model.objects.create_user(username="sam-ska", password="sam-ska-pw")
    user.groups.add(*Group.objects.filter(name__in=[Role.MEMBER, Role.LIAISON]))
    experiments["SKA"].liaisons.add(user)
    return user


@pytest.fixture
def cta_requirement(liaison_cta, experiments):
    return Requirement.objects.file(by=liaison_cta, experiment=experiments["CTA"], **ARCHIVE_NEEDS)


@pytest.fixture
def ska_requirement(liaison_ska, experiments):
    return Requirement.objects.file(
        by=liaison_ska, experiment=experiments["SKA"], **{**ARCHIVE_NEEDS, "title": "SKA visibilities"}
    )
