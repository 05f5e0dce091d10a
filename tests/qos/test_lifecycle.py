"""The catalogue's rules, on the model: lifecycle, four-eyes, proposals on approved classes, stale edits."""

import pytest
from django.core.exceptions import ValidationError

from qos.models import (
    FourEyesViolation,
    IllegalTransition,
    StaleRevision,
    StorageQoSClass,
    StorageQoSClassRevision,
    revision_diff,
)
from tests.conftest import SAFE_CONTENT

pytestmark = pytest.mark.django_db


def snapshot(qos_class):
    qos_class.refresh_from_db()
    return (qos_class.status, qos_class.revision, qos_class.content(), qos_class.pending_revision_id)


def test_a_new_class_is_a_draft_with_its_first_revision(draft_class, admin):
    assert draft_class.status == "draft"
    revision = draft_class.revisions.get()
    assert (revision.number, revision.kind, revision.author, revision.comment) == (
        1,
        "created",
        admin,
        "first draft",
    )
    assert revision.data["label"] == "SAFE"


def test_full_lifecycle_draft_to_retired(draft_class, admin, admin2):
    draft_class.propose(by=admin)
    draft_class.approve(by=admin2, comment="ok")
    assert (draft_class.status, draft_class.label_locked) == ("approved", True)
    draft_class.deprecate(by=admin, reason="superseded by SAFE-2")
    draft_class.retire(by=admin)
    assert draft_class.status == "retired"
    assert list(draft_class.revisions.values_list("kind", flat=True)) == [
        "retired",
        "deprecated",
        "approved",
        "proposed",
        "created",
    ]


@pytest.mark.parametrize(
    ("step", "kwargs"),
    [
        ("approve", {}),
        ("reject", {"reason": "no"}),
        ("deprecate", {}),
        ("retire", {}),
    ],
)
def test_illegal_transition_from_draft_is_refused_and_changes_nothing(draft_class, admin2, step, kwargs):
    before = snapshot(draft_class)
    with pytest.raises(IllegalTransition) as refused:
        getattr(draft_class, step)(by=admin2, **kwargs)
    assert "draft" in refused.value.message
    assert snapshot(draft_class) == before


def test_retiring_an_approved_class_needs_deprecation_first(approved_class, admin):
    before = snapshot(approved_class)
    with pytest.raises(IllegalTransition, match="Only a deprecated class can be retired"):
        approved_class.retire(by=admin)
    assert snapshot(approved_class) == before


def test_proposing_an_approved_class_is_refused(approved_class, admin):
    with pytest.raises(IllegalTransition, match="Edit it to propose a change"):
        approved_class.propose(by=admin)


def test_author_of_a_proposal_cannot_approve_it(proposed_class, admin):
    before = snapshot(proposed_class)
    with pytest.raises(FourEyesViolation):
        proposed_class.approve(by=admin)
    assert snapshot(proposed_class) == before


def test_co_author_who_only_edited_cannot_approve(draft_class, admin, admin2, django_user_model):
    draft_class.edit(by=admin2, changes={"title": "Safer"}, base_revision=draft_class.revision)
    draft_class.propose(by=admin)
    with pytest.raises(FourEyesViolation):
        draft_class.approve(by=admin2)
    third = django_user_model.objects.create_user("third-admin")
    draft_class.approve(by=third)
    assert draft_class.status == "approved"


def test_rejection_needs_a_reason_and_returns_a_new_class_to_draft(proposed_class, admin2):
    with pytest.raises(ValidationError):
        proposed_class.reject(by=admin2, reason="  ")
    assert snapshot(proposed_class)[0] == "proposed"
    proposed_class.reject(by=admin2, reason="Durability target missing")
    assert proposed_class.status == "draft"
    assert proposed_class.revisions.first().comment == "Durability target missing"


def test_editing_an_approved_class_proposes_a_change_and_keeps_the_approved_content(approved_class, admin):
    approved_class.edit(
        by=admin, changes={"title": "Custodial tape", "copies": 3}, comment="3 copies", base_revision=3
    )
    approved_class.refresh_from_db()
    assert approved_class.status == "approved"
    assert (approved_class.title, approved_class.copies) == ("Safe long-term custody", 2)
    assert approved_class.has_pending_change
    assert approved_class.pending_revision.data["title"] == "Custodial tape"
    assert approved_class.pending_revision.changed_fields == ["title", "copies"]
    assert StorageQoSClass.objects.awaiting_approval().get() == approved_class
    assert [row["field"] for row in approved_class.pending_changes()] == ["title", "copies"]


def test_approving_a_change_puts_it_in_force(approved_class, admin, admin2):
    approved_class.edit(by=admin, changes={"copies": 3}, base_revision=approved_class.revision)
    approved_class.approve(by=admin2)
    assert (approved_class.copies, approved_class.has_pending_change, approved_class.status) == (
        3,
        False,
        "approved",
    )


def test_rejecting_a_change_keeps_the_class_approved_with_its_old_content(approved_class, admin, admin2):
    approved_class.edit(by=admin, changes={"copies": 3}, base_revision=approved_class.revision)
    approved_class.reject(by=admin2, reason="2 copies are enough")
    assert (approved_class.copies, approved_class.has_pending_change, approved_class.status) == (
        2,
        False,
        "approved",
    )


def test_author_of_a_change_to_an_approved_class_cannot_approve_it(approved_class, admin2):
    # admin2 approved the class originally; now admin2 proposes a change and must not approve it.
    approved_class.edit(by=admin2, changes={"copies": 3}, base_revision=approved_class.revision)
    with pytest.raises(FourEyesViolation):
        approved_class.approve(by=admin2)


