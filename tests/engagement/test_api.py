"""The engagement API: natural keys, filters, the lifecycle as actions, 400/403/409 where they apply."""

from __future__ import annotations

import datetime

import pytest

from engagement.models import Contact, Document, EngagementRecord, Requirement

from .conftest import ARCHIVE_NEEDS, GAP_NEEDS

pytestmark = pytest.mark.django_db

URL = "/api/v1/requirements/"


@pytest.fixture
def gap_requirement(liaison_cta, experiments):
    return Requirement.objects.file(by=liaison_cta, experiment=experiments["CTA"], **GAP_NEEDS)


def test_experiments_are_looked_up_by_short_name_with_liaisons_by_username(api_for, member, liaison_cta):
    Contact.objects.create(experiment=liaison_cta.liaison_experiments.get(), name="Ada", role="data manager")
    body = api_for(member).get("/api/v1/experiments/CTA/").json()
    assert body["short_name"] == "CTA"
    assert body["liaisons"] == ["dave-cta"]
    assert body["iam_group"] == "escape/cta"
    assert body["contacts"] == [
        {"id": body["contacts"][0]["id"], "name": "Ada", "role": "data manager", "email": ""}
    ]
    assert body["url"].endswith("/api/v1/experiments/CTA/")


def test_a_liaison_files_a_requirement_and_gets_the_classes_that_fit(api_for, liaison_cta, catalogue):
    body = {**ARCHIVE_NEEDS, "experiment": "CTA", "comment": "For the first telescopes"}
    response = api_for(liaison_cta).post(URL, body, format="json")
    assert response.status_code == 201, response.content
    created = response.json()
    assert (created["experiment"], created["status"], created["filed_by"]) == ("CTA", "filed", "dave-cta")
    assert created["matching_classes"] == ["SAFE"]
    assert created["is_gap"] is False
    assert Requirement.objects.get().events.get().comment == "For the first telescopes"


def test_the_detail_holds_every_approved_class_property_by_property(
    api_for, member, catalogue, gap_requirement
):
    body = api_for(member).get(f"{URL}{gap_requirement.pk}/").json()
    assert body["is_gap"] is True
    assert body["matching_classes"] == []
    fast = next(m for m in body["matches"] if m["qos_class"] == "FAST")
    assert fast["fits"] is False
    assert {c["property"]: (c["fits"], c["reason"]) for c in fast["checks"]}["retention"] == (
        False,
        "Keeps data 90 days only; 180 asked for.",
    )
    assert [c["property"] for c in fast["checks"]] == [
        "storage_media",
        "access_latency",
        "durability",
        "copies",
        "retention",
        "throughput",
    ]


def test_the_list_filters_by_experiment_status_and_gap(
    api_for, member, admin, catalogue, cta_requirement, gap_requirement, ska_requirement
):
    cta_requirement.take("accept", by=admin)
    client = api_for(member)

    def titles(query: str) -> list[str]:
        return sorted(r["title"] for r in client.get(f"{URL}?{query}").json()["results"])

    assert titles("experiment=SKA") == ["SKA visibilities"]
    assert titles("experiment=CTA&experiment=SKA&status=filed") == [
        "Hot analysis data, two SSD copies",
        "SKA visibilities",
    ]
    assert titles("status=accepted") == ["Raw camera data archive"]
    assert titles("gap=true") == ["Hot analysis data, two SSD copies"]
    response = client.get(f"{URL}?experiment=NOPE")
    assert response.status_code == 400
    assert "experiment" in response.json()


def test_an_admin_runs_the_lifecycle_through_actions(api_for, admin, catalogue, gap_requirement):
    client = api_for(admin)
    url = f"{URL}{gap_requirement.pk}/"
    assert (
        client.post(f"{url}review/", {"comment": "Looking"}, format="json").json()["status"] == "under-review"
    )
    assert client.post(f"{url}accept/", {}, format="json").json()["status"] == "accepted"
    linked = client.post(f"{url}link/", {"qos_class": "FAST", "note": "close enough"}, format="json").json()
    assert [link["qos_class"] for link in linked["linked_classes"]] == ["FAST"]
    assert linked["linked_classes"][0]["linked_by"] == "alice-admin"
    assert linked["is_gap"] is False
    assert client.post(f"{url}satisfy/", {}, format="json").json()["status"] == "satisfied"
    history = client.get(f"{url}history/").json()["results"]
    assert [(e["kind"], e["to_status"], e["qos_class"]) for e in history] == [
        ("status", "satisfied", None),
        ("linked", "accepted", "FAST"),
        ("status", "accepted", None),
        ("status", "under-review", None),
        ("filed", "filed", None),
    ]


def test_a_step_from_the_wrong_status_is_a_409_that_says_why(api_for, admin, gap_requirement):
    response = api_for(admin).post(f"{URL}{gap_requirement.pk}/satisfy/", {}, format="json")
    assert response.status_code == 409
    assert response.json()["code"] == "illegal_transition"
    assert response.json()["detail"] == (
        "This requirement is filed: “Mark as satisfied” applies only to an accepted requirement."
    )
    assert Requirement.objects.get().status == "filed"


def test_rejection_without_a_reason_is_a_400(api_for, admin, gap_requirement):
    response = api_for(admin).post(f"{URL}{gap_requirement.pk}/reject/", {}, format="json")
    assert response.status_code == 400
    assert response.json() == {"comment": ["Say why, for the experiment's liaisons."]}


def test_linking_an_unknown_class_is_a_400(api_for, admin, gap_requirement):
    response = api_for(admin).post(f"{URL}{gap_requirement.pk}/link/", {"qos_class": "NOPE"}, format="json")
    assert response.status_code == 400
    assert "qos_class" in response.json()


