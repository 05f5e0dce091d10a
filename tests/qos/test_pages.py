"""The catalogue's pages: what each role sees and may do, messages, forms that keep what was typed."""

import pytest
from django.contrib.messages import get_messages

from qos.models import RSE, RucioInstance, StorageQoSClass
from tests.conftest import SAFE_CONTENT

pytestmark = pytest.mark.django_db


def form_data(**overrides):
    data = {
        **SAFE_CONTENT,
        "copies": "2",
        "throughput_mbps": "",
        "durability_target": "",
        "lifetime_days": "",
    }
    data.update(overrides)
    return {key: ("" if value is None else value) for key, value in data.items()}


def messages_of(response):
    return [str(message) for message in get_messages(response.wsgi_request)]


def test_anonymous_visitor_is_sent_to_login(client):
    response = client.get("/qos/")
    assert response.status_code == 302
    assert response.url.startswith("/accounts/login/?next=/qos/")


def test_outsider_without_a_role_is_forbidden(client_for, outsider, approved_class):
    client = client_for(outsider)
    assert client.get("/qos/").status_code == 403
    assert client.get("/qos/SAFE/").status_code == 403


def test_member_reads_the_catalogue_without_edit_controls(client_for, member, approved_class):
    client = client_for(member)
    listing = client.get("/qos/")
    assert listing.status_code == 200
    assert b"SAFE" in listing.content
    assert b"New class" not in listing.content
    detail = client.get("/qos/SAFE/").content.decode()
    for control in ("Propose a change", "/qos/SAFE/deprecate/", "/qos/SAFE/approve/", "/qos/SAFE/edit/"):
        assert control not in detail


@pytest.mark.parametrize(
    ("method", "url"),
    [
        ("get", "/qos/new/"),
        ("post", "/qos/new/"),
        ("get", "/qos/SAFE/edit/"),
        ("post", "/qos/SAFE/edit/"),
        ("post", "/qos/SAFE/deprecate/"),
        ("post", "/qos/SAFE/approve/"),
    ],
)
def test_member_cannot_change_anything(client_for, member, approved_class, method, url):
    response = getattr(client_for(member), method)(url, {"base_revision": 3, "comment": "x"})
    assert response.status_code == 403
    approved_class.refresh_from_db()
    assert (approved_class.status, approved_class.revision) == ("approved", 3)


def test_coordinator_and_liaison_cannot_approve(client_for, coordinator, liaison_cta, proposed_class):
    for user in (coordinator, liaison_cta):
        assert client_for(user).post("/qos/SAFE/approve/", {"base_revision": 2}).status_code == 403
    proposed_class.refresh_from_db()
    assert proposed_class.status == "proposed"


def test_admin_creates_a_draft(client_for, admin):
    response = client_for(admin).post("/qos/new/", form_data(comment="from the wiki"))
    assert response.status_code == 302
    qos_class = StorageQoSClass.objects.get(label="SAFE")
    assert response.url == "/qos/SAFE/"
    assert qos_class.status == "draft"
    assert qos_class.revisions.get().comment == "from the wiki"
    assert messages_of(response) == ["Draft SAFE created. Propose it when it is ready."]


def test_create_form_with_errors_keeps_what_was_typed_and_saves_nothing(client_for, admin):
    response = client_for(admin).post("/qos/new/", form_data(label="bad label", title="My typed title"))
    assert response.status_code == 200
    page = response.content.decode()
    assert "Use 1 to 64 upper-case letters" in page
    assert 'value="My typed title"' in page
    assert 'value="bad label"' in page
    assert not StorageQoSClass.objects.exists()


def test_edit_of_an_approved_class_becomes_a_proposal(client_for, admin, approved_class):
    response = client_for(admin).post(
        "/qos/SAFE/edit/", form_data(title="Custodial tape", base_revision="3", comment="clearer")
    )
    assert response.status_code == 302
    assert "approved content stays in force" in messages_of(response)[0]
    approved_class.refresh_from_db()
    assert approved_class.title == "Safe long-term custody"
    detail = client_for(admin).get("/qos/SAFE/").content.decode()
    assert "Proposed change" in detail
    assert "Custodial tape" in detail
    assert "Safe long-term custody" in detail


