"""Schemathesis against the OpenAPI schema the portal serves (/api/schema/), as every role.

For each persona (member, CTA liaison, coordinator, QoS admin, and a logged-in outsider with no role) the
schema is fetched from the portal as that user, and every operation in it is called with generated
requests, valid and invalid, through Django's own WSGI application on the test database. Every response
must not be a server error (5xx) and must match the schema: a documented status code, the documented
content type and headers, a body of the documented shape.

The run is bounded and repeatable: a fixed seed, derandomized generation, no Hypothesis example database,
a few examples per operation. Each request runs in a savepoint that is rolled back, so the seeded data
(classes in every state, an RSE with pushes, experiments with requirements, meetings with actions) is the
same for every example, and path parameters are drawn half the time from the real keys of that data so
that detail routes and their actions are reached, not only their 404s.
"""

from __future__ import annotations

import io
import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
import schemathesis
from django.conf import settings
from django.core.handlers.wsgi import WSGIHandler
from django.core.management import call_command
from django.core.signals import request_finished
from django.db import close_old_connections, transaction
from django.test import Client
from django.utils import timezone
from hypothesis import strategies as st
from schemathesis.checks import not_a_server_error
from schemathesis.config import SchemathesisConfig
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from engagement.models import Requirement
from portal.models import Action, Meeting, Person
from qos import tasks
from qos.choices import AttemptOutcome, PushState
from qos.models import RSE, Push, PushAttempt, RucioInstance, StorageQoSClass
from tests.conftest import SAFE_CONTENT

ROLES = ["member", "liaison_cta", "coordinator", "admin", "outsider"]

# What the issue asks: zero 5xx, and every response as the schema documents it.
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]

CONFIG = SchemathesisConfig.from_dict(
    {
        "seed": 20260701,
        "suppress-health-check": ["all"],
        "generation": {
            "mode": "all",
            "max-examples": 12,
            "deterministic": True,
            "database": "none",
            # The session cookie of the persona is sent instead of made-up credentials.
            "with-security-parameters": False,
        },
        "phases": {"stateful": {"enabled": False}, "coverage": {"enabled": False}},
    }
)


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
    instance = RucioInstance.objects.create(name="escape", host="http://127.0.0.1:9", env_prefix="RUCIO_SCHEMA")
    safe = StorageQoSClass.objects.get(label="SAFE")
    in_sync = RSE.objects.create(
        instance=instance, name="CERN-EOS", qos_class=safe, rucio_value="SAFE", rucio_attributes={"QOS": "SAFE"}
    )
    drifted = RSE.objects.create(
        instance=instance, name="DESY-DCACHE", rucio_value="FAST", rucio_attributes={"QOS": "FAST"}
    )
    RSE.objects.create(instance=instance, name="PIC-DCACHE", planned_class=StorageQoSClass.objects.get(label="PROPOSED-ONE"))
    for rse in (in_sync, drifted):
        rse.refresh_sync_state()
    push = Push.objects.create(
        rse=in_sync, key="QOS", value="SAFE", operation="set", reason="assigned SAFE", requested_by=admin
    )
    PushAttempt.objects.create(
        push=push, outcome=AttemptOutcome.PERMANENT_ERROR, error="Denied", finished_at=timezone.now()
    )
    Push.objects.filter(pk=push.pk).update(state=PushState.FAILED, attempts=1, last_error="Denied")


@pytest.fixture
def seeded(db, admin, admin2, coordinator, liaison_cta, member, outsider) -> dict[str, list[Any]]:
    """The demo (classes, experiments, requirements, meetings, actions) and more; the real keys by route."""
    call_command("loaddemo", stdout=io.StringIO())
    _seed_catalogue(admin, admin2)
    _seed_rses(admin)
    return {
        "/api/v1/qos-classes/{label}/": list(StorageQoSClass.objects.values_list("label", flat=True)),
        "/api/v1/rses/{name}/": list(RSE.objects.values_list("name", flat=True)),
        "/api/v1/rucio-instances/{name}/": list(RucioInstance.objects.values_list("name", flat=True)),
        "/api/v1/pushes/{id}/": list(Push.objects.values_list("pk", flat=True)),
        "/api/v1/experiments/{short_name}/": ["CTA", "ATLAS", "SKA"],
        "/api/v1/requirements/{id}/": list(Requirement.objects.values_list("pk", flat=True)),
        "/api/v1/meetings/{id}/": list(Meeting.objects.values_list("pk", flat=True)),
        "/api/v1/actions/{id}/": list(Action.objects.values_list("pk", flat=True)),
        "/api/v1/people/{id}/": list(Person.objects.values_list("pk", flat=True)),
        "/api/v1/streams/{letter}/": ["A", "B", "C"],
    }


@pytest.fixture
def wsgi_app() -> Iterator[WSGIHandler]:
    """Django's WSGI application, on the test database's connection.

    As Django's test client does, the end of a request must not close the connection: that would end the
    test's transaction (and with it the rollback of everything the run writes).
    """
    request_finished.disconnect(close_old_connections)
    try:
        yield WSGIHandler()
    finally:
        request_finished.connect(close_old_connections)


@pytest.fixture(params=ROLES)
def persona(request, seeded):
    return request.getfixturevalue(request.param)


@dataclass(frozen=True)
class Credentials:
    """What a browser of the persona sends: its session cookie, and a CSRF token (cookie and header)."""

    client: Client
    cookies: dict[str, str]
    headers: dict[str, str]


@pytest.fixture
def credentials(persona) -> Credentials:
    client = Client()
    client.force_login(persona)
    csrf = secrets.token_hex(16)  # 32 characters: a CSRF secret Django accepts in the cookie and the header
    return Credentials(
        client=client,
        cookies={
            settings.SESSION_COOKIE_NAME: client.cookies[settings.SESSION_COOKIE_NAME].value,
            settings.CSRF_COOKIE_NAME: csrf,
        },
        headers={"X-CSRFToken": csrf},
    )


@pytest.fixture
def api_schema(seeded, wsgi_app, credentials, monkeypatch):
    """The schema as the portal serves it to the persona, wired to the app and to the seeded keys."""
    # The Rucio sync the API queues must not reach a real broker: the run checks the HTTP contract only.
    monkeypatch.setattr(tasks.sync_instance, "delay", lambda *args, **kwargs: None)
    served = credentials.client.get("/api/schema/", {"format": "json"})
    assert served.status_code == 200, served.content
    schema = schemathesis.openapi.from_dict(served.json(), config=CONFIG)
    schema.app = wsgi_app

    @schema.hook
    def flatmap_path_parameters(context, path_parameters: dict[str, Any]) -> st.SearchStrategy:
        # Half the time a real object, so that a detail route is exercised beyond its 404.
        path = context.operation.path
        for route, keys in seeded.items():
            if path.startswith(route.rsplit("/", 2)[0] + "/{") and keys:
                name = route.rsplit("{", 1)[1].rstrip("/}")
                real = st.sampled_from(keys).map(lambda key, name=name: {**path_parameters, name: key})
                return st.one_of(st.just(path_parameters), real)
        return st.just(path_parameters)

    return schema


schema = schemathesis.pytest.from_fixture("api_schema")


@schema.parametrize()
def test_every_operation_answers_as_documented_and_never_with_a_server_error(case, credentials):
    with transaction.atomic():
        response = case.call(headers=credentials.headers, cookies=credentials.cookies)
        # Every example starts from the same seeded data.
        transaction.set_rollback(True)
    case.validate_response(response, checks=CHECKS, headers=credentials.headers)
