"""The catalogue's API: the same rules as the pages, as JSON, with 400/401/403/409 where they apply."""

import pytest
from rest_framework.test import APIClient

from qos.models import StorageQoSClass
from tests.conftest import SAFE_CONTENT

pytestmark = pytest.mark.django_db

URL = "/api/v1/qos-classes/"


def test_anonymous_gets_401_with_a_challenge_and_no_data(approved_class):
    response = APIClient().get(URL)
    assert response.status_code == 401
    assert response["WWW-Authenticate"] == 'Session realm="escape-qos-portal"'
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
    response = api_for(admin).post(f"{URL}SAFE/approve/", {"base_revision": 2}, format="json")
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
    response = api_for(admin2).post(f"{URL}SAFE/reject/", {"base_revision": 2}, format="json")
    assert response.status_code == 400
    assert "reason" in response.json()
    proposed_class.refresh_from_db()
    assert proposed_class.status == "proposed"


# --- Approve exactly what you saw: approve and reject name the revision reviewed -----------------------------
def review(client, action: str, body: dict):
    """POST approve or reject (with a reason) for SAFE."""
    extra = {"reason": "Two copies are enough."} if action == "reject" else {}
    return client.post(f"{URL}SAFE/{action}/", body | extra, format="json")


def changed_proposal(qos_class, author) -> int:
    """An approved class with a proposed change, edited once more after the reviewer read it: the revision
    the reviewer saw."""
    qos_class.edit(by=author, changes={"copies": 3}, base_revision=qos_class.revision)
    seen = qos_class.revision
    qos_class.edit(by=author, changes={"copies": 4}, base_revision=seen)
    return seen


def state(qos_class) -> tuple:
    qos_class.refresh_from_db()
    pending = qos_class.pending_revision
    return qos_class.status, qos_class.revision, qos_class.copies, pending and pending.data["copies"]


@pytest.mark.parametrize("action", ["approve", "reject"])
@pytest.mark.parametrize("body", [{}, {"base_revision": None}], ids=["missing", "null"])
def test_approve_or_reject_without_base_revision_is_400_and_changes_nothing(
    api_for, admin, admin2, approved_class, action, body
):
    approved_class.edit(by=admin, changes={"copies": 3}, base_revision=approved_class.revision)
    before = state(approved_class)
    response = review(api_for(admin2), action, body | {"comment": "fine"})
    assert response.status_code == 400
    assert response.json() == {
        "base_revision": [
            "Give base_revision: the class's revision when you reviewed it. A proposal is approved or "
            "rejected only as you saw it."
        ]
    }
    assert state(approved_class) == before


@pytest.mark.parametrize("action", ["approve", "reject"])
def test_approve_or_reject_of_a_proposal_edited_since_it_was_read_is_409_and_changes_nothing(
    api_for, admin, admin2, approved_class, action
):
    seen = changed_proposal(approved_class, admin)
    before = state(approved_class)
    response = review(api_for(admin2), action, {"base_revision": seen})
    assert response.status_code == 409
    assert response.json() == {
        "detail": f"This class changed since you loaded it (you saw revision {seen}, it is now at revision "
        f"{seen + 1}). Reload it, check the changes, and try again.",
        "code": "stale_revision",
    }
    assert state(approved_class) == before == ("approved", seen + 1, 2, 4)


def test_approve_of_a_new_class_edited_since_it_was_read_is_409(api_for, admin, admin2, proposed_class):
    proposed_class.edit(by=admin, changes={"title": "Changed after review"}, base_revision=2)
    response = review(api_for(admin2), "approve", {"base_revision": 2})
    assert (response.status_code, response.json()["code"]) == (409, "stale_revision")
    proposed_class.refresh_from_db()
    assert (proposed_class.status, proposed_class.revision) == ("proposed", 3)


def test_approve_of_the_current_revision_puts_what_was_read_in_force(api_for, admin, admin2, approved_class):
    seen = changed_proposal(approved_class, admin)
    response = review(api_for(admin2), "approve", {"base_revision": seen + 1})
    assert response.status_code == 200
    assert (response.json()["copies"], response.json()["pending_proposal"]) == (4, None)
    assert state(approved_class) == ("approved", seen + 2, 4, None)


def test_reject_of_the_current_revision_drops_the_change(api_for, admin, admin2, approved_class):
    seen = changed_proposal(approved_class, admin)
    response = review(api_for(admin2), "reject", {"base_revision": seen + 1})
    assert response.status_code == 200
    assert state(approved_class) == ("approved", seen + 2, 2, None)


def test_the_schema_says_approve_and_reject_need_base_revision(api_for, member):
    schema = api_for(member).get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json").json()
    components = schema["components"]["schemas"]
    for action in ("approve", "reject"):
        operation = schema["paths"][f"/api/v1/qos-classes/{{label}}/{action}/"]["post"]
        body = operation["requestBody"]["content"]["application/json"]["schema"]["$ref"].rsplit("/", 1)[1]
        assert "base_revision" in components[body]["required"], action
        assert "No `base_revision`" in operation["responses"]["400"]["description"], action
        assert "409" in operation["responses"], action
    # The other steps keep it optional.
    deprecate = schema["paths"]["/api/v1/qos-classes/{label}/deprecate/"]["post"]
    body = deprecate["requestBody"]["content"]["application/json"]["schema"]["$ref"].rsplit("/", 1)[1]
    assert "base_revision" not in components[body].get("required", [])


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