def test_edit_form_starts_from_the_pending_proposal(client_for, admin, approved_class):
    approved_class.edit(by=admin, changes={"title": "Custodial tape"}, base_revision=3)
    page = client_for(admin).get("/qos/SAFE/edit/").content.decode()
    assert 'value="Custodial tape"' in page
    assert 'name="base_revision" value="4"' in page


def test_stale_edit_form_is_refused_with_a_clear_message(client_for, admin, admin2, draft_class):
    draft_class.edit(by=admin2, changes={"title": "Theirs"}, base_revision=1)
    response = client_for(admin).post("/qos/SAFE/edit/", form_data(title="Mine", base_revision="1"))
    assert response.status_code == 200
    assert "changed since you loaded it" in response.content.decode()
    assert 'value="Mine"' in response.content.decode()
    draft_class.refresh_from_db()
    assert draft_class.title == "Theirs"


def test_label_field_is_disabled_once_approved(client_for, admin, approved_class):
    response = client_for(admin).post(
        "/qos/SAFE/edit/", form_data(label="OTHER", copies="3", base_revision="3")
    )
    assert response.status_code == 302
    approved_class.refresh_from_db()
    assert approved_class.pending_revision.data["label"] == "SAFE"


def test_propose_approve_through_pages(client_for, admin, admin2, draft_class):
    response = client_for(admin).post("/qos/SAFE/propose/", {"base_revision": 1, "comment": "ready"})
    assert messages_of(response) == ["SAFE proposed for approval."]
    confirm = client_for(admin2).get("/qos/SAFE/approve/")
    assert confirm.status_code == 200
    assert 'name="base_revision" value="2"' in confirm.content.decode()
    response = client_for(admin2).post("/qos/SAFE/approve/", {"base_revision": 2})
    assert messages_of(response) == ["SAFE approved."]
    draft_class.refresh_from_db()
    assert draft_class.status == "approved"


def test_stale_approval_is_refused_and_the_page_shows_the_proposal_as_it_is_now(
    client_for, admin, admin2, approved_class
):
    approved_class.edit(by=admin, changes={"copies": 3}, base_revision=3)
    reviewer = client_for(admin2)
    opened = reviewer.get("/qos/SAFE/approve/").content.decode()
    assert 'name="base_revision" value="4"' in opened
    # While the reviewer reads it, the author changes the proposal again.
    approved_class.edit(by=admin, changes={"copies": 4}, base_revision=4)

    response = reviewer.post("/qos/SAFE/approve/", {"base_revision": 4, "comment": "3 copies, fine"})
    assert response.status_code == 200
    assert messages_of(response) == []
    page = response.content.decode()
    assert (
        "SAFE changed since you opened this page (you saw revision 4, it is now at revision 5), so it was not "
        "approved. Check what changed, shown on this page, and approve again if it is still right."
    ) in page
    assert "What changed since you opened this page" in page
    changed_since, proposal = response.context["changed_since_seen"], response.context["diff"]
    assert [(row["field"], row["old"], row["new"]) for row in changed_since] == [("copies", "3", "4")]
    assert [(row["field"], row["old"], row["new"]) for row in proposal] == [("copies", "2", "4")]
    assert 'name="base_revision" value="5"' in page
    assert "3 copies, fine" in page
    approved_class.refresh_from_db()
    assert (approved_class.revision, approved_class.copies, approved_class.pending_revision.number) == (
        5,
        2,
        5,
    )

    # Confirming again approves what the page shows now.
    response = reviewer.post("/qos/SAFE/approve/", {"base_revision": 5, "comment": "4 copies, fine"})
    assert messages_of(response) == ["SAFE approved."]
    approved_class.refresh_from_db()
    assert (approved_class.copies, approved_class.pending_revision) == (4, None)


