"""The catalogue's API: the same rules as the pages, as JSON, with 400/401/403/409 where they apply."""

import pytest
from rest_framework.test import APIClient

from qos.models import StorageQoSClass
from tests.conftest import SAFE_CONTENT

pytestmark = pytest.mark.django_db

URL = "/api/v1/qos-classes/"


def test_anonymous_gets_401_or_403_and_no_data(approved_class):
    response = APIClient().get(URL)
    assert response.status_code in (401, 403)
    assert "results" not in response.json()


def test_outsider_without_a_role_is_forbidden(api_for, outsider, approved_class):
    assert api_for(outsider).get(URL).status_code == 403


def test_member_lists_and_reads_by_label(api_for, member, approved_class):
    client = api_for(member)
    listing = client.get(URL).json()
    assert listing["count"] == 1
    assert listing["results"][0]["label"] == "SAFE"
    detail = client.get(f"{URL}SAFE/").json()
    assert detail["status"] == "approved"
    assert detail["revision"] == 3
    assert detail["pending_proposal"] is None
    assert detail["url"].endswith("/api/v1/qos-classes/SAFE/")


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("post", "", SAFE_CONTENT | {"label": "NEW"}),
        ("patch", "SAFE/", {"title": "x"}),
        ("post", "SAFE/deprecate/", {}),
        ("post", "SAFE/approve/", {}),
        ("delete", "SAFE/", None),
    ],
)
def test_member_cannot_change_anything(api_for, member, approved_class, method, path, body):
    response = getattr(api_for(member), method)(URL + path, body, format="json")
    assert response.status_code in (403, 405)
    approved_class.refresh_from_db()
    assert (approved_class.status, approved_class.revision, approved_class.title) == (
        "approved",
        3,
        "Safe long-term custody",
    )
    assert StorageQoSClass.objects.count() == 1


def test_classes_are_never_deleted(api_for, admin, approved_class):
    assert api_for(admin).delete(f"{URL}SAFE/").status_code == 405


def test_admin_creates_edits_proposes_and_another_admin_approves(api_for, admin, admin2):
    client = api_for(admin)
    created = client.post(URL, SAFE_CONTENT | {"comment": "first"}, format="json")
    assert created.status_code == 201, created.json()
    assert created.json()["status"] == "draft"
    edited = client.patch(f"{URL}SAFE/", {"title": "Custodial", "base_revision": 1}, format="json")
    assert edited.status_code == 200
    assert edited.json()["revision"] == 2
    assert (
        client.post(f"{URL}SAFE/propose/", {"base_revision": 2}, format="json").json()["status"] == "proposed"
    )
    approved = api_for(admin2).post(
        f"{URL}SAFE/approve/", {"comment": "ok", "base_revision": 3}, format="json"
    )
    assert approved.status_code == 200
    assert approved.json()["status"] == "approved"


def test_author_cannot_approve_own_proposal_409(api_for, admin, proposed_class):
    response = api_for(admin).post(f"{URL}SAFE/approve/", {}, format="json")
    assert response.status_code == 409
    assert response.json()["code"] == "four_eyes"
    assert "another QoS admin" in response.json()["detail"]
    proposed_class.refresh_from_db()
    assert proposed_class.status == "proposed"


def test_illegal_transition_is_409_with_a_reason(api_for, admin, draft_class):
    response = api_for(admin).post(f"{URL}SAFE/retire/", {}, format="json")
    assert response.status_code == 409
    assert response.json() == {
        "detail": "Only a deprecated class can be retired; this one is draft.",
        "code": "illegal_transition",
    }


def test_reject_without_reason_is_400(api_for, admin2, proposed_class):
    response = api_for(admin2).post(f"{URL}SAFE/reject/", {}, format="json")
    assert response.status_code == 400
    assert "reason" in response.json()
    proposed_class.refresh_from_db()
    assert proposed_class.status == "proposed"


