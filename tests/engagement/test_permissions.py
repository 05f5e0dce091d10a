"""Who may do what, on pages and in the API: a liaison writes for their own experiments only."""

from __future__ import annotations

import datetime

import pytest
from rest_framework.test import APIClient

from engagement.models import Contact, Document, EngagementRecord, Requirement, RequirementComment

from .conftest import ARCHIVE_NEEDS

pytestmark = pytest.mark.django_db

FORM_NEEDS = {key: ("" if value is None else value) for key, value in ARCHIVE_NEEDS.items()} | {
    "experiment": "SKA"
}


@pytest.fixture
def ska_items(experiments, ska_requirement, coordinator):
    ska = experiments["SKA"]
    return {
        "requirement": ska_requirement,
        "record": EngagementRecord.objects.create(
            experiment=ska, subject="Contact SKA to organise meetings", date=datetime.date(2020, 3, 18)
        ),
        "document": Document.objects.create(experiment=ska, title="SKA data policy"),
        "contact": Contact.objects.create(experiment=ska, name="Jo Bloggs"),
    }


def snapshot():
    """Everything a write could have changed."""
    return (
        list(Requirement.objects.values_list("pk", "experiment__short_name", "status", "title", "copies")),
        list(EngagementRecord.objects.values_list("pk", "experiment__short_name", "subject", "status")),
        list(Document.objects.values_list("pk", "experiment__short_name", "title", "status")),
        list(Contact.objects.values_list("pk", "experiment__short_name", "name")),
        RequirementComment.objects.count(),
    )


def ska_page_writes(items):
    r, rec, doc, con = (items[k].pk for k in ("requirement", "record", "document", "contact"))
    return [
        ("get", "/experiments/SKA/requirements/new/", {}),
        ("post", "/experiments/SKA/requirements/new/", FORM_NEEDS),
        ("post", "/requirements/new/", FORM_NEEDS),
        ("get", f"/requirements/{r}/edit/", {}),
        ("post", f"/requirements/{r}/edit/", FORM_NEEDS | {"copies": "3"}),
        ("post", f"/requirements/{r}/withdraw/", {"comment": "not ours"}),
        ("post", f"/requirements/{r}/comments/", {"text": "hello"}),
        ("post", "/experiments/SKA/records/new/", {"kind": "contact", "subject": "x", "date": "2030-01-01", "status": "pending"}),
        ("post", f"/experiments/SKA/records/{rec}/edit/", {"kind": "contact", "subject": "x", "date": "2030-01-01", "status": "done"}),
        ("post", "/experiments/SKA/documents/new/", {"title": "x", "status": "draft"}),
        ("post", f"/experiments/SKA/documents/{doc}/edit/", {"title": "x", "status": "submitted"}),
        ("post", "/experiments/SKA/contacts/new/", {"name": "x"}),
        ("post", f"/experiments/SKA/contacts/{con}/edit/", {"name": "x"}),
        ("post", "/experiments/SKA/edit/", {"name": "x"}),
    ]  # fmt: skip


def ska_api_writes(items):
    r, rec, doc, con = (items[k].pk for k in ("requirement", "record", "document", "contact"))
    record = {
        "experiment": "SKA",
        "kind": "contact",
        "subject": "x",
        "date": "2030-01-01",
        "status": "pending",
    }
    return [
        ("post", "/api/v1/requirements/", {**ARCHIVE_NEEDS, "experiment": "SKA"}),
        ("patch", f"/api/v1/requirements/{r}/", {"copies": 3}),
        ("post", f"/api/v1/requirements/{r}/withdraw/", {"comment": "not ours"}),
        ("post", f"/api/v1/requirements/{r}/comments/", {"text": "hello"}),
        ("post", "/api/v1/engagement-records/", record),
        ("patch", f"/api/v1/engagement-records/{rec}/", {"status": "done"}),
        ("post", "/api/v1/documents/", {"experiment": "SKA", "title": "x"}),
        ("patch", f"/api/v1/documents/{doc}/", {"status": "submitted"}),
        ("post", "/api/v1/contacts/", {"experiment": "SKA", "name": "x"}),
        ("patch", f"/api/v1/contacts/{con}/", {"name": "x"}),
        ("patch", "/api/v1/experiments/SKA/", {"name": "x"}),
    ]


def test_a_cta_liaison_cannot_create_or_edit_anything_of_ska_on_pages(client_for, liaison_cta, ska_items):
    client = client_for(liaison_cta)
    before = snapshot()
    for method, url, data in ska_page_writes(ska_items):
        response = getattr(client, method)(url, data)
        assert response.status_code == 403, (method, url, response.status_code)
    assert snapshot() == before


def test_a_cta_liaison_cannot_create_or_edit_anything_of_ska_in_the_api(api_for, liaison_cta, ska_items):
    client = api_for(liaison_cta)
    before = snapshot()
    for method, url, data in ska_api_writes(ska_items):
        response = getattr(client, method)(url, data, format="json")
        assert response.status_code == 403, (method, url, response.status_code, response.content)
    assert snapshot() == before


