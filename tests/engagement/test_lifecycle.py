"""A requirement's life: filed, reviewed, accepted or rejected, satisfied or withdrawn; every step recorded."""

from __future__ import annotations

import pytest
from django.core.exceptions import PermissionDenied, ValidationError

from engagement.matching import ApprovedClasses
from engagement.models import Document, IllegalTransition, Requirement

from .conftest import ARCHIVE_NEEDS, GAP_NEEDS

pytestmark = pytest.mark.django_db


def test_filing_records_who_filed_it_and_why(cta_requirement, liaison_cta):
    assert cta_requirement.status == "filed"
    assert cta_requirement.filed_by == liaison_cta
    event = cta_requirement.events.get()
    assert (event.kind, event.to_status, event.author) == ("filed", "filed", liaison_cta)


def test_admin_reviews_then_accepts_and_each_step_says_who_when_and_why(cta_requirement, admin):
    cta_requirement.take("review", by=admin, comment="Looking at tape capacity")
    cta_requirement.take("accept", by=admin, comment="SAFE will do")
    assert cta_requirement.status == "accepted"
    events = cta_requirement.events.order_by("created_at", "pk")
    steps = list(events.values_list("kind", "from_status", "to_status", "author__username", "comment"))
    assert steps == [
        ("filed", "", "filed", "dave-cta", ""),
        ("status", "filed", "under-review", "alice-admin", "Looking at tape capacity"),
        ("status", "under-review", "accepted", "alice-admin", "SAFE will do"),
    ]


def test_rejection_needs_a_reason_and_without_one_changes_nothing(cta_requirement, admin):
    with pytest.raises(ValidationError, match="Say why"):
        cta_requirement.take("reject", by=admin, comment="  ")
    cta_requirement.refresh_from_db()
    assert cta_requirement.status == "filed"
    assert cta_requirement.events.count() == 1


def test_a_step_from_the_wrong_status_is_refused_with_the_reason(cta_requirement, admin):
    cta_requirement.take("accept", by=admin)
    with pytest.raises(
        IllegalTransition,
        match="“Reject the requirement” applies only to a filed or under review requirement",
    ):
        cta_requirement.take("reject", by=admin, comment="too late")
    assert Requirement.objects.get().status == "accepted"


def test_satisfied_needs_a_linked_approved_class(catalogue, cta_requirement, admin):
    cta_requirement.take("accept", by=admin)
    with pytest.raises(IllegalTransition, match="Link the approved class"):
        cta_requirement.take("satisfy", by=admin)
    cta_requirement.link_class(catalogue["SAFE"], by=admin, note="tape at two sites")
    cta_requirement.take("satisfy", by=admin)
    assert cta_requirement.status == "satisfied"
    assert [e.summary for e in cta_requirement.events.all()[:2]] == [
        "accepted → satisfied",
        "class linked: SAFE",
    ]


def test_only_approved_classes_can_be_linked_and_only_once(catalogue, cta_requirement, admin):
    catalogue["FAST"].status = "deprecated"
    catalogue["FAST"].save()
    with pytest.raises(ValidationError, match="FAST is deprecated: only approved classes can be linked"):
        cta_requirement.link_class(catalogue["FAST"], by=admin)
    cta_requirement.link_class(catalogue["SAFE"], by=admin)
    with pytest.raises(ValidationError, match="SAFE is already linked"):
        cta_requirement.link_class(catalogue["SAFE"], by=admin)
    assert list(cta_requirement.linked_classes.values_list("label", flat=True)) == ["SAFE"]


def test_reviewer_steps_are_for_qos_admins_and_withdrawal_for_the_experiments_liaisons(
    catalogue, cta_requirement, admin, liaison_cta, coordinator, member
):
    for user in (liaison_cta, coordinator, member):
        with pytest.raises(PermissionDenied):
            cta_requirement.take("accept", by=user)
        with pytest.raises(PermissionDenied):
            cta_requirement.link_class(catalogue["SAFE"], by=user)
    with pytest.raises(PermissionDenied):
        cta_requirement.take("withdraw", by=admin)
    cta_requirement.take("withdraw", by=liaison_cta, comment="Plans changed")
    assert cta_requirement.status == "withdrawn"
    cta_requirement.take("refile", by=liaison_cta)
    assert cta_requirement.status == "filed"


