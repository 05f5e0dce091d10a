"""The engagement pages: what they gather and show, messages after actions, forms that keep what was typed."""

from __future__ import annotations

import datetime

import pytest
from django.contrib.messages import get_messages

from engagement.models import Contact, Document, EngagementRecord, Experiment, Requirement

from .conftest import GAP_NEEDS

pytestmark = pytest.mark.django_db


def messages_of(response) -> list[str]:
    return [str(message) for message in get_messages(response.wsgi_request)]


@pytest.fixture
def gap_requirement(liaison_cta, experiments):
    return Requirement.objects.file(by=liaison_cta, experiment=experiments["CTA"], **GAP_NEEDS)


def test_the_experiment_page_gathers_liaisons_requirements_classes_records_and_documents(
    client_for, member, liaison_cta, experiments, catalogue, cta_requirement, gap_requirement
):
    cta = experiments["CTA"]
    contact = Contact.objects.create(experiment=cta, name="Ada Lovelace", role="data manager")
    record = EngagementRecord.objects.create(
        experiment=cta,
        subject="Contact CTA to organise meetings",
        date=datetime.date(2020, 3, 18),
        who="Aleem Sarwar",
        next_step="Agree on a first meeting",
    )
    record.contacts.add(contact)
    Document.objects.create(experiment=cta, title="CTA data management plan", status="submitted")
    page = client_for(member).get("/experiments/CTA/").content.decode()
    for text in (
        "Cherenkov Telescope Array",
        "escape/cta",
        "dave-cta",
        "Ada Lovelace",
        "Raw camera data archive",
        'href="/qos/SAFE/"',
        "Hot analysis data, two SSD copies",
        ">gap<",
        "Contact CTA to organise meetings",
        "Agree on a first meeting",
        "CTA data management plan",
        "Submitted for approval",
    ):
        assert text in page, text
    # A member reads; the buttons to write are for the experiment's liaisons.
    assert "File a requirement" not in page
    assert "File a requirement" in client_for(liaison_cta).get("/experiments/CTA/").content.decode()


def test_the_experiment_list_counts_requirements_gaps_contacts_and_documents(
    client_for, member, experiments, cta_requirement, gap_requirement
):
    EngagementRecord.objects.create(
        experiment=experiments["SKA"], subject="Contact SKA", date=datetime.date.today()
    )
    response = client_for(member).get("/experiments/")
    rows = {e.short_name: e for e in response.context["experiments"]}
    assert (rows["CTA"].active_requirements, rows["CTA"].gap_count) == (2, 2)  # no approved class at all
    assert (rows["SKA"].pending_records, rows["SKA"].active_requirements) == (1, 0)


def test_the_requirement_page_explains_each_class_property_by_property(
    client_for, member, catalogue, gap_requirement
):
    page = client_for(member).get(f"/requirements/{gap_requirement.pk}/").content.decode()
    assert "no approved QoS class satisfies this requirement" in page
    assert "Keeps data 90 days only; 180 asked for." in page  # FAST's retention
    assert "Nearline: files must be staged before they are read; online was asked for." in page  # SAFE
    assert page.count("does not fit") == 4


def test_the_requirement_list_filters_by_experiment_status_and_gap(
    client_for, member, catalogue, cta_requirement, gap_requirement, ska_requirement, admin
):
    cta_requirement.take("accept", by=admin)
    client = client_for(member)

    def titles(query: str) -> list[str]:
        response = client.get(f"/requirements/?{query}")
        return sorted(row["requirement"].title for row in response.context["rows"])

    assert titles("experiment=SKA") == ["SKA visibilities"]
    assert titles("experiment=CTA&status=accepted") == ["Raw camera data archive"]
    assert titles("gap=true") == ["Hot analysis data, two SSD copies"]
    assert titles("gap=false") == ["Raw camera data archive", "SKA visibilities"]
    assert titles("q=visibilities") == ["SKA visibilities"]


