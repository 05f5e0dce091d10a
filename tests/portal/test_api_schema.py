"""Schemathesis against the OpenAPI schema the portal serves (/api/schema/), as every role.

The schema is fetched from the portal, and every operation in it is called with generated requests, valid
and invalid, through Django's own WSGI application on the test database. Each generated request is sent as
every persona (member, CTA liaison, coordinator, QoS admin, and a logged-in outsider with no role), with a
browser's session cookie and CSRF token. No answer may be a server error (5xx), and every answer must match
the schema: a documented status code, the documented content type and headers, a body of the documented
shape. The successes are then held against the roles: the outsider reads nothing but who they are, the
member writes nothing but progress on their own action (and a new address for their own calendar), the others
read and write.

The run is bounded and repeatable: derandomized generation, no Hypothesis example database, a few examples
per operation and mode (``API_FUZZ_EXAMPLES``, default 5; e.g. ``API_FUZZ_EXAMPLES=50 pytest
tests/portal/test_api_schema.py`` for a deeper run). Each request runs in a savepoint that is rolled back,
so every example meets the same seeded data (classes in every state, RSEs with a failed push, the demo's
experiments, requirements, meetings and actions), and path parameters are half the time real keys of that
data, so that detail routes and their actions are reached, not only their 404s.

Below it, one test per bug the run found, so that each stays fixed even if generation stops finding it.
"""

from __future__ import annotations

import io
import os
import secrets
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import hypothesis
import hypothesis.errors
import pytest
import schemathesis
from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.handlers.wsgi import WSGIHandler
from django.core.management import call_command
from django.core.signals import request_finished, request_started
from django.db import close_old_connections, transaction
from django.test import Client
from django.utils import timezone
from hypothesis import strategies as st
from schemathesis.checks import not_a_server_error
from schemathesis.config import SchemathesisConfig
from schemathesis.generation import GenerationMode
from schemathesis.schemas import APIOperation, BaseSchema
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from engagement.models import Requirement
from meetings.models import Action, Meeting, MeetingSeries, Person
from qos import tasks
from qos.choices import AttemptOutcome, PushState
from qos.models import RSE, Push, PushAttempt, RucioInstance, StorageQoSClass
from tests.conftest import SAFE_CONTENT
from tests.meetings.meeting_factories import make_meeting, make_series, zurich

pytestmark = pytest.mark.django_db

MAX_EXAMPLES = int(os.environ.get("API_FUZZ_EXAMPLES", "5"))
ROLES = ["member", "liaison_cta", "coordinator", "admin", "outsider"]
WRITES = {"POST", "PUT", "PATCH", "DELETE"}

# What the issue asks: zero 5xx, and every response as the schema documents it.
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]

# Requests carry the persona's session cookie, not credentials schemathesis would make up.
CONFIG = SchemathesisConfig.from_dict({"generation": {"with-security-parameters": False}})


def _seed_catalogue(admin, admin2) -> None:
    """One class in each state besides the demo's approved four: draft, proposed, deprecated, retired."""
    draft = {**SAFE_CONTENT, "title": "A draft"}
    StorageQoSClass.objects.create_draft(by=admin, **{**draft, "label": "DRAFT-ONE"})
    proposed = StorageQoSClass.objects.create_draft(by=admin, **{**draft, "label": "PROPOSED-ONE"})
    proposed.propose(by=admin)
    for label, steps in (("DEPRECATED-ONE", ["deprecate"]), ("RETIRED-ONE", ["deprecate", "retire"])):
        qos_class = StorageQoSClass.objects.create_draft(by=admin, **{**draft, "label": label})
        qos_class.propose(by=admin)
        qos_class.approve(by=admin2)
        for step in steps:
            getattr(qos_class, step)(by=admin, reason="Superseded")
    # A pending change to an approved class.
    fast = StorageQoSClass.objects.get(label="FAST")
    fast.edit(by=admin, changes={"title": "Faster still"}, comment="Faster", base_revision=None)