def test_editing_records_the_fields_changed(cta_requirement, liaison_cta):
    changed = cta_requirement.edit(
        by=liaison_cta, changes={"copies": 3, "volume_tb": 650}, comment="More data"
    )
    assert changed == ["copies", "volume_tb"]
    event = cta_requirement.events.first()
    assert (event.kind, event.changed_fields, event.comment) == (
        "edited",
        ["copies", "volume_tb"],
        "More data",
    )
    assert event.summary == "edited copies at least, volume (TB)"


def test_an_edit_that_changes_nothing_is_refused(cta_requirement, liaison_cta):
    with pytest.raises(ValidationError, match="Nothing was changed"):
        cta_requirement.edit(by=liaison_cta, changes={"copies": 2, "volume_tb": 500})
    assert cta_requirement.events.count() == 1


def test_accepted_needs_are_fixed(cta_requirement, liaison_cta, admin):
    cta_requirement.take("accept", by=admin)
    with pytest.raises(IllegalTransition, match="accepted requirement cannot be edited"):
        cta_requirement.edit(by=liaison_cta, changes={"copies": 3})
    assert Requirement.objects.get().copies == 2


def test_comments_are_between_the_experiments_liaisons_and_qos_admins(
    cta_requirement, liaison_cta, admin, coordinator, liaison_ska
):
    cta_requirement.add_comment(by=liaison_cta, text="Can SAFE hold 500 TB?")
    cta_requirement.add_comment(by=admin, text="Yes, at two sites.")
    for stranger in (coordinator, liaison_ska):
        with pytest.raises(PermissionDenied):
            cta_requirement.add_comment(by=stranger, text="me too")
    with pytest.raises(ValidationError, match="Write something"):
        cta_requirement.add_comment(by=admin, text="   ")
    assert list(cta_requirement.comments.values_list("author__username", "text")) == [
        ("dave-cta", "Can SAFE hold 500 TB?"),
        ("alice-admin", "Yes, at two sites."),
    ]


def test_events_are_immutable(cta_requirement):
    event = cta_requirement.events.get()
    event.comment = "rewritten"
    with pytest.raises(ValueError, match="immutable"):
        event.save()


class TestGaps:
    def test_a_requirement_no_approved_class_satisfies_is_a_gap(self, catalogue, liaison_cta, experiments):
        gap = Requirement.objects.file(by=liaison_cta, experiment=experiments["CTA"], **GAP_NEEDS)
        Requirement.objects.file(by=liaison_cta, experiment=experiments["CTA"], **ARCHIVE_NEEDS)
        assert list(Requirement.objects.gaps()) == [gap]
        assert list(Requirement.objects.not_gaps()) != [gap]
        assert ApprovedClasses.load().is_gap(gap)

    def test_a_class_linked_by_hand_closes_the_gap(self, catalogue, liaison_cta, experiments, admin):
        gap = Requirement.objects.file(by=liaison_cta, experiment=experiments["CTA"], **GAP_NEEDS)
        gap.link_class(catalogue["FAST"], by=admin, note="One copy will do for now")
        assert not Requirement.objects.gaps().exists()
        assert not ApprovedClasses.load().is_gap(gap)

    def test_rejected_and_withdrawn_requirements_are_no_gaps(
        self, catalogue, liaison_cta, experiments, admin
    ):
        gap = Requirement.objects.file(by=liaison_cta, experiment=experiments["CTA"], **GAP_NEEDS)
        gap.take("reject", by=admin, comment="Not for the data lake")
        assert not Requirement.objects.gaps().exists()

    def test_deprecating_the_only_class_that_fits_opens_a_gap(self, catalogue, cta_requirement):
        assert not Requirement.objects.gaps().exists()
        catalogue["SAFE"].status = "deprecated"
        catalogue["SAFE"].save()
        assert list(Requirement.objects.gaps()) == [cta_requirement]


class TestDocuments:
    def test_a_document_goes_draft_submitted_then_approved_or_back_with_changes(self, experiments, admin):
        document = Document(experiment=experiments["ATLAS"], title="QoS document")
        document.full_clean()
        document.save_by(admin)
        document = Document.objects.get()
        for status in ("submitted", "changes-requested", "submitted", "approved"):
            document.status = status
            document.full_clean()
            document.save_by(admin)
            document = Document.objects.get()
            assert document.status == status
            assert document.status_changed_by == admin

    def test_a_step_the_lifecycle_does_not_have_is_refused(self, experiments):
        document = Document.objects.create(experiment=experiments["ATLAS"], title="QoS document")
        document = Document.objects.get()
        document.status = "approved"
        with pytest.raises(ValidationError, match="draft can go to submitted for approval, not to approved"):
            document.full_clean()