def test_stale_patch_is_409_and_overwrites_nothing(api_for, admin, admin2, draft_class):
    api_for(admin2).patch(f"{URL}SAFE/", {"title": "Theirs", "base_revision": 1}, format="json")
    response = api_for(admin).patch(f"{URL}SAFE/", {"title": "Mine", "base_revision": 1}, format="json")
    assert response.status_code == 409
    assert response.json()["code"] == "stale_revision"
    draft_class.refresh_from_db()
    assert draft_class.title == "Theirs"


def test_patch_of_approved_class_returns_it_with_the_pending_proposal(api_for, admin, approved_class):
    response = api_for(admin).patch(f"{URL}SAFE/", {"copies": 3, "comment": "more"}, format="json")
    body = response.json()
    assert response.status_code == 200
    assert body["copies"] == 2
    assert body["pending_proposal"]["content"]["copies"] == 3
    assert body["pending_proposal"]["author"] == admin.username


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"label": "lower"}, "label"),
        ({"storage_media": "floppy"}, "storage_media"),
        ({"copies": 0}, "copies"),
        ({"durability_target": "101"}, "durability_target"),
        ({"redundancy": "erasure-coding"}, "erasure_coding"),
        ({"erasure_coding": "eight"}, "erasure_coding"),
    ],
)
def test_bad_content_is_400_naming_the_field_and_saves_nothing(api_for, admin, body, field):
    response = api_for(admin).post(URL, SAFE_CONTENT | body, format="json")
    assert response.status_code == 400
    assert field in response.json()
    assert not StorageQoSClass.objects.exists()


def test_changing_the_label_of_an_approved_class_is_400(api_for, admin, approved_class):
    response = api_for(admin).patch(f"{URL}SAFE/", {"label": "SAFER"}, format="json")
    assert response.status_code == 400
    assert "fixed" in response.json()["label"][0]


def test_filters_and_search(api_for, admin, member, approved_class):
    StorageQoSClass.objects.create_draft(
        by=admin,
        **SAFE_CONTENT
        | {
            "label": "FAST",
            "title": "Fast",
            "description": "",
            "storage_media": "ssd",
            "access_latency": "online",
        },
    )
    client = api_for(member)

    def labels(query):
        return [row["label"] for row in client.get(f"{URL}?{query}").json()["results"]]

    assert labels("status=approved") == ["SAFE"]
    assert labels("storage_media=ssd") == ["FAST"]
    assert labels("q=fast") == ["FAST"]
    assert labels("awaiting_approval=true") == []
    assert labels("ordering=-label") == ["SAFE", "FAST"]


def test_revisions_and_diff(api_for, member, admin, draft_class):
    draft_class.edit(by=admin, changes={"title": "Custodial"}, base_revision=1)
    client = api_for(member)
    revisions = client.get(f"{URL}SAFE/revisions/").json()["results"]
    assert [(r["number"], r["kind"], r["author"]) for r in revisions] == [
        (2, "edited", admin.username),
        (1, "created", admin.username),
    ]
    diff = client.get(f"{URL}SAFE/diff/?from=1&to=2").json()
    assert diff == [{"field": "title", "label": "Title", "old": "Safe long-term custody", "new": "Custodial"}]
    assert client.get(f"{URL}SAFE/diff/?from=1").status_code == 400
    assert client.get(f"{URL}SAFE/diff/?from=1&to=9").status_code == 404


def test_schema_and_docs_are_served(api_for, client_for, member):
    schema = api_for(member).get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")
    assert schema.status_code == 200
    paths = schema.json()["paths"]
    assert "/api/v1/qos-classes/{label}/approve/" in paths
    docs = client_for(member).get("/api/docs/")
    assert docs.status_code == 200
    assert b"cdn" not in docs.content.lower()


def test_schema_is_not_public():
    assert APIClient().get("/api/schema/").status_code in (401, 403)