def test_the_gaps_page_shows_the_closest_class_and_what_it_misses(
    client_for, member, catalogue, gap_requirement
):
    response = client_for(member).get("/requirements/gaps/")
    [row] = response.context["rows"]
    assert row["closest"].qos_class.label == "FAST"
    page = response.content.decode()
    assert "Copies: Keeps 1 copy only; 2 asked for." in page


def test_the_dashboard_counts_and_lists_requirements_without_a_class(
    client_for, member, admin, catalogue, cta_requirement, gap_requirement
):
    response = client_for(member).get("/")
    assert response.context["gap_count"] == 1
    assert "requirement without a class" in response.content.decode()
    # The list is the QoS admin's part.
    page = client_for(admin).get("/").content.decode()
    assert f'href="/requirements/{gap_requirement.pk}/"' in page.split('id="gaps-heading"')[1]


def test_a_liaison_files_a_requirement_and_is_told_so(client_for, liaison_cta, experiments, catalogue):
    data = {key: ("" if value is None else value) for key, value in GAP_NEEDS.items()}
    response = client_for(liaison_cta).post(
        "/requirements/new/", data | {"experiment": "CTA", "comment": "Q3"}
    )
    requirement = Requirement.objects.get()
    assert response.status_code == 302
    assert response.url == f"/requirements/{requirement.pk}/"
    assert messages_of(response) == ["Requirement filed for CTA."]
    assert (requirement.experiment.short_name, requirement.events.get().comment) == ("CTA", "Q3")


def test_an_admin_accepts_and_links_a_class_and_is_told_so(client_for, admin, catalogue, gap_requirement):
    client = client_for(admin)
    url = f"/requirements/{gap_requirement.pk}/"
    response = client.post(f"{url}accept/", {"comment": "FAST is close enough for now"})
    assert messages_of(response) == ["Requirement accepted."]
    response = client.post(f"{url}classes/", {"qos_class": "FAST", "note": "One copy for now"})
    assert messages_of(response)[-1] == "FAST linked to this requirement."
    page = client.get(url).content.decode()
    assert "One copy for now" in page
    assert ">gap<" not in page
    response = client.post(f"{url}classes/FAST/unlink/")
    assert messages_of(response)[-1] == "FAST unlinked from this requirement."
    assert not gap_requirement.links.exists()


def test_linking_a_class_that_is_not_approved_says_why(client_for, admin, catalogue, gap_requirement):
    catalogue["FAST"].status = "deprecated"
    catalogue["FAST"].save()
    response = client_for(admin).post(f"/requirements/{gap_requirement.pk}/classes/", {"qos_class": "FAST"})
    assert response.status_code == 400
    assert "Choose one of the approved classes." in response.content.decode()
    assert not gap_requirement.links.exists()


def test_rejecting_without_a_reason_asks_for_one(client_for, admin, gap_requirement):
    response = client_for(admin).post(f"/requirements/{gap_requirement.pk}/reject/", {"comment": ""})
    assert response.status_code == 200
    assert "Say why, for the experiment&#x27;s liaisons." in response.content.decode()
    assert Requirement.objects.get().status == "filed"


def test_a_step_from_the_wrong_status_is_explained_on_the_page(client_for, admin, gap_requirement):
    gap_requirement.take("accept", by=admin)
    response = client_for(admin).post(f"/requirements/{gap_requirement.pk}/review/")
    assert "This requirement is accepted: “Start the review” applies only to a filed requirement." in (
        response.content.decode()
    )
    assert Requirement.objects.get().status == "accepted"


def test_comments_render_markdown_and_script_stays_inert(client_for, liaison_cta, gap_requirement):
    client = client_for(liaison_cta)
    response = client.post(
        f"/requirements/{gap_requirement.pk}/comments/",
        {"text": "**Important** <script>alert(1)</script> [x](javascript:alert(2))"},
    )
    assert messages_of(response) == ["Comment added."]
    page = client.get(f"/requirements/{gap_requirement.pk}/").content.decode()
    assert "<strong>Important</strong>" in page
    assert "<script>alert(1)</script>" not in page
    assert "javascript:alert" not in page