def test_a_cta_liaison_writes_for_cta_on_pages_and_in_the_api(client_for, api_for, liaison_cta, experiments):
    response = client_for(liaison_cta).post(
        "/experiments/CTA/records/new/",
        {"kind": "meeting", "subject": "First CTA meeting", "date": "2030-01-01", "status": "pending"},
    )
    assert response.status_code == 302
    api = api_for(liaison_cta)
    created = api.post("/api/v1/requirements/", {**ARCHIVE_NEEDS, "experiment": "CTA"}, format="json")
    assert created.status_code == 201, created.content
    assert (
        api.patch(f"/api/v1/requirements/{created.json()['id']}/", {"copies": 3}, format="json").status_code
        == 200
    )
    assert EngagementRecord.objects.get().created_by == liaison_cta
    assert Requirement.objects.get().copies == 3


def test_a_requirement_cannot_be_moved_to_another_experiment(
    api_for, liaison_cta, liaison_ska, cta_requirement
):
    # Even by someone who is a liaison of both.
    cta_requirement.experiment.liaisons.add(liaison_ska)
    response = api_for(liaison_ska).patch(
        f"/api/v1/requirements/{cta_requirement.pk}/", {"experiment": "SKA"}, format="json"
    )
    assert response.status_code == 400
    assert "stays with its experiment" in response.json()["experiment"][0]
    assert Requirement.objects.get().experiment.short_name == "CTA"


@pytest.mark.parametrize(
    "url",
    [
        "/experiments/",
        "/experiments/SKA/",
        "/requirements/",
        "/requirements/gaps/",
        "/experiments/records/",
        "/experiments/documents/",
    ],
)
def test_members_read_every_page(client_for, member, ska_items, url):
    assert client_for(member).get(url).status_code == 200


def test_members_read_the_requirement_and_the_api(client_for, api_for, member, ska_items):
    pk = ska_items["requirement"].pk
    assert client_for(member).get(f"/requirements/{pk}/").status_code == 200
    api = api_for(member)
    for url in ("experiments/SKA/", f"requirements/{pk}/", "engagement-records/", "documents/", "contacts/"):
        assert api.get(f"/api/v1/{url}").status_code == 200, url


def test_members_change_nothing(client_for, api_for, member, ska_items):
    before = snapshot()
    for method, url, data in ska_page_writes(ska_items):
        assert getattr(client_for(member), method)(url, data).status_code == 403, url
    for method, url, data in ska_api_writes(ska_items):
        assert getattr(api_for(member), method)(url, data, format="json").status_code == 403, url
    pk = ska_items["requirement"].pk
    assert client_for(member).post(f"/requirements/{pk}/accept/").status_code == 403
    assert api_for(member).post(f"/api/v1/requirements/{pk}/accept/").status_code == 403
    assert snapshot() == before


def test_an_outsider_without_a_role_reads_nothing(client_for, api_for, outsider, ska_items):
    pk = ska_items["requirement"].pk
    for url in ("/experiments/", "/experiments/SKA/", "/requirements/", f"/requirements/{pk}/"):
        assert client_for(outsider).get(url).status_code == 403, url
    for url in ("experiments/", "requirements/", "engagement-records/", "documents/", "contacts/"):
        assert api_for(outsider).get(f"/api/v1/{url}").status_code == 403, url


def test_anonymous_visitors_are_sent_to_log_in_and_the_api_refuses_them(client, ska_items):
    response = client.get("/requirements/")
    assert response.status_code == 302
    assert response.url.startswith("/accounts/login/")
    assert APIClient().get("/api/v1/requirements/").status_code == 401


def test_qos_admins_review_but_do_not_file_or_edit_requirements(
    client_for, api_for, admin, ska_items, catalogue
):
    pk = ska_items["requirement"].pk
    client = client_for(admin)
    assert client.get("/experiments/SKA/requirements/new/").status_code == 403
    assert client.get(f"/requirements/{pk}/edit/").status_code == 403
    assert client.post(f"/requirements/{pk}/review/", {"comment": "on it"}).status_code == 302
    api = api_for(admin)
    assert api.post(f"/api/v1/requirements/{pk}/accept/", {}, format="json").status_code == 200
    assert (
        api.post(f"/api/v1/requirements/{pk}/link/", {"qos_class": "SAFE"}, format="json").status_code == 200
    )
    assert api.patch(f"/api/v1/requirements/{pk}/", {"copies": 5}, format="json").status_code == 403
    requirement = Requirement.objects.get(pk=pk)
    assert (requirement.status, requirement.copies) == ("accepted", 2)
    assert list(requirement.linked_classes.values_list("label", flat=True)) == ["SAFE"]