def test_stale_rejection_is_refused_and_changes_nothing(client_for, admin, admin2, proposed_class):
    proposed_class.edit(by=admin, changes={"title": "Custodial tape"}, base_revision=2)
    response = client_for(admin2).post("/qos/SAFE/reject/", {"base_revision": 2, "comment": "Too vague."})
    assert response.status_code == 200
    page = response.content.decode()
    assert "so it was not sent back" in page
    assert "Custodial tape" in page
    proposed_class.refresh_from_db()
    assert (proposed_class.status, proposed_class.revision) == ("proposed", 3)


def test_approval_page_of_a_new_class_shows_what_is_proposed(client_for, admin2, proposed_class):
    page = client_for(admin2).get("/qos/SAFE/approve/").content.decode()
    assert "The class proposed" in page
    assert "Safe long-term custody" in page


def test_author_sees_why_they_cannot_approve_and_is_refused(client_for, admin, proposed_class):
    client = client_for(admin)
    detail = client.get("/qos/SAFE/").content.decode()
    assert "another QoS admin must approve it" in detail
    assert "/qos/SAFE/approve/" not in detail
    response = client.post("/qos/SAFE/approve/", {"base_revision": 2})
    assert response.status_code == 200
    assert "four-eyes" in response.content.decode()
    proposed_class.refresh_from_db()
    assert proposed_class.status == "proposed"


def test_reject_page_requires_a_reason(client_for, admin2, proposed_class):
    response = client_for(admin2).post("/qos/SAFE/reject/", {"base_revision": 2, "comment": ""})
    assert response.status_code == 200
    assert "Say why the proposal is rejected." in response.content.decode()
    proposed_class.refresh_from_db()
    assert proposed_class.status == "proposed"


def test_illegal_transition_page_shows_the_reason_and_changes_nothing(client_for, admin, draft_class):
    response = client_for(admin).post("/qos/SAFE/retire/", {"base_revision": 1})
    assert response.status_code == 200
    assert "Only a deprecated class can be retired; this one is draft." in response.content.decode()
    draft_class.refresh_from_db()
    assert (draft_class.status, draft_class.revision) == ("draft", 1)


def test_unknown_transition_is_404(client_for, admin, draft_class):
    assert client_for(admin).get("/qos/SAFE/explode/").status_code == 404


def test_list_filters_by_status_media_and_text(client_for, admin, member, approved_class):
    StorageQoSClass.objects.create_draft(
        by=admin,
        **{
            **SAFE_CONTENT,
            "label": "FAST",
            "title": "Fast SSD",
            "description": "",
            "storage_media": "ssd",
            "access_latency": "online",
        },
    )
    client = client_for(member)

    def labels(query):
        return [row.label for row in client.get(f"/qos/?{query}").context["page"].object_list]

    assert labels("status=approved") == ["SAFE"]
    assert labels("status=draft") == ["FAST"]
    assert labels("storage_media=ssd") == ["FAST"]
    assert labels("storage_media=tape&storage_media=ssd") == ["FAST", "SAFE"]
    assert labels("q=fast") == ["FAST"]
    assert labels("q=durable") == ["SAFE"]  # found in the description


def test_history_page_shows_a_diff_between_any_two_revisions(client_for, member, admin, draft_class):
    draft_class.edit(by=admin, changes={"title": "Custodial"}, base_revision=1)
    draft_class.propose(by=admin)
    page = client_for(member).get("/qos/SAFE/history/?a=1&b=3").content.decode()
    assert "Revision 1 → revision 3" in page
    assert "<del>Safe long-term custody</del>" in page
    assert "<ins>Custodial</ins>" in page
    # By default: the proposal against the last content that differs (r2, the edit, has r3's content).
    default = client_for(member).get("/qos/SAFE/history/").context
    assert (default["old"].number, default["new"].number) == (1, 3)