def _seed_rses(admin) -> None:
    """A Rucio instance (nothing listens at its address) and RSEs in sync, drifted and with a failed push."""
    instance = RucioInstance.objects.create(
        name="escape", host="http://127.0.0.1:9", env_prefix="RUCIO_SCHEMA"
    )
    safe = StorageQoSClass.objects.get(label="SAFE")
    in_sync = RSE.objects.create(
        instance=instance,
        name="CERN-EOS",
        qos_class=safe,
        rucio_value="SAFE",
        rucio_attributes={"QOS": "SAFE"},
    )
    drifted = RSE.objects.create(
        instance=instance, name="DESY-DCACHE", rucio_value="FAST", rucio_attributes={"QOS": "FAST"}
    )
    RSE.objects.create(
        instance=instance, name="PIC-DCACHE", planned_class=StorageQoSClass.objects.get(label="PROPOSED-ONE")
    )
    for rse in (in_sync, drifted):
        rse.refresh_sync_state()
    push = Push.objects.create(
        rse=in_sync, key="QOS", value="SAFE", operation="set", reason="assigned SAFE", requested_by=admin
    )
    PushAttempt.objects.create(
        push=push, outcome=AttemptOutcome.PERMANENT_ERROR, error="Denied", finished_at=timezone.now()
    )
    Push.objects.filter(pk=push.pk).update(state=PushState.FAILED, attempts=1, last_error="Denied")


@dataclass(frozen=True)
class Seeded:
    """Real keys of the seeded data: by route (path parameters) and by body field (references)."""

    routes: dict[str, list[Any]]
    fields: dict[str, list[Any]]


@pytest.fixture
def seeded(db, admin, admin2, coordinator, liaison_cta, member, outsider) -> Seeded:
    """The demo (classes, experiments, requirements, meetings, actions) and more, and its real keys."""
    call_command("loaddemo", stdout=io.StringIO())
    _seed_catalogue(admin, admin2)
    _seed_rses(admin)
    # The member owns an open action, so that reporting progress on it is reached.
    mine = Person.objects.create(name="Erin Member", user=member)
    Action.objects.create_action(by=coordinator, text="Try the new class", owners=[mine])
    labels = list(StorageQoSClass.objects.values_list("label", flat=True))
    meetings = list(Meeting.objects.values_list("pk", flat=True))
    people = list(Person.objects.values_list("pk", flat=True))
    return Seeded(
        routes={
            "/api/v1/qos-classes/{label}/": labels,
            "/api/v1/rses/{name}/": list(RSE.objects.values_list("name", flat=True)),
            "/api/v1/rucio-instances/{name}/": list(RucioInstance.objects.values_list("name", flat=True)),
            "/api/v1/pushes/{id}/": list(Push.objects.values_list("pk", flat=True)),
            "/api/v1/experiments/{short_name}/": ["CTA", "ATLAS", "SKA"],
            "/api/v1/requirements/{id}/": list(Requirement.objects.values_list("pk", flat=True)),
            "/api/v1/meetings/{id}/": meetings,
            "/api/v1/actions/{id}/": list(Action.objects.values_list("pk", flat=True)),
            "/api/v1/people/{id}/": people,
            "/api/v1/streams/{letter}/": ["A", "B", "C"],
        },
        fields={
            "username": list(get_user_model().objects.values_list("username", flat=True)),
            "qos_class": labels,
            "experiment": ["CTA", "ATLAS", "SKA", "LOFAR"],
            "series": list(MeetingSeries.objects.values_list("slug", flat=True)),
            "stream": ["A", "B", "C"],
            "meeting": meetings,
            "raised_at": meetings,
            "owners": [[pk] for pk in people],
            "attendees": [[pk] for pk in people],
        },
    )


@dataclass(frozen=True)
class Credentials:
    """What a browser of the persona sends: its session cookie, and a CSRF token (cookie and header)."""

    username: str
    client: Client
    cookies: dict[str, str]
    headers: dict[str, str]


def credentials_of(user) -> Credentials:
    client = Client()
    client.force_login(user)
    csrf = secrets.token_hex(16)  # 32 characters: a CSRF secret Django accepts in the cookie and the header
    return Credentials(
        username=user.username,
        client=client,
        cookies={
            settings.SESSION_COOKIE_NAME: client.cookies[settings.SESSION_COOKIE_NAME].value,
            settings.CSRF_COOKIE_NAME: csrf,
        },
        headers={"X-CSRFToken": csrf},
    )


@pytest.fixture
def personas(request, seeded) -> dict[str, Credentials]:
    return {role: credentials_of(request.getfixturevalue(role)) for role in ROLES}


