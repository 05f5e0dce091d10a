"""Engagement pages and API lists issue a number of SQL queries that does not grow with their rows."""

from __future__ import annotations

import datetime
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from engagement.models import (
    ClassLink,
    Contact,
    Document,
    EngagementRecord,
    Experiment,
    Requirement,
)

pytestmark = pytest.mark.django_db


def grow(count: int, start: int, experiments: dict, catalogue: dict, users: list) -> None:
    """``count`` more of everything, spread over CTA and SKA, some with links, contacts and owners."""
    cta, ska = experiments["CTA"], experiments["SKA"]
    requirements = Requirement.objects.bulk_create(
        Requirement(
            experiment=cta if i % 2 else ska,
            title=f"Requirement {i}",
            storage_media=["tape", "ssd", "disk", ""][i % 4],
            access_latency=["nearline", "online", ""][i % 3],
            copies=1 + i % 2,
            volume_tb=Decimal(i + 1),
            retention_days=[None, 180][i % 2],
            min_durability=[None, Decimal("99.999")][i % 2],
            filed_by=users[i % len(users)],
        )
        for i in range(start, start + count)
    )
    ClassLink.objects.bulk_create(
        ClassLink(requirement=r, qos_class=catalogue["SAFE"], linked_by=users[0]) for r in requirements[::3]
    )
    contacts = Contact.objects.bulk_create(
        Contact(experiment=cta, name=f"Contact {i}") for i in range(start, start + count)
    )
    records = EngagementRecord.objects.bulk_create(
        EngagementRecord(
            experiment=cta if i % 2 else ska, subject=f"Record {i}", date=datetime.date(2020, 3, 18)
        )
        for i in range(start, start + count)
    )
    EngagementRecord.contacts.through.objects.bulk_create(
        EngagementRecord.contacts.through(engagementrecord=r, contact=c)
        for r, c in zip(records, contacts, strict=True)
        if r.experiment_id == cta.pk
    )
    Document.objects.bulk_create(
        Document(experiment=cta if i % 2 else ska, title=f"Document {i}", owner=users[i % len(users)])
        for i in range(start, start + count)
    )
    cta.liaisons.add(*users)


def count_queries(client, url: str) -> int:
    client.get(url)  # warm up: the first request of a client also loads the user's permissions
    with CaptureQueriesContext(connection) as queries:
        response = client.get(url)
    assert response.status_code == 200, url
    return len(queries)


@pytest.fixture
def users(django_user_model):
    return [django_user_model.objects.create_user(username=f"user-{i}") for i in range(6)]


PAGES = [
    "/experiments/",
    "/experiments/CTA/",
    "/requirements/",
    "/requirements/?experiment=CTA&status=filed&gap=false",
    "/requirements/gaps/",
    "/experiments/records/",
    "/experiments/documents/?experiment=CTA",
    "/",
]


@pytest.mark.parametrize("url", PAGES)
def test_pages_queries_do_not_grow_with_rows(client_for, liaison_cta, experiments, catalogue, users, url):
    client = client_for(liaison_cta)
    grow(5, 0, experiments, catalogue, users[:2])
    few = count_queries(client, url)
    grow(45, 5, experiments, catalogue, users)
    assert count_queries(client, url) == few


def test_the_experiment_list_does_not_grow_with_experiments(
    client_for, member, experiments, catalogue, users
):
    client = client_for(member)
    few = count_queries(client, "/experiments/")
    more = Experiment.objects.bulk_create(
        Experiment(short_name=f"EXP{i}", name=f"Experiment {i}") for i in range(40)
    )
    for experiment in more:
        experiment.liaisons.add(users[0])
    assert count_queries(client, "/experiments/") == few


def test_a_requirement_page_does_not_grow_with_its_history_comments_and_links(
    client_for, admin, catalogue, cta_requirement, liaison_cta
):
    client = client_for(admin)
    url = f"/requirements/{cta_requirement.pk}/"
    cta_requirement.add_comment(by=liaison_cta, text="first")
    # One link from the start: the coverage of linked classes reads the RSEs once there is a link.
    cta_requirement.link_class(catalogue["SAFE"], by=admin)
    few = count_queries(client, url)
    for i in range(20):
        cta_requirement.add_comment(by=liaison_cta if i % 2 else admin, text=f"comment {i}")
    for label in ("FAST", "CHEAP-ANALYSIS", "OPPORTUNISTIC"):
        cta_requirement.link_class(catalogue[label], by=admin)
    cta_requirement.edit(by=liaison_cta, changes={"copies": 3})
    assert count_queries(client, url) == few


API_LISTS = [
    "/api/v1/experiments/",
    "/api/v1/requirements/",
    "/api/v1/requirements/?gap=true&page_size=500",
    "/api/v1/engagement-records/",
    "/api/v1/documents/",
    "/api/v1/contacts/",
]


@pytest.mark.parametrize("url", API_LISTS)
def test_api_lists_queries_do_not_grow_with_rows(api_for, member, experiments, catalogue, users, url):
    client = api_for(member)
    grow(5, 0, experiments, catalogue, users[:2])
    few = count_queries(client, url)
    grow(45, 5, experiments, catalogue, users)
    assert count_queries(client, url) == few