def test_history_page_with_unknown_revision_says_so(client_for, member, draft_class):
    page = client_for(member).get("/qos/SAFE/history/?a=1&b=9").content.decode()
    assert "SAFE has revisions 1 to 1." in page


def compared(client, query=""):
    context = client.get(f"/qos/SAFE/history/{query}").context
    old, new = context["old"], context["new"]
    return (old.number if old else None, new.number if new else None)


def test_history_of_a_class_approved_once_compares_nothing_by_default(client_for, member, approved_class):
    # r1 created, r2 proposed, r3 approved: the same content three times.
    response = client_for(member).get("/qos/SAFE/history/")
    assert (response.context["old"], response.context["new"], response.context["diff"]) == (None, None, None)
    page = response.content.decode()
    assert "No step changed the content: every revision has the content of r3." in page
    assert "<del>" not in page


def test_history_of_a_class_approved_after_edits_shows_what_the_edits_changed(
    client_for, member, admin, admin2
):
    qos_class = StorageQoSClass.objects.create_draft(by=admin, **SAFE_CONTENT)
    qos_class.edit(by=admin, changes={"copies": 3}, base_revision=1)
    qos_class.propose(by=admin)
    qos_class.approve(by=admin2)
    assert compared(client_for(member)) == (1, 4)


def test_history_with_a_pending_proposal_compares_it_with_the_approved_content(
    client_for, member, admin, approved_class
):
    approved_class.edit(by=admin, changes={"throughput_mbps": 500}, base_revision=3)
    client = client_for(member)
    assert compared(client) == (3, 4)
    page = client.get("/qos/SAFE/history/").content.decode()
    assert '<th scope="row">Expected throughput (MB/s)</th>' in page
    assert "<del>Approved</del>" in page and "<ins>Proposed</ins>" in page


def test_history_of_two_approvals_compares_the_approved_content_with_the_one_before(
    client_for, member, admin, admin2, approved_class
):
    approved_class.edit(by=admin, changes={"copies": 3}, base_revision=3)
    approved_class.approve(by=admin2)  # r5
    approved_class.deprecate(by=admin, reason="Superseded")  # r6: same content, another status
    client = client_for(member)
    assert compared(client) == (3, 5)
    page = client.get("/qos/SAFE/history/").content.decode()
    assert '<th scope="row">Number of copies</th>' in page
    assert "<del>2</del>" in page and "<ins>3</ins>" in page


def test_history_after_a_reject_and_propose_cycle_never_compares_identical_content(
    client_for, member, admin, admin2, proposed_class
):
    proposed_class.reject(by=admin2, reason="Say why tape")  # r3, back to draft
    proposed_class.propose(by=admin)  # r4: what was rejected, unchanged
    client = client_for(member)
    assert compared(client) == (None, None)
    assert "No step changed the content" in client.get("/qos/SAFE/history/").content.decode()
    proposed_class.reject(by=admin2, reason="Still no reason")  # r5
    proposed_class.edit(by=admin, changes={"title": "Tape custody"}, base_revision=5)  # r6
    proposed_class.propose(by=admin)  # r7
    # Against what was last sent back, not the identical r6 before it.
    assert compared(client) == (5, 7)


def test_history_lists_status_changes_and_changed_fields_in_users_words(
    client_for, member, admin, draft_class
):
    draft_class.edit(by=admin, changes={"lifetime_days": 365, "durability_target": "99.9"}, base_revision=1)
    draft_class.propose(by=admin)
    rows = client_for(member).get("/qos/SAFE/history/").content.decode().split("<tbody>")[-1].split("</tr>")
    assert "Status: Draft → Proposed" in rows[0]  # r3
    assert "Durability target (%), Data storage lifetime (days)" in rows[1]  # r2
    assert "lifetime_days" not in rows[1]


