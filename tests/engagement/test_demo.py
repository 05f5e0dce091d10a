"""The demo engagement reproduces stream B of the minutes of 2020-03-18; loading it twice changes nothing."""

from __future__ import annotations

import pytest

from engagement import demo
from engagement.models import (
    ClassLink,
    Contact,
    Document,
    EngagementRecord,
    Experiment,
    Requirement,
    RequirementEvent,
)
from portal import demo as portal_demo
from qos import demo as qos_demo

pytestmark = pytest.mark.django_db


def state():
    return {
        model.__name__: sorted(map(str, model.objects.all()))
        for model in (
            Experiment,
            Contact,
            EngagementRecord,
            Document,
            Requirement,
            RequirementEvent,
            ClassLink,
        )
    } | {"liaisons": sorted(Experiment.liaisons.through.objects.values_list("experiment_id", "user_id"))}


@pytest.fixture
def loaded():
    portal_demo.load_accounts()
    qos_demo.load()
    assert demo.load() == ["ATLAS", "CTA", "SKA", "LOFAR"]


def test_loading_the_demo_twice_changes_nothing(loaded):
    before = state()
    assert demo.load() == []
    assert state() == before


def test_the_demo_has_the_experiments_of_the_minutes_with_their_liaisons(loaded):
    liaisons = {e.short_name: [u.username for u in e.liaisons.all()] for e in Experiment.objects.all()}
    assert liaisons == {"ATLAS": ["liaison-atlas"], "CTA": ["liaison-cta"], "LOFAR": [], "SKA": []}


def test_atlas_has_the_document_awaiting_approval(loaded):
    document = Document.objects.get(experiment__short_name="ATLAS")
    assert (document.status, document.owner.username) == ("submitted", "liaison-atlas")


def test_cta_and_ska_have_pending_organise_meetings_contacts(loaded):
    pending = EngagementRecord.objects.filter(status="pending").order_by("experiment__short_name")
    assert [(r.experiment.short_name, r.subject, r.who) for r in pending] == [
        ("CTA", "Contact CTA to organise meetings", "Aleem Sarwar"),
        ("SKA", "Contact SKA to organise meetings", "Aleem Sarwar"),
    ]


def test_lofar_has_its_workflow_run_on_a_desktop_and_uploaded(loaded):
    record = EngagementRecord.objects.get(experiment__short_name="LOFAR")
    assert record.status == "done"
    assert "ran the LOFAR workflow on his desktop" in record.outcome
    assert "uploaded the **entire output tar file** to the data lake" in record.outcome
    assert [c.name for c in record.contacts.all()] == ["Pandey"]


def test_one_demo_requirement_is_answered_by_safe_and_the_other_is_a_gap(loaded):
    cta = Requirement.objects.get(experiment__short_name="CTA")
    assert cta.status == "accepted"
    assert [m.qos_class.label for m in cta.matches() if m.fits] == ["SAFE"]
    assert list(cta.linked_classes.values_list("label", flat=True)) == ["SAFE"]
    assert [r.experiment.short_name for r in Requirement.objects.gaps()] == ["ATLAS"]
