"""Bad needs get a clear error, on the page and in the API, and nothing is saved."""

from __future__ import annotations

import datetime

import pytest
from django.utils import timezone

from engagement.models import Requirement, RequirementEvent

from .conftest import ARCHIVE_NEEDS

pytestmark = pytest.mark.django_db

YESTERDAY = timezone.localdate() - datetime.timedelta(days=1)

BAD_NEEDS = [
    pytest.param(
        "volume_tb", "-5", "The volume must be more than 0 TB (-5 TB was given).", id="negative-volume"
    ),
    pytest.param("volume_tb", "0", "The volume must be more than 0 TB (0 TB was given).", id="zero-volume"),
    pytest.param("storage_media", "floppy", "Unknown storage media “floppy”", id="unknown-media"),
    pytest.param("access_latency", "instant", "Unknown access latency “instant”", id="unknown-latency"),
    pytest.param("needed_by", YESTERDAY.isoformat(), f"{YESTERDAY:%Y-%m-%d} is in the past", id="past-date"),
    pytest.param("copies", "0", "At least one copy.", id="no-copies"),
    pytest.param(
        "min_durability", "101", "No storage promises more than 99.999999999 %.", id="durability-over-100"
    ),
    pytest.param("retention_days", "-1", "Keep the data at least one day", id="negative-retention"),
]


def form_data(**overrides):
    data = {key: ("" if value is None else str(value)) for key, value in ARCHIVE_NEEDS.items()}
    return data | overrides


@pytest.mark.parametrize(("field", "value", "message"), BAD_NEEDS)
def test_the_form_says_what_is_wrong_keeps_what_was_typed_and_saves_nothing(
    client_for, liaison_cta, field, value, message
):
    response = client_for(liaison_cta).post("/experiments/CTA/requirements/new/", form_data(**{field: value}))
    assert response.status_code == 200
    form = response.context["form"]
    assert any(message in error for error in form.errors[field]), form.errors
    assert form[field].value() == value
    assert form["title"].value() == ARCHIVE_NEEDS["title"]
    assert message in response.content.decode()
    assert not Requirement.objects.exists()
    assert not RequirementEvent.objects.exists()


@pytest.mark.parametrize(("field", "value", "message"), BAD_NEEDS)
def test_the_api_answers_400_naming_the_field_and_saves_nothing(api_for, liaison_cta, field, value, message):
    body = {**ARCHIVE_NEEDS, "experiment": "CTA", field: value}
    response = api_for(liaison_cta).post("/api/v1/requirements/", body, format="json")
    assert response.status_code == 400, response.content
    assert any(message in error for error in response.json()[field]), response.json()
    assert not Requirement.objects.exists()


def test_every_error_of_a_form_is_reported_at_once(client_for, liaison_cta):
    response = client_for(liaison_cta).post(
        "/experiments/CTA/requirements/new/",
        form_data(volume_tb="-1", storage_media="floppy", needed_by=YESTERDAY.isoformat()),
    )
    assert set(response.context["form"].errors) == {"volume_tb", "storage_media", "needed_by"}


def test_a_needed_by_date_that_has_since_passed_does_not_block_other_edits(cta_requirement, liaison_cta):
    Requirement.objects.filter(pk=cta_requirement.pk).update(needed_by=datetime.date(2020, 4, 1))
    requirement = Requirement.objects.get()
    requirement.edit(by=liaison_cta, changes={"copies": 3})
    assert (requirement.copies, requirement.needed_by) == (3, datetime.date(2020, 4, 1))


def test_editing_to_bad_needs_changes_nothing(client_for, api_for, cta_requirement, liaison_cta):
    response = client_for(liaison_cta).post(
        f"/requirements/{cta_requirement.pk}/edit/", form_data(volume_tb="-3", comment="oops")
    )
    assert "The volume must be more than 0 TB" in response.content.decode()
    response = api_for(liaison_cta).patch(
        f"/api/v1/requirements/{cta_requirement.pk}/", {"storage_media": "floppy"}, format="json"
    )
    assert response.status_code == 400
    requirement = Requirement.objects.get()
    assert (requirement.volume_tb, requirement.storage_media) == (500, "tape")
    assert requirement.events.count() == 1


def test_a_reserved_or_duplicate_short_name_is_refused(api_for, coordinator, experiments):
    api = api_for(coordinator)
    for short_name, message in (
        ("records", "names a page of the portal"),
        ("cta", "already an experiment CTA"),
    ):
        response = api.post("/api/v1/experiments/", {"short_name": short_name, "name": "x"}, format="json")
        assert response.status_code == 400
        assert message in str(response.json()), response.json()