def test_history_takes_the_apis_from_and_to(client_for, member, admin, draft_class):
    draft_class.edit(by=admin, changes={"title": "Custodial"}, base_revision=1)
    draft_class.propose(by=admin)
    client = client_for(member)
    assert compared(client, "?from=2&to=3") == (2, 3)
    page = client.get("/qos/SAFE/history/?from=2&to=3").content.decode()
    assert "The content is the same in both." in page
    assert "<del>Draft</del>" in page and "<ins>Proposed</ins>" in page
    assert 'name="from" value="2"' in page


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("?from=one&to=2", "Give a revision number, e.g. 1."),
        ("?from=1", "Give a revision number, e.g. 1."),
        ("?from=0&to=1", "Revisions are numbered from 1."),
        ("?from=1&to=99", "SAFE has revisions 1 to 1."),
    ],
)
def test_history_with_bad_from_or_to_says_so(client_for, member, draft_class, query, message):
    response = client_for(member).get(f"/qos/SAFE/history/{query}")
    assert response.status_code == 200
    assert message in response.content.decode()
    assert response.context["diff"] is None


def test_description_markdown_is_sanitised(client_for, admin, member):
    StorageQoSClass.objects.create_draft(
        by=admin,
        **{
            **SAFE_CONTENT,
            "description": "**bold** <script>alert(1)</script> [x](javascript:alert(2)) <img src=x onerror=alert(3)>",
        },
    )
    page = client_for(member).get("/qos/SAFE/").content.decode()
    assert "<strong>bold</strong>" in page
    assert "<script>alert(1)" not in page
    assert "javascript:" not in page
    assert "onerror" not in page


# --- where a form sends the user back to (next) -------------------------------------------------------------
@pytest.fixture
def rse(db):
    instance = RucioInstance.objects.create(name="escape", host="https://rucio.escape.invalid")
    return RSE.objects.create(instance=instance, name="CERN-EOS", rucio_value="OLD", sync_state="drifted")


ELSEWHERE = ["https://evil.example/qos/rses/", "//evil.example/", "javascript:alert(1)", "/\\evil.example"]


@pytest.mark.parametrize("target", ELSEWHERE)
def test_an_assignment_never_sends_the_user_to_another_site(client_for, admin, rse, approved_class, target):
    client = client_for(admin)
    refused = client.post("/qos/rses/assign/", {"qos_class": "SAFE", "confirm": "True", "next": target})
    assert (refused.status_code, refused["Location"]) == (302, "/qos/rses/")
    done = client.post(
        "/qos/rses/assign/", {"rses": ["CERN-EOS"], "qos_class": "SAFE", "confirm": "True", "next": target}
    )
    assert (done.status_code, done["Location"]) == (302, "/qos/rses/")
    plan = client.post("/qos/rses/assign/", {"rses": ["CERN-EOS"], "qos_class": "SAFE", "next": target})
    page = plan.content.decode()
    assert "evil.example" not in page and "javascript:" not in page
    assert '<input type="hidden" name="next" value="/qos/rses/">' in page


def test_an_assignment_sends_the_user_back_to_the_page_of_this_site_it_came_from(
    client_for, admin, rse, approved_class
):
    response = client_for(admin).post(
        "/qos/rses/assign/",
        {"rses": ["CERN-EOS"], "qos_class": "SAFE", "confirm": "True", "next": "/qos/rses/CERN-EOS/"},
    )
    assert response["Location"] == "/qos/rses/CERN-EOS/"


@pytest.mark.parametrize("action", ["reconcile", "adopt"])
def test_reconcile_and_adopt_lead_back_to_the_rse_whatever_next_says(client_for, admin, rse, action):
    response = client_for(admin).post(f"/qos/rses/CERN-EOS/{action}/", {"next": "https://evil.example/"})
    assert (response.status_code, response["Location"]) == (302, "/qos/rses/CERN-EOS/")


# --- where a class is: its RSEs, on its page and in the catalogue -------------------------------------------------
def make_rses(count, *, qos_class=None, planned_class=None, prefix="SITE", **fields):
    instance, _ = RucioInstance.objects.get_or_create(name="escape", host="https://rucio.escape.invalid")
    return RSE.objects.bulk_create(
        RSE(
            instance=instance,
            name=f"{prefix}-{i:04d}",
            qos_class=qos_class,
            planned_class=planned_class,
            **fields,
        )
        for i in range(count)
    )