@pytest.fixture
def api_schema(seeded, personas, monkeypatch) -> Iterator[BaseSchema]:
    """The schema as the portal serves it, wired to Django's WSGI application and to the seeded keys."""
    # The Rucio sync the API queues must not reach a real broker: the run checks the HTTP contract only.
    monkeypatch.setattr(tasks.sync_instance, "delay", lambda *args, **kwargs: None)
    served = personas["member"].client.get("/api/schema/", {"format": "json"})
    assert served.status_code == 200, served.content
    schema = schemathesis.openapi.from_dict(served.json(), config=CONFIG)
    schema.app = WSGIHandler()

    @schema.hook
    def flatmap_path_parameters(context, path_parameters: dict[str, Any]) -> st.SearchStrategy:
        # Half the time a real object, so that a detail route is exercised beyond its 404.
        path = context.operation.path
        for route, keys in seeded.routes.items():
            if path.startswith(route.rsplit("/", 2)[0] + "/{") and keys:
                name = route.rsplit("{", 1)[1].rstrip("/}")
                real = st.sampled_from(keys).map(lambda key, name=name: {**path_parameters, name: key})
                return st.one_of(st.just(path_parameters), real)
        return st.just(path_parameters)

    @schema.hook
    def flatmap_body(context, body: Any) -> st.SearchStrategy:
        # References (a username, a class label, a meeting id...) half the time to real objects, so that a
        # body gets past "no such object" to the rules behind it.
        if not isinstance(body, dict):
            return st.just(body)
        references = {
            name: st.one_of(st.just(value), st.sampled_from(seeded.fields[name]))
            for name, value in body.items()
            if seeded.fields.get(name)
        }
        return st.fixed_dictionaries(references).map(lambda chosen: {**body, **chosen})

    # As Django's test client does, the start and end of a request must not close the connection: that would
    # end the test's transaction, and with it the rollback of everything the run writes.
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    try:
        yield schema
    finally:
        request_started.connect(close_old_connections)
        request_finished.connect(close_old_connections)


def _exercise(
    operation: APIOperation, mode: GenerationMode, personas: dict[str, Credentials], successes: Counter
) -> None:
    """MAX_EXAMPLES generated requests to one operation, each sent as every persona and checked."""

    @hypothesis.settings(
        max_examples=MAX_EXAMPLES,
        derandomize=True,
        database=None,
        deadline=None,
        suppress_health_check=list(hypothesis.HealthCheck),
        phases=[hypothesis.Phase.explicit, hypothesis.Phase.generate, hypothesis.Phase.shrink],
    )
    @hypothesis.given(case=operation.as_strategy(generation_mode=mode))
    def run(case) -> None:
        for role, credentials in personas.items():
            with transaction.atomic():
                response = case.call(headers=credentials.headers, cookies=credentials.cookies)
                # Every request meets the same seeded data.
                transaction.set_rollback(True)
            try:
                case.validate_response(response, checks=CHECKS, headers=credentials.headers)
            except Exception as failure:
                failure.add_note(f"Sent as {role} ({credentials.username}).")
                raise
            if 200 <= response.status_code < 300:
                successes[(role, operation.method.upper(), operation.path)] += 1

    run()


def test_every_operation_answers_every_role_as_documented_and_never_with_a_server_error(
    api_schema, personas, subtests
):
    operations = [result.ok() for result in api_schema.get_all_operations()]
    assert len(operations) > 50
    successes: Counter = Counter()
    for operation in operations:
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            with subtests.test(msg=f"{operation.label} ({mode.value})"):
                try:
                    _exercise(operation, mode, personas, successes)
                except hypothesis.errors.Unsatisfiable:
                    # Fine when nothing in the operation can be made invalid (no parameters, no body).
                    if mode is GenerationMode.POSITIVE:
                        raise

    def succeeded(role: str, writes: bool) -> set[str]:
        return {
            f"{method} {path}"
            for (who, method, path) in successes
            if who == role and (method in WRITES) == writes
        }

    # The harness is not vacuous: the personas are logged in, and their writes pass the CSRF check.
    # Anyone logged in reads themselves and chooses how they hear of things (their own preferences only).
    assert succeeded("outsider", writes=False) == {"GET /api/v1/me/", "GET /api/v1/me/notifications/"}
    assert succeeded("outsider", writes=True) <= {"PATCH /api/v1/me/notifications/"}
    assert succeeded("member", writes=True) <= {
        "POST /api/v1/actions/{id}/updates/",
        "POST /api/v1/people/{id}/rotate-calendar/",  # their own calendar address
        "PATCH /api/v1/me/notifications/",  # their own notification preferences
    }
    for role in ("member", "liaison_cta", "coordinator", "admin"):
        assert len(succeeded(role, writes=False)) > 20, role
    for role in ("liaison_cta", "coordinator", "admin"):
        assert succeeded(role, writes=True), role