def test_coordinators_keep_records_of_every_experiment_but_file_no_requirement(
    client_for, api_for, coordinator, experiments
):
    client = client_for(coordinator)
    response = client.post(
        "/experiments/SKA/records/new/",
        {"kind": "contact", "subject": "Contact SKA", "date": "2030-01-01", "status": "pending"},
    )
    assert response.status_code == 302
    assert client.get("/experiments/SKA/requirements/new/").status_code == 403
    response = api_for(coordinator).post(
        "/api/v1/requirements/", {**ARCHIVE_NEEDS, "experiment": "SKA"}, format="json"
    )
    assert response.status_code == 403
    assert EngagementRecord.objects.get().experiment.short_name == "SKA"
    assert not Requirement.objects.exists()


def test_only_coordinators_create_experiments_and_name_their_liaisons(
    client_for, api_for, coordinator, liaison_cta
):
    assert client_for(liaison_cta).get("/experiments/new/").status_code == 403
    response = api_for(coordinator).post(
        "/api/v1/experiments/",
        {"short_name": "FAIR", "name": "FAIR", "liaisons": ["dave-cta"]},
        format="json",
    )
    assert response.status_code == 201, response.content
    assert response.json()["iam_group"] == "escape/fair"
    assert list(
        liaison_cta.liaison_experiments.order_by("short_name").values_list("short_name", flat=True)
    ) == [
        "CTA",
        "FAIR",
    ]


# --- refusals say why, in the same words on the pages and in the API -----------------------------------------
SKA_REQUIREMENTS = "Only liaisons of SKA may file, edit and withdraw its requirements."


def test_a_liaison_of_another_experiment_gets_the_same_reason_on_post_and_patch(
    api_for, liaison_cta, ska_items
):
    api = api_for(liaison_cta)
    filed = api.post("/api/v1/requirements/", {**ARCHIVE_NEEDS, "experiment": "SKA"}, format="json")
    edited = api.patch(f"/api/v1/requirements/{ska_items['requirement'].pk}/", {"copies": 3}, format="json")
    withdrawn = api.post(f"/api/v1/requirements/{ska_items['requirement'].pk}/withdraw/", {}, format="json")
    for response in (filed, edited, withdrawn):
        assert response.status_code == 403
        assert response.json() == {"detail": SKA_REQUIREMENTS}


@pytest.mark.parametrize(
    ("item", "path", "post", "patch", "reason"),
    [
        ("record", "engagement-records", {"kind": "contact", "subject": "x", "date": "2030-01-01"}, {"status": "done"}, "contacts and meetings"),
        ("document", "documents", {"title": "x"}, {"status": "submitted"}, "documents"),
        ("contact", "contacts", {"name": "x"}, {"name": "y"}, "contacts"),
    ],
)  # fmt: skip
def test_a_liaison_of_another_experiment_gets_the_same_reason_for_its_records_documents_and_contacts(
    api_for, liaison_cta, ska_items, item, path, post, patch, reason
):
    api = api_for(liaison_cta)
    added = api.post(f"/api/v1/{path}/", {"experiment": "SKA", **post}, format="json")
    changed = api.patch(f"/api/v1/{path}/{ska_items[item].pk}/", patch, format="json")
    for response in (added, changed):
        assert response.status_code == 403
        assert response.json() == {"detail": f"Only liaisons of SKA and coordinators may keep its {reason}."}


def test_the_pages_refuse_a_liaison_of_another_experiment_with_the_reason(client_for, liaison_cta, ska_items):
    client = client_for(liaison_cta)
    pk = ska_items["requirement"].pk
    for url in (
        "/experiments/SKA/requirements/new/",
        f"/requirements/{pk}/edit/",
        f"/requirements/{pk}/withdraw/",
    ):
        response = client.get(url)
        assert response.status_code == 403
        assert SKA_REQUIREMENTS in response.content.decode(), url
    response = client.post(f"/requirements/{pk}/comments/", {"text": "hello"})
    assert "Only liaisons of SKA and QoS admins take part in this thread." in response.content.decode()
    response = client.get(f"/experiments/SKA/contacts/{ska_items['contact'].pk}/edit/")
    assert "Only liaisons of SKA and coordinators may keep its contacts." in response.content.decode()


def test_a_member_is_told_who_reviews_and_who_creates_experiments(client_for, member, ska_items):
    pk = ska_items["requirement"].pk
    reason = (
        "Only QoS admins review, accept, reject and mark requirements satisfied, and link classes to them."
    )
    for method, url in (("get", f"/requirements/{pk}/accept/"), ("post", f"/requirements/{pk}/classes/")):
        response = getattr(client_for(member), method)(url)
        assert response.status_code == 403
        assert reason in response.content.decode(), url
    page = client_for(member).get("/experiments/new/")
    assert page.status_code == 403
    assert "Only coordinators create experiments." in page.content.decode()
