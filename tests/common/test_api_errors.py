"""One error contract for the whole API (common/api/errors.py): a rule's refusal is 409 {"detail", "code"},
a model's validation error is 400 {"field": [messages]} (non_field_errors for the rest), anything else is
DRF's. Once through the handler itself, and through an endpoint of each app."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import Http404
from rest_framework import views
from rest_framework.exceptions import NotFound, Throttled
from rest_framework.exceptions import ValidationError as DRFValidationError

from common.api.errors import exception_handler, validation_detail
from common.errors import DomainError
from engagement.models import EngagementError, Requirement
from engagement.models import IllegalTransition as RequirementIllegalTransition
from meetings.models import Action, ActionUpdate, Meeting, MeetingError, Person
from qos.models import CatalogueError, FourEyesViolation, IllegalTransition, StaleRevision, StorageQoSClass
from tests.meetings.meeting_factories import make_meeting, make_series, raise_action, zurich


class TooLate(DomainError):
    code = "too_late"


# --- The handler itself --------------------------------------------------------------------------------------


def test_a_refusal_by_a_rule_is_a_409_with_its_message_and_code():
    response = exception_handler(TooLate("The meeting is over."), {})
    assert response.status_code == 409
    assert response.data == {"detail": "The meeting is over.", "code": "too_late"}


def test_a_one_off_refusal_may_give_its_code_and_the_base_has_one():
    assert exception_handler(DomainError("No.", code="closed"), {}).data == {
        "detail": "No.",
        "code": "closed",
    }
    assert exception_handler(DomainError("No."), {}).data == {"detail": "No.", "code": "refused"}


def test_each_app_refuses_with_a_domain_error_and_keeps_its_codes():
    codes = {
        CatalogueError: "refused",
        IllegalTransition: "illegal_transition",
        FourEyesViolation: "four_eyes",
        StaleRevision: "stale_revision",
        EngagementError: "refused",
        RequirementIllegalTransition: "illegal_transition",
        MeetingError: "conflict",
    }
    for error_class, code in codes.items():
        error = error_class("Refused.")
        assert isinstance(error, DomainError)
        assert (error.message, error.code, str(error)) == ("Refused.", code, "Refused.")


def test_a_validation_error_is_a_400_by_field_with_the_rest_under_non_field_errors():
    error = DjangoValidationError(
        {"label": ["Too long.", "Lower case."], "__all__": ["Nothing was changed."]}
    )
    response = exception_handler(error, {})
    assert response.status_code == 400
    assert response.data == {
        "label": ["Too long.", "Lower case."],
        "non_field_errors": ["Nothing was changed."],
    }


def test_a_validation_error_of_no_field_is_under_non_field_errors():
    response = exception_handler(DjangoValidationError("Nothing was changed."), {})
    assert (response.status_code, response.data) == (400, {"non_field_errors": ["Nothing was changed."]})
    params = DjangoValidationError("%(value)s TB is too little.", params={"value": "0"})
    assert validation_detail(params) == {"non_field_errors": ["0 TB is too little."]}


def test_a_validation_error_answers_as_a_serializers_own_would():
    own = views.exception_handler(DRFValidationError({"label": ["Too long."]}), {})
    model = exception_handler(DjangoValidationError({"label": "Too long."}), {})
    assert (model.status_code, model.data) == (own.status_code, own.data)


@pytest.mark.parametrize(
    "error",
    [
        NotFound(),
        Http404(),
        DjangoPermissionDenied(),
        Throttled(wait=30),
        DRFValidationError({"x": ["Bad."]}),
    ],
    ids=lambda error: type(error).__name__,
)
def test_anything_else_is_answered_as_drf_does(error):
    ours, drfs = exception_handler(error, {}), views.exception_handler(error, {})
    assert (ours.status_code, ours.data) == (drfs.status_code, drfs.data)
    # Headers too, e.g. a throttle's Retry-After.
    assert dict(ours.items()) == dict(drfs.items())


def test_an_unexpected_error_is_left_to_django():
    # None: DRF raises it again, and Django answers 500 (and logs it).
    assert exception_handler(ValueError("a bug"), {}) is None


# --- Through the API of each app ----------------------------------------------------------------------------


def test_approving_a_class_twice_is_a_409_and_changes_nothing(api_for, admin2, approved_class):
    revision = approved_class.revision
    response = api_for(admin2).post(
        f"/api/v1/qos-classes/{approved_class.label}/approve/", {"base_revision": revision}, format="json"
    )
    assert response.status_code == 409
    body = response.json()
    assert body.keys() == {"detail", "code"}
    assert body["code"] == "illegal_transition"
    assert "approved" in body["detail"]
    assert StorageQoSClass.objects.get(pk=approved_class.pk).revision == revision


def test_an_edit_that_changes_nothing_is_a_400_under_non_field_errors(api_for, admin, draft_class):
    response = api_for(admin).patch(
        f"/api/v1/qos-classes/{draft_class.label}/", {"title": draft_class.title}, format="json"
    )
    assert (response.status_code, response.json()) == (400, {"non_field_errors": ["Nothing was changed."]})


def test_renaming_an_approved_class_is_a_400_on_its_label(api_for, admin, approved_class):
    response = api_for(admin).patch("/api/v1/qos-classes/SAFE/", {"label": "SAFER"}, format="json")
    assert response.status_code == 400
    assert response.json() == {"label": ["The label of an approved class is fixed: Rucio RSEs carry SAFE."]}


@pytest.fixture
def requirement(liaison_cta, experiments):
    return Requirement.objects.file(
        by=liaison_cta,
        experiment=experiments["CTA"],
        title="Raw camera data archive",
        storage_media="tape",
        access_latency="nearline",
        min_durability=Decimal("99.999"),
        copies=2,
        volume_tb=Decimal("500"),
    )


def test_an_illegal_requirement_transition_is_a_409(api_for, admin, requirement):
    response = api_for(admin).post(f"/api/v1/requirements/{requirement.pk}/satisfy/", {}, format="json")
    assert response.status_code == 409
    assert response.json() == {
        "detail": "This requirement is filed: “Mark as satisfied” applies only to an accepted requirement.",
        "code": "illegal_transition",
    }
    assert Requirement.objects.get().status == "filed"


def test_a_document_that_skips_a_step_is_a_400_on_its_status(api_for, liaison_cta, experiments):
    body = {"experiment": "CTA", "title": "Plan", "status": "approved"}
    response = api_for(liaison_cta).post("/api/v1/documents/", body, format="json")
    assert response.status_code == 400
    assert response.json() == {"status": ["A new document starts as a draft or submitted."]}


def test_a_model_error_raised_while_validating_has_the_same_shape(api_for, coordinator, experiments):
    # Experiment.clean() runs in the serializer's validate(): DRF's is_valid() answers it, not the handler.
    body = {"short_name": "records", "name": "Records"}
    response = api_for(coordinator).post("/api/v1/experiments/", body, format="json")
    assert response.status_code == 400
    assert response.json() == {
        "short_name": ["“records” names a page of the portal; choose another short name."]
    }


@pytest.mark.django_db
def test_a_meeting_the_series_already_has_is_a_409(api_for, coordinator):
    meeting = make_meeting(make_series(), zurich(2020, 3, 18))
    client = api_for(coordinator)
    assert client.post(f"/api/v1/meetings/{meeting.pk}/next/", {}, format="json").status_code == 201
    response = client.post(f"/api/v1/meetings/{meeting.pk}/next/", {}, format="json")
    assert response.status_code == 409
    assert response.json() == {
        "detail": "The series already has a meeting at 2020-04-01 14:00 CEST.",
        "code": "conflict",
    }
    assert Meeting.objects.count() == 2


@pytest.mark.django_db
def test_an_action_update_that_says_nothing_is_a_400_under_non_field_errors(api_for, coordinator):
    meeting = make_meeting(make_series(), zurich(2020, 3, 18))
    action = raise_action(meeting, [Person.objects.create(name="Aris Fkiaras")])
    response = api_for(coordinator).post(f"/api/v1/actions/{action.pk}/updates/", {}, format="json")
    assert response.status_code == 400
    assert response.json() == {"non_field_errors": ["Say what happened, or change the status."]}
    assert not ActionUpdate.objects.filter(action=action).exists()
    assert Action.objects.get(pk=action.pk).status == action.status