def test_a_second_edit_of_an_approved_class_builds_on_the_pending_proposal(approved_class, admin):
    approved_class.edit(by=admin, changes={"copies": 3}, base_revision=approved_class.revision)
    approved_class.edit(by=admin, changes={"title": "Custodial"}, base_revision=approved_class.revision)
    assert approved_class.pending_revision.data["copies"] == 3
    assert approved_class.pending_revision.data["title"] == "Custodial"


def test_stale_edit_is_refused_and_overwrites_nothing(draft_class, admin, admin2):
    seen = draft_class.revision
    draft_class.edit(by=admin2, changes={"title": "First"}, base_revision=seen)
    before = snapshot(draft_class)
    with pytest.raises(StaleRevision, match="changed since you loaded it"):
        draft_class.edit(by=admin, changes={"title": "Second"}, base_revision=seen)
    assert snapshot(draft_class) == before


def test_stale_approval_is_refused(proposed_class, admin, admin2):
    seen = proposed_class.revision
    proposed_class.reject(by=admin2, reason="typo")
    proposed_class.edit(by=admin, changes={"title": "Fixed"}, base_revision=proposed_class.revision)
    proposed_class.propose(by=admin)
    with pytest.raises(StaleRevision):
        proposed_class.approve(by=admin2, base_revision=seen)


def test_label_is_fixed_once_approved(approved_class, admin):
    before = snapshot(approved_class)
    with pytest.raises(ValidationError) as refused:
        approved_class.edit(by=admin, changes={"label": "SAFER"}, base_revision=approved_class.revision)
    assert "fixed" in str(refused.value.message_dict["label"])
    assert snapshot(approved_class) == before


def test_label_of_a_draft_can_change(draft_class, admin):
    draft_class.edit(by=admin, changes={"label": "SAFE-TAPE"}, base_revision=draft_class.revision)
    assert draft_class.label == "SAFE-TAPE"


@pytest.mark.parametrize("label", ["safe", "-SAFE", "SA FE", "SAFE!", "", "A" * 65])
def test_bad_label_is_refused(admin, label):
    with pytest.raises(ValidationError) as refused:
        StorageQoSClass.objects.create_draft(by=admin, **{**SAFE_CONTENT, "label": label})
    assert "label" in refused.value.message_dict
    assert not StorageQoSClass.objects.exists()


def test_duplicate_label_is_refused(draft_class, admin):
    with pytest.raises(ValidationError) as refused:
        StorageQoSClass.objects.create_draft(by=admin, **SAFE_CONTENT)
    assert "label" in refused.value.message_dict
    assert StorageQoSClass.objects.count() == 1


def test_erasure_coding_needs_a_scheme(admin):
    with pytest.raises(ValidationError) as refused:
        StorageQoSClass.objects.create_draft(by=admin, **{**SAFE_CONTENT, "redundancy": "erasure-coding"})
    assert "erasure_coding" in refused.value.message_dict


def test_tape_alone_cannot_be_online(admin):
    with pytest.raises(ValidationError) as refused:
        StorageQoSClass.objects.create_draft(by=admin, **{**SAFE_CONTENT, "access_latency": "online"})
    assert "access_latency" in refused.value.message_dict


def test_an_edit_that_changes_nothing_is_refused(draft_class, admin):
    with pytest.raises(ValidationError, match="Nothing was changed"):
        draft_class.edit(by=admin, changes={"title": draft_class.title}, base_revision=draft_class.revision)
    assert draft_class.revisions.count() == 1


def test_revisions_are_immutable(draft_class):
    revision = draft_class.revisions.get()
    revision.comment = "rewritten"
    with pytest.raises(ValueError, match="immutable"):
        revision.save()
    with pytest.raises(ValueError, match="immutable"):
        revision.delete()
    assert StorageQoSClassRevision.objects.get().comment == "first draft"


def test_diff_between_two_revisions_is_field_by_field(draft_class, admin):
    draft_class.edit(
        by=admin,
        changes={"title": "Custodial", "storage_media": "disk+tape"},
        base_revision=draft_class.revision,
    )
    first, second = draft_class.revisions.order_by("number")
    rows = revision_diff(first, second)
    assert rows == [
        {"field": "title", "label": "Title", "old": "Safe long-term custody", "new": "Custodial"},
        {"field": "storage_media", "label": "Storage media", "old": "Tape", "new": "Disk + tape"},
    ]


def names(qos_class, user):
    return [transition.name for transition in qos_class.available_transitions(user)]


def test_available_transitions_follow_the_status_the_user_and_four_eyes(draft_class, admin, admin2, member):
    assert names(draft_class, admin) == ["propose"]
    assert names(draft_class, member) == []
    draft_class.propose(by=admin)
    # admin wrote the proposal: only another admin may approve it; either may send it back.
    assert names(draft_class, admin) == ["reject"]
    assert names(draft_class, admin2) == ["approve", "reject"]
    draft_class.approve(by=admin2)
    assert names(draft_class, admin) == ["deprecate"]
    draft_class.edit(by=admin2, changes={"title": "Changed"}, base_revision=None)
    assert names(draft_class, admin) == ["approve", "reject"]
    draft_class.reject(by=admin, reason="no")
    draft_class.deprecate(by=admin)
    assert names(draft_class, admin) == ["retire"]
    draft_class.retire(by=admin)
    assert names(draft_class, admin) == []
    assert names(draft_class, member) == []
