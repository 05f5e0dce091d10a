"""Each person chooses per kind how they hear of it, on /account/ and through /api/v1/me/notifications/; a bad
address is refused on the forms."""

from __future__ import annotations

import pytest

from meetings.models import Person
from notifications.choices import Delivery, Kind
from notifications.models import Preference

pytestmark = pytest.mark.django_db


def test_the_account_page_shows_the_defaults_and_saves_a_choice(client_for, member):
    client = client_for(member)
    page = client.get("/account/")
    assert page.status_code == 200
    assert page.context["form"][Kind.ACTION_ASSIGNED].value() == Delivery.IMMEDIATELY  # asks to act
    assert page.context["form"][Kind.MINUTES_SAVED].value() == Delivery.DIGEST
    choices = {field.name: field.value() for field in page.context["form"]}
    saved = client.post("/account/", {**choices, Kind.MINUTES_SAVED: Delivery.OFF})
    assert saved.status_code == 302
    assert Preference.objects.of_user(member)[Kind.MINUTES_SAVED] == Delivery.OFF


def test_a_bad_choice_on_the_account_page_is_refused_and_changes_nothing(client_for, member):
    page = client_for(member).post("/account/", {Kind.MINUTES_SAVED: "sometimes"})
    assert page.status_code == 200 and page.context["form"].errors
    assert not Preference.objects.exists()


def test_the_api_reads_and_patches_my_preferences_only(api_for, member, admin):
    client = api_for(member)
    mine = client.get("/api/v1/me/notifications/")
    assert mine.status_code == 200
    assert mine.json()[Kind.CLASS_AWAITS_APPROVAL] == Delivery.IMMEDIATELY
    changed = client.patch("/api/v1/me/notifications/", {Kind.MINUTES_SAVED: "off"}, format="json")
    assert changed.status_code == 200 and changed.json()[Kind.MINUTES_SAVED] == "off"
    assert Preference.objects.of_user(admin)[Kind.MINUTES_SAVED] == Delivery.DIGEST


def test_the_api_refuses_a_bad_delivery_with_400_and_changes_nothing(api_for, member):
    answer = api_for(member).patch(
        "/api/v1/me/notifications/",
        {Kind.MINUTES_SAVED: "off", Kind.ACTION_ASSIGNED: "hourly"},
        format="json",
    )
    assert answer.status_code == 400 and Kind.ACTION_ASSIGNED in answer.json()
    assert not Preference.objects.exists()


def test_the_api_needs_a_login(client):
    assert client.get("/api/v1/me/notifications/").status_code == 401


def test_a_bad_address_is_refused_on_the_person_form(client_for, coordinator):
    page = client_for(coordinator).post("/people/new/", {"name": "Paul Millar", "email": "paul at desy"})
    assert page.status_code == 200 and "email" in page.context["form"].errors
    assert not Person.objects.exists()