# --- What the run found, one test each ---------------------------------------------------------------------


@pytest.fixture
def schema_document(client_for, member) -> dict[str, Any]:
    response = client_for(member).get("/api/schema/", {"format": "json"})
    assert response.status_code == 200
    return response.json()


def test_every_operation_documents_the_errors_drf_answers_with(schema_document):
    for path, methods in schema_document["paths"].items():
        for method, operation in methods.items():
            responses = operation["responses"]
            assert {"401", "403"} <= responses.keys(), f"{method} {path}"
            if "{" in path:
                assert "404" in responses, f"{method} {path}"
            if "requestBody" in operation:
                assert "400" in responses, f"{method} {path}"
    errors = schema_document["paths"]["/api/v1/qos-classes/"]["get"]["responses"]
    assert errors["403"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/ErrorDetail"
    }
    assert errors["400"]["content"]["application/json"]["schema"]["type"] == "object"


def test_the_schema_documents_the_status_codes_of_edits_and_comments(schema_document):
    paths = schema_document["paths"]
    for path in ("/api/v1/qos-classes/{label}/", "/api/v1/requirements/{id}/"):
        for method in ("put", "patch"):
            assert "409" in paths[path][method]["responses"], f"{method} {path}"
    comments = paths["/api/v1/requirements/{id}/comments/"]
    assert "201" in comments["post"]["responses"] and "200" not in comments["post"]["responses"]
    assert "200" in comments["get"]["responses"]


def test_the_schema_says_me_is_one_object_not_a_list(schema_document):
    me = schema_document["paths"]["/api/v1/me/"]["get"]["responses"]["200"]["content"]["application/json"]
    assert me["schema"] == {"$ref": "#/components/schemas/Me"}


def test_the_schema_says_which_answered_fields_may_be_null_or_blank(schema_document):
    schemas = schema_document["components"]["schemas"]
    for component, field in [
        ("PersonBrief", "username"),
        ("TimetableItem", "stream"),
        ("MinutesSection", "stream"),
        ("ActionUpdate", "author"),
        ("RSE", "planned_class"),
        ("Push", "requested_by"),
        ("Revision", "author"),
        ("Event", "author"),
        ("Event", "qos_class"),
        ("Comment", "author"),
    ]:
        assert schemas[component]["properties"][field].get("nullable") is True, f"{component}.{field}"
    # A read-only status that is blank when there is none ("filed" has no status before it).
    from_status = schemas["Event"]["properties"]["from_status"]
    assert {"$ref": "#/components/schemas/BlankEnum"} in from_status["oneOf"]


def test_a_patch_answers_null_for_an_owner_without_an_account(api_for, coordinator):
    someone = Person.objects.create(name="Aleem Sarwar")
    action = Action.objects.create_action(by=coordinator, text="Write the wiki page", owners=[someone])
    response = api_for(coordinator).patch(
        f"/api/v1/actions/{action.pk}/", {"text": "Write it"}, format="json"
    )
    assert response.status_code == 200
    # DRF leaves a field with a default out of a PATCH's answer; the schema promises it, as null.
    assert response.json()["owner_details"] == [
        {"id": someone.pk, "name": "Aleem Sarwar", "affiliation": "", "username": None}
    ]


def test_a_meeting_year_that_no_calendar_has_is_refused_not_a_server_error(api_for, client_for, member):
    for year in ("0", "1.5", "10000", "1e-12"):
        response = api_for(member).get("/api/v1/meetings/", {"year": year})
        assert response.status_code == 400, year
        assert "year" in response.json()
    assert api_for(member).get("/api/v1/meetings/", {"year": "2020"}).status_code == 200
    assert client_for(member).get("/meetings/", {"year": "0"}).status_code == 200


def test_a_url_under_api_that_matches_no_route_answers_json(api_for, client_for, member):
    response = api_for(member).get("/api/v1/meetings/1.5/")
    assert response.status_code == 404
    assert response["Content-Type"] == "application/json"
    assert response.json() == {"detail": "Not found."}
    # Pages keep their page.
    page = client_for(member).get("/no-such-page/")
    assert page.status_code == 404
    assert page["Content-Type"].startswith("text/html")