def test_the_class_page_lists_the_rses_that_carry_it_with_their_sync_state(
    client_for, member, approved_class
):
    make_rses(2, qos_class=approved_class, sync_state="in_sync", rucio_value="SAFE")
    make_rses(1, qos_class=approved_class, prefix="DRIFT", sync_state="drifted", rucio_value="FAST")
    make_rses(1, prefix="OTHER")
    page = client_for(member).get("/qos/SAFE/").content.decode()
    assert 'RSEs that carry it <span class="muted">3</span>' in page
    for name in ("SITE-0000", "SITE-0001", "DRIFT-0000"):
        assert f'<a href="/qos/rses/{name}/"><code>{name}</code></a>' in page
    assert "OTHER-0000" not in page
    assert '<span class="badge sync-in_sync">In sync</span>' in page
    assert '<span class="badge sync-drifted">Drifted</span>' in page
    assert "All 3 RSEs" not in page  # all of them are on the page


def test_the_class_page_shows_the_first_rses_and_links_to_all_of_them(client_for, member, approved_class):
    make_rses(30, qos_class=approved_class)
    page = client_for(member).get("/qos/SAFE/").content.decode()
    assert page.count('<td data-label="RSE">') == 25
    assert "SITE-0024" in page and "SITE-0025" not in page
    assert '<a href="/qos/rses/?qos_class=SAFE">All 30 RSEs that carry SAFE</a>' in page


def test_the_class_page_says_where_a_class_awaiting_approval_is_planned(client_for, member, proposed_class):
    make_rses(2, planned_class=proposed_class)
    page = client_for(member).get("/qos/SAFE/").content.decode()
    assert "No RSE carries SAFE." in page
    assert "Planned on 2 RSEs, pushed to Rucio once approved" in page
    assert '<a href="/qos/rses/SITE-0001/"><code>SITE-0001</code></a>' in page


def test_only_qos_admins_get_assign_to_rses_with_the_class_chosen(client_for, admin, member, approved_class):
    make_rses(1)
    link = '<a class="button" href="/qos/rses/?assign=SAFE">Assign to RSEs</a>'
    assert link in client_for(admin).get("/qos/SAFE/").content.decode()
    assert link not in client_for(member).get("/qos/SAFE/").content.decode()
    page = client_for(admin).get("/qos/rses/?assign=SAFE").content.decode()
    assert '<option value="SAFE" selected>' in page
    assert "Tick the RSEs that should carry <code>SAFE</code>" in page
    assert '<option value="SAFE">' in client_for(admin).get("/qos/rses/").content.decode()  # not chosen


def test_assign_to_rses_fills_in_the_label_where_the_catalogue_is_too_large_to_list(
    client_for, admin, approved_class, monkeypatch
):
    monkeypatch.setattr("qos.views.too_many_classes_to_list", lambda: True)
    page = client_for(admin).get("/qos/rses/?assign=SAFE").content.decode()
    assert 'name="qos_class" id="id_qos_class_assign" form="rse-assign" value="SAFE"' in page


def test_a_deprecated_class_offers_no_assignment(client_for, admin, approved_class):
    approved_class.deprecate(by=admin, reason="replaced by SAFE2")
    assert "Assign to RSEs" not in client_for(admin).get("/qos/SAFE/").content.decode()


def test_the_catalogue_shows_how_many_rses_carry_each_class(client_for, member, approved_class, admin):
    make_rses(3, qos_class=approved_class)
    draft = StorageQoSClass.objects.create_draft(by=admin, **{**SAFE_CONTENT, "label": "NEW"})
    make_rses(2, planned_class=draft, prefix="PLAN")
    page = client_for(member).get("/qos/").content.decode()
    assert '<a href="/qos/rses/?qos_class=SAFE" title="RSEs that carry SAFE">3</a>' in page
    assert "+2 planned" in page