def test_editing_an_accepted_requirement_is_a_409(api_for, admin, liaison_cta, gap_requirement):
    gap_requirement.take("accept", by=admin)
    response = api_for(liaison_cta).patch(f"{URL}{gap_requirement.pk}/", {"copies": 1}, format="json")
    assert response.status_code == 409
    assert "cannot be edited" in response.json()["detail"]


def test_the_comment_thread(api_for, liaison_cta, admin, member, gap_requirement):
    url = f"{URL}{gap_requirement.pk}/comments/"
    assert api_for(liaison_cta).post(url, {"text": "Any news?"}, format="json").status_code == 201
    assert api_for(admin).post(url, {"text": "Next week."}, format="json").status_code == 201
    assert api_for(member).post(url, {"text": "me too"}, format="json").status_code == 403
    thread = api_for(member).get(url).json()["results"]
    assert [(c["author"], c["text"]) for c in thread] == [
        ("dave-cta", "Any news?"),
        ("alice-admin", "Next week."),
    ]


def test_records_name_only_their_experiments_contacts(api_for, liaison_cta, experiments):
    cta_contact = Contact.objects.create(experiment=experiments["CTA"], name="Ada")
    ska_contact = Contact.objects.create(experiment=experiments["SKA"], name="Bob")
    record = {"experiment": "CTA", "kind": "meeting", "subject": "Kick-off", "date": "2030-01-01"}
    client = api_for(liaison_cta)
    response = client.post(
        "/api/v1/engagement-records/", record | {"contacts": [ska_contact.pk]}, format="json"
    )
    assert response.status_code == 400
    assert response.json() == {"contacts": ["Not contacts of CTA: Bob."]}
    response = client.post(
        "/api/v1/engagement-records/", record | {"contacts": [cta_contact.pk]}, format="json"
    )
    assert response.status_code == 201, response.content
    assert (response.json()["contacts"], response.json()["created_by"]) == ([cta_contact.pk], "dave-cta")
    assert list(EngagementRecord.objects.get().contacts.all()) == [cta_contact]


def test_records_and_documents_filter_by_experiment_and_status(api_for, member, experiments):
    for short_name, status in (("CTA", "pending"), ("SKA", "pending"), ("SKA", "done")):
        EngagementRecord.objects.create(
            experiment=experiments[short_name],
            subject=f"{short_name} {status}",
            date=datetime.date(2020, 3, 18),
            status=status,
        )
    Document.objects.create(experiment=experiments["ATLAS"], title="QoS document", status="submitted")
    client = api_for(member)
    records = client.get("/api/v1/engagement-records/?experiment=SKA&status=pending").json()["results"]
    assert [r["subject"] for r in records] == ["SKA pending"]
    documents = client.get("/api/v1/documents/?status=submitted").json()["results"]
    assert [(d["experiment"], d["title"]) for d in documents] == [("ATLAS", "QoS document")]


def test_a_document_refuses_a_step_its_lifecycle_does_not_have(api_for, liaison_cta, experiments):
    client = api_for(liaison_cta)
    created = client.post("/api/v1/documents/", {"experiment": "CTA", "title": "Plan"}, format="json").json()
    assert (created["status"], created["owner"]) == ("draft", None)
    response = client.patch(f"/api/v1/documents/{created['id']}/", {"status": "approved"}, format="json")
    assert response.status_code == 400
    assert "not to approved" in response.json()["status"][0]
    submitted = client.patch(
        f"/api/v1/documents/{created['id']}/", {"status": "submitted"}, format="json"
    ).json()
    assert (submitted["status"], submitted["status_changed_by"]) == ("submitted", "dave-cta")


def test_nothing_is_deleted_through_the_api(api_for, coordinator, admin, gap_requirement, experiments):
    assert api_for(admin).delete(f"{URL}{gap_requirement.pk}/").status_code in (403, 405)
    assert api_for(coordinator).delete("/api/v1/experiments/CTA/").status_code in (403, 405)
    assert Requirement.objects.exists()


def test_the_schema_documents_the_engagement_routes(api_for, member):
    schema = api_for(member).get("/api/schema/").content.decode()
    for path in (
        "/api/v1/experiments/{short_name}/",
        "/api/v1/requirements/{id}/accept/",
        "/api/v1/contacts/",
    ):
        assert path in schema


def test_the_api_refuses_a_document_link_that_is_not_https(api_for, liaison_cta, experiments):
    response = api_for(liaison_cta).post(
        "/api/v1/documents/",
        {"experiment": "CTA", "title": "Plan", "link": "http://x.example/plan"},
        format="json",
    )
    assert response.status_code == 400
    assert "https" in response.json()["link"][0]
    assert not Document.objects.exists()


def test_a_list_row_names_the_first_twenty_fitting_classes_and_the_record_all_of_them(
    api_for, member, catalogue, cta_requirement
):
    from engagement.api.serializers import MATCHING_CLASSES_IN_LISTS
    from qos.models import StorageQoSClass

    safe = {key: value for key, value in catalogue["SAFE"].head_content().items() if key != "label"}
    StorageQoSClass.objects.bulk_create(
        StorageQoSClass(**safe, label=f"SAFE-{i:02d}", status="approved", revision=1) for i in range(30)
    )
    client = api_for(member)
    (row,) = client.get(URL).json()["results"]
    record = client.get(f"{URL}{cta_requirement.pk}/").json()
    assert record["matching_class_count"] == row["matching_class_count"] == 31
    assert len(record["matching_classes"]) == 31
    assert row["matching_classes"] == record["matching_classes"][:MATCHING_CLASSES_IN_LISTS]
    assert row["matching_classes"][:2] == ["SAFE", "SAFE-00"]