def test_a_nul_character_in_a_lookup_finds_nothing_instead_of_a_server_error(
    api_for, liaison_cta, admin, approved_class
):
    instance = RucioInstance.objects.create(name="escape", host="https://rucio.escape.invalid")
    RSE.objects.create(instance=instance, name="CERN-EOS")
    # In the URL, in a filter, in a body: PostgreSQL cannot hold NUL, and it used to be sent to it.
    assert api_for(admin).get("/api/v1/rses/CERN-EOS%00/").status_code == 404
    assert api_for(admin).get("/api/v1/rses/", {"qos_class": "SAFE\x00"}).status_code == 400
    assert api_for(admin).get("/api/v1/requirements/", {"experiment": "CTA\x00"}).status_code == 400
    response = api_for(liaison_cta).post(
        "/api/v1/engagement-records/",
        {"experiment": "CTA\x00", "kind": "meeting", "date": "2026-01-10", "subject": "Archive"},
        format="json",
    )
    assert response.status_code == 400
    assert "experiment" in response.json()
    assert api_for(admin).get("/api/v1/rses/CERN-EOS/").status_code == 200
    assert api_for(admin).get("/api/v1/rses/", {"qos_class": "SAFE"}).status_code == 200


def test_minutes_with_a_nul_character_are_refused_and_change_nothing(api_for, coordinator):
    meeting = make_meeting(make_series(), zurich(2026, 3, 18))
    section = meeting.minutes_sections.first()
    client = api_for(coordinator)
    url = f"/api/v1/meetings/{meeting.pk}/minutes/"
    response = client.patch(url, {"sections": [{"id": section.pk, "body": "a\x00b"}]}, format="json")
    assert response.status_code == 400
    assert "body" in str(response.json())
    section.refresh_from_db()
    assert section.body == ""
    fine = client.patch(url, {"sections": [{"id": section.pk, "body": "  indented\n"}]}, format="json")
    assert fine.status_code == 200
    section.refresh_from_db()
    assert section.body == "  indented\n"


def test_linking_an_account_to_a_second_person_is_refused_not_a_server_error(api_for, coordinator, member):
    erin = Person.objects.create(name="Erin Member", user=member)
    other = Person.objects.create(name="Someone Else")
    client = api_for(coordinator)
    taken = {"username": member.username}
    for response in (
        client.post("/api/v1/people/", {"name": "Erin Again", **taken}, format="json"),
        client.patch(f"/api/v1/people/{other.pk}/", taken, format="json"),
        client.put(f"/api/v1/people/{other.pk}/", {"name": "Someone Else", **taken}, format="json"),
    ):
        assert response.status_code == 400
        assert response.json() == {"username": ["This account is already linked to another person."]}
    assert Person.objects.filter(user=member).get() == erin
    assert Person.objects.count() == 2
    # The person it belongs to keeps it through an edit, and people without an account are many.
    assert client.patch(f"/api/v1/people/{erin.pk}/", taken, format="json").status_code == 200
    assert (
        client.post("/api/v1/people/", {"name": "No One", "username": None}, format="json").status_code == 201
    )


def test_a_meeting_outside_the_years_of_the_task_group_is_refused(api_for, coordinator):
    series = make_series()
    meeting = make_meeting(series, zurich(2026, 3, 18))
    client = api_for(coordinator)
    # Zurich's local mean time before 1894 (+00:34:08) is no RFC 3339 offset; late 9999 overflows.
    for starts_at in (
        "1139-07-30T10:32:58Z",
        "1999-12-31T12:00:00Z",
        "2200-01-01T12:00:00Z",
        "9999-12-31T23:30:00Z",
    ):
        new = {"series": series.slug, "title": "Old", "starts_at": starts_at}
        created = client.post("/api/v1/meetings/", new, format="json")
        assert created.status_code == 400, starts_at
        assert list(created.json()) == ["starts_at"]
        moved = client.patch(f"/api/v1/meetings/{meeting.pk}/", {"starts_at": starts_at}, format="json")
        assert moved.status_code == 400, starts_at
        following = client.post(
            f"/api/v1/meetings/{meeting.pk}/next/", {"starts_at": starts_at}, format="json"
        )
        assert following.status_code == 400, starts_at
    old = {"series": series.slug, "title": "Old", "starts_at": "1139-07-30T10:32:58Z"}
    assert client.post("/api/v1/meetings/", old, format="json").json() == {
        "starts_at": ["A meeting starts between 2000 and 2199."]
    }
    assert Meeting.objects.count() == 1
    meeting.refresh_from_db()
    assert meeting.starts_at == zurich(2026, 3, 18)
    assert client.post(f"/api/v1/meetings/{meeting.pk}/next/", {}, format="json").status_code == 201