def test_an_empty_comment_is_refused(client_for, liaison_cta, gap_requirement):
    response = client_for(liaison_cta).post(f"/requirements/{gap_requirement.pk}/comments/", {"text": " "})
    assert response.status_code == 400
    assert "Write something." in response.content.decode()
    assert not gap_requirement.comments.exists()


def test_a_liaison_records_a_contact_and_moves_a_document_along(client_for, liaison_cta, experiments):
    client = client_for(liaison_cta)
    response = client.post(
        "/experiments/CTA/records/new/",
        {"kind": "meeting", "subject": "First CTA meeting", "date": "2030-04-01", "status": "pending"},
    )
    assert messages_of(response) == ["Engagement record added: CTA: First CTA meeting."]
    response = client.post("/experiments/CTA/documents/new/", {"title": "QoS note", "status": "draft"})
    document = Document.objects.get()
    edit = f"/experiments/CTA/documents/{document.pk}/edit/"
    response = client.post(edit, {"title": "QoS note v2", "status": "approved", "status_note": "hoping"})
    assert response.status_code == 200
    assert "can go to submitted for approval, not to approved" in response.content.decode()
    assert response.context["form"]["title"].value() == "QoS note v2"
    assert Document.objects.get().status == "draft"
    client.post(edit, {"title": "QoS note v2", "status": "submitted"})
    document.refresh_from_db()
    assert (document.title, document.status, document.status_changed_by) == (
        "QoS note v2",
        "submitted",
        liaison_cta,
    )


def test_a_record_only_involves_the_experiments_own_contacts(client_for, liaison_cta, experiments):
    stranger = Contact.objects.create(experiment=experiments["SKA"], name="Someone at SKA")
    response = client_for(liaison_cta).post(
        "/experiments/CTA/records/new/",
        {
            "kind": "contact",
            "subject": "x",
            "date": "2030-01-01",
            "status": "pending",
            "contacts": [stranger.pk],
        },
    )
    assert response.status_code == 200
    assert not EngagementRecord.objects.exists()


def test_an_accepted_requirement_cannot_be_edited_and_the_form_says_so(
    client_for, liaison_cta, admin, gap_requirement
):
    gap_requirement.take("accept", by=admin)
    client = client_for(liaison_cta)
    assert (
        "can no longer be edited" in client.get(f"/requirements/{gap_requirement.pk}/edit/").content.decode()
    )
    data = {key: ("" if value is None else value) for key, value in GAP_NEEDS.items()} | {"copies": "3"}
    response = client.post(f"/requirements/{gap_requirement.pk}/edit/", data)
    assert "An accepted requirement cannot be edited" in response.content.decode()
    assert Requirement.objects.get().copies == 2


def test_a_liaison_edits_needs_and_the_change_is_recorded(client_for, liaison_cta, gap_requirement):
    data = {key: ("" if value is None else value) for key, value in GAP_NEEDS.items()}
    response = client_for(liaison_cta).post(
        f"/requirements/{gap_requirement.pk}/edit/", data | {"copies": "3", "comment": "A third copy at DESY"}
    )
    assert response.status_code == 302
    assert messages_of(response) == ["Requirement saved."]
    event = gap_requirement.events.first()
    assert (event.kind, event.changed_fields, event.comment) == ("edited", ["copies"], "A third copy at DESY")


def test_a_liaison_withdraws_a_requirement_and_files_it_again(client_for, liaison_cta, gap_requirement):
    client = client_for(liaison_cta)
    url = f"/requirements/{gap_requirement.pk}/"
    assert "Withdraw the requirement" in client.get(f"{url}withdraw/").content.decode()
    response = client.post(f"{url}withdraw/", {"comment": "The analysis moved to 2031"})
    assert messages_of(response) == ["Requirement withdrawn."]
    assert Requirement.objects.get().status == "withdrawn"
    assert not Requirement.objects.gaps().exists()
    client.post(f"{url}refile/", {"comment": ""})
    assert Requirement.objects.get().status == "filed"


