"""The changes that write notifications issue a number of SQL queries that does not grow with recipients."""

from __future__ import annotations

import datetime

import pytest
from django.contrib.auth.models import Group
from django.db import connection
from django.test.utils import CaptureQueriesContext

from meetings.models import Person
from notifications.models import Notification
from portal.choices import Role
from qos.models import StorageQoSClass
from tests.conftest import SAFE_CONTENT
from tests.meetings.meeting_factories import make_meeting, make_series

pytestmark = pytest.mark.django_db

SAFE_MEETING_START = datetime.datetime(2026, 3, 4, 13, 0, tzinfo=datetime.UTC)


def more_admins(django_user_model, count: int, start: int = 0) -> None:
    group = Group.objects.get(name=Role.QOS_ADMIN)
    users = django_user_model.objects.bulk_create(
        django_user_model(username=f"admin-{i}", email=f"admin-{i}@example.org")
        for i in range(start, start + count)
    )
    group.user_set.add(*users)


def queries_of(call) -> int:
    with CaptureQueriesContext(connection) as queries:
        call()
    return len(queries)


def test_proposing_a_class_costs_the_same_for_2_or_40_admins(api_for, admin, django_user_model, no_chat):
    client = api_for(admin)
    client.get("/api/v1/qos-classes/")  # warm up: the first request also loads the user's permissions
    first = StorageQoSClass.objects.create_draft(by=admin, **{**SAFE_CONTENT, "label": "ONE"})
    second = StorageQoSClass.objects.create_draft(by=admin, **{**SAFE_CONTENT, "label": "TWO"})
    more_admins(django_user_model, 2)
    few = queries_of(lambda: client.post("/api/v1/qos-classes/ONE/propose/", {}, format="json"))
    more_admins(django_user_model, 38, start=2)
    many = queries_of(lambda: client.post("/api/v1/qos-classes/TWO/propose/", {}, format="json"))
    assert Notification.objects.filter(event_key__startswith=f"class:{second.pk}:").count() == 40
    assert Notification.objects.filter(event_key__startswith=f"class:{first.pk}:").count() == 2
    assert many == few


def test_raising_an_action_on_its_page_costs_the_same_for_2_or_30_owners(client_for, coordinator):
    client = client_for(coordinator)
    client.get("/actions/")  # warm up: the first request also loads the user's permissions
    meeting = make_meeting(make_series(), SAFE_MEETING_START)
    people = Person.objects.bulk_create(
        Person(name=f"Owner {i}", email=f"owner{i}@example.org") for i in range(30)
    )

    def raise_for(owners):
        body = {"text": "Tag the RSEs", "owners": [person.pk for person in owners], "raised_at": meeting.pk}
        response = client.post("/actions/new/", body)
        assert response.status_code == 302, response.content

    few = queries_of(lambda: raise_for(people[:2]))
    many = queries_of(lambda: raise_for(people))
    assert Notification.objects.filter(kind="action_assigned").count() == 32
    assert many == few