def test_a_coordinator_creates_an_experiment_and_names_its_liaisons(client_for, coordinator, liaison_cta):
    client = client_for(coordinator)
    response = client.post("/experiments/new/", {"short_name": "new", "name": "Reserved"})
    assert "names a page of the portal" in response.content.decode()
    response = client.post(
        "/experiments/new/",
        {
            "short_name": "FAIR",
            "name": "Facility for Antiproton and Ion Research",
            "liaisons": [liaison_cta.pk],
        },
    )
    assert response.status_code == 302
    assert response.url == "/experiments/FAIR/"
    assert messages_of(response) == ["Experiment FAIR created."]
    response = client.post(
        "/experiments/FAIR/edit/", {"short_name": "RENAMED", "name": "FAIR", "website": "fair-center.eu"}
    )
    assert response.status_code == 302
    fair = Experiment.objects.get(name="FAIR")
    # The short name is fixed once created; a liaison left unselected is no longer one.
    assert (fair.short_name, fair.website, fair.liaisons.count()) == ("FAIR", "https://fair-center.eu", 0)


def test_a_liaison_keeps_the_contacts_of_their_experiment(client_for, liaison_cta, experiments):
    client = client_for(liaison_cta)
    response = client.post(
        "/experiments/CTA/contacts/new/", {"name": "Ada Lovelace", "email": "not an email"}
    )
    assert response.status_code == 200
    assert "Enter a valid email address." in response.content.decode()
    response = client.post(
        "/experiments/CTA/contacts/new/",
        {"name": "Ada Lovelace", "role": "data manager", "email": "ada@cta.example"},
    )
    assert response.url == "/experiments/CTA/#contacts"
    contact = Contact.objects.get()
    client.post(f"/experiments/CTA/contacts/{contact.pk}/edit/", {"name": "Ada King", "role": "data manager"})
    contact.refresh_from_db()
    assert (contact.name, contact.experiment.short_name) == ("Ada King", "CTA")
    assert "Ada King" in client.get("/experiments/CTA/").content.decode()


def test_users_without_a_role_see_no_requirement_on_the_dashboard(
    client_for, outsider, catalogue, gap_requirement
):
    response = client_for(outsider).get("/")
    assert response.status_code in (200, 403)
    assert gap_requirement.title not in response.content.decode()
    assert "without a class" not in response.content.decode()


def test_a_step_that_does_not_apply_is_flagged_before_it_is_tried(client_for, admin, gap_requirement):
    gap_requirement.take("accept", by=admin)
    page = client_for(admin).get(f"/requirements/{gap_requirement.pk}/review/").content.decode()
    assert "This requirement is accepted: “Start the review” does not apply to it now." in page


def test_experiment_and_document_links_are_https_only(client_for, coordinator, liaison_cta, experiments):
    response = client_for(coordinator).post(
        "/experiments/CTA/edit/", {"name": "CTA", "website": "http://www.cta-observatory.org"}
    )
    assert response.status_code == 200
    assert "https address" in response.content.decode()
    assert response.context["form"]["website"].value() == "http://www.cta-observatory.org"
    experiments["CTA"].refresh_from_db()
    assert experiments["CTA"].website == ""

    liaison = client_for(liaison_cta)
    response = liaison.post(
        "/experiments/CTA/documents/new/",
        {"title": "QoS note", "status": "draft", "link": "http://x.example/n"},
    )
    assert response.status_code == 200
    assert "https address" in response.content.decode()
    assert not Document.objects.exists()


def test_a_plain_http_link_stored_before_the_rule_is_shown_as_text(client_for, member, experiments):
    cta = experiments["CTA"]
    Experiment.objects.filter(pk=cta.pk).update(website="http://www.cta-observatory.org")
    Document.objects.create(experiment=cta, title="Old note", link="javascript:alert(1)")
    page = client_for(member).get("/experiments/CTA/").content.decode()
    assert "http://www.cta-observatory.org" in page
    assert 'href="http://www.cta-observatory.org"' not in page
    assert "Old note" in page
    assert 'href="javascript:' not in page
