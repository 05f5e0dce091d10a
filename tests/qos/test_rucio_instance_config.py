"""Where a Rucio instance connects, and with which credentials, is the deployment's configuration, not the
catalogue's: no role can have the portal send credentials to a server they were not configured for.

The "evil" server is a real listening socket on another loopback port: it records every connection and every
byte it is sent (a userpass login would carry ``X-Rucio-Username`` and ``X-Rucio-Password`` in clear).
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field

import pytest
from django.core.management import call_command
from django.core.management.base import SystemCheckError
from rest_framework.test import APIClient

from qos import tasks
from qos.checks import check_rucio_instances
from qos.models import RSE, Push, RucioInstance
from qos.rucio_gateway import PermanentRucioError, RucioError
from qos.rucio_gateway.sync import deliver, sync_rses

pytestmark = pytest.mark.django_db

PERSONAS = ["anonymous", "member", "liaison_cta", "coordinator", "admin", "superuser"]


@dataclass
class EvilServer:
    """A loopback port that answers every request 401 and keeps what it was sent."""

    url: str
    connections: list[bytes] = field(default_factory=list)

    @property
    def received(self) -> bytes:
        return b"".join(self.connections)


@pytest.fixture
def evil_server() -> Iterator[EvilServer]:
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    listener.settimeout(0.2)
    server = EvilServer(url=f"http://127.0.0.1:{listener.getsockname()[1]}")
    stopping = threading.Event()

    def serve() -> None:
        while not stopping.is_set():
            try:
                connection, _ = listener.accept()
            except TimeoutError:
                continue
            with connection:
                connection.settimeout(2)
                try:
                    server.connections.append(connection.recv(65536))
                    connection.sendall(
                        b"HTTP/1.1 401 Unauthorized\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
                    )
                except OSError:
                    server.connections.append(b"")

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield server
    stopping.set()
    thread.join()
    listener.close()


@pytest.fixture
def rses(rucio_instance, make_rse):
    names = [make_rse()]
    sync_rses(rucio_instance)
    return list(RSE.objects.filter(name__in=names))


@pytest.fixture
def superuser(django_user_model):
    return django_user_model.objects.create_superuser(username="root-admin", password="root-admin-pw")


@pytest.fixture
def api_as(request, api_for):
    """An API client for a persona by name; ``anonymous`` is not logged in."""

    def make(persona: str) -> APIClient:
        return APIClient() if persona == "anonymous" else api_for(request.getfixturevalue(persona))

    return make


def mirrored(instance: RucioInstance) -> tuple:
    instance.refresh_from_db()
    return (
        instance.name,
        instance.host,
        instance.auth_host,
        instance.account,
        instance.auth_type,
        instance.ca_bundle,
        instance.env_prefix,
    )


@pytest.mark.parametrize("persona", PERSONAS)
def test_no_role_can_add_or_re_point_an_instance_and_a_sync_still_talks_only_to_the_configured_server(
    persona, request, api_as, client_for, rucio_instance, rucio_server, make_rse, evil_server
):
    api = api_as(persona)
    before = mirrored(rucio_instance)

    added = api.post(
        "/api/v1/rucio-instances/",
        {
            "name": "x",
            "host": evil_server.url,
            "account": "root",
            "auth_type": "userpass",
            "env_prefix": rucio_instance.env_prefix,
        },
        format="json",
    )
    if persona == "anonymous":
        assert added.status_code in (401, 403)
    else:
        assert added.status_code == 405
        assert "set in the deployment's environment" in added.json()["detail"]
    assert list(RucioInstance.objects.values_list("name", flat=True)) == ["test"]

    changes = {
        "host": evil_server.url,
        "auth_host": evil_server.url,
        "env_prefix": "RUCIO",
        "ca_bundle": "/etc/passwd",
        "account": "evil",
        "auth_type": "x509",
        "name": "x",
    }
    for name, value in changes.items():
        response = api.patch(f"/api/v1/rucio-instances/{rucio_instance.name}/", {name: value}, format="json")
        if persona == "anonymous":
            assert response.status_code in (401, 403)
        elif persona in ("admin", "superuser"):
            assert response.status_code == 400, (name, response.json())
            assert response.json()[name][0].startswith("Set in the deployment's environment (")
        else:
            assert response.status_code == 403
        for method in ("put", "delete"):
            replaced = getattr(api, method)(
                f"/api/v1/rucio-instances/{rucio_instance.name}/", {name: value}, format="json"
            )
            assert replaced.status_code in ((401, 403) if persona == "anonymous" else (405,))
    assert mirrored(rucio_instance) == before

    # Nor through Django's admin: it has no page for instances (and lets only staff in at all).
    if persona != "anonymous":
        site = client_for(request.getfixturevalue(persona))
        for url in ("/admin/qos/rucioinstance/add/", f"/admin/qos/rucioinstance/{rucio_instance.pk}/change/"):
            assert site.post(url, {"name": "x", "host": evil_server.url}).status_code in (302, 404)
            assert site.get(url).status_code in (302, 404)
    assert mirrored(rucio_instance) == before

    name = make_rse()
    tasks.sync_instance(rucio_instance.pk)  # what the worker runs for "sync now"
    rucio_instance.refresh_from_db()
    assert rucio_instance.last_error == ""
    assert RSE.objects.filter(name=name, instance=rucio_instance).exists()
    assert evil_server.connections == []


def test_qos_admins_keep_what_is_theirs(api_for, admin, rucio_instance):
    response = api_for(admin).patch(
        "/api/v1/rucio-instances/test/",
        # Unchanged deployment values are no change: a client may send back what it read.
        {"attribute_key": "QOS_CLASS", "enabled": False, "host": rucio_instance.host},
        format="json",
    )
    assert response.status_code == 200, response.json()
    rucio_instance.refresh_from_db()
    assert (rucio_instance.attribute_key, rucio_instance.enabled) == ("QOS_CLASS", False)


def test_the_answer_about_a_ca_bundle_does_not_depend_on_the_workers_files(api_for, admin, rucio_instance):
    answers = {
        path: api_for(admin).patch("/api/v1/rucio-instances/test/", {"ca_bundle": path}, format="json")
        for path in ("/etc/passwd", "/no/such/file.pem")
    }
    assert {response.status_code for response in answers.values()} == {400}
    assert answers["/etc/passwd"].json() == answers["/no/such/file.pem"].json()


def test_a_row_pointed_elsewhere_in_the_database_gets_no_credentials(
    rses, approved_class, admin, rucio_instance, rucio_server, evil_server
):
    """A row changed behind the portal's back (a database shell, a stale row): refused, not believed."""
    RucioInstance.objects.filter(pk=rucio_instance.pk).update(host=evil_server.url, auth_host=evil_server.url)
    rucio_instance.refresh_from_db()
    with pytest.raises(
        PermanentRucioError, match=r"The settings of test \(host, auth host\) are not the deployment's"
    ):
        rucio_instance.connection()
    (push,) = RSE.objects.filter(pk=rses[0].pk).assign(approved_class, by=admin)
    deliver([push.pk])
    push.refresh_from_db()
    assert push.state == "failed"
    assert (
        "the portal sends RUCIO_TEST credentials only to the server configured with them" in push.last_error
    )
    assert evil_server.connections == []

    # A sync takes the deployment's settings again, and pushes reach the configured server.
    tasks.sync_instance(rucio_instance.pk)
    rucio_instance.refresh_from_db()
    assert (rucio_instance.host, rucio_instance.last_error) == (rucio_server.url, "")
    (push,) = RSE.objects.filter(pk=rses[0].pk).assign(approved_class, by=admin)
    deliver([push.pk])
    assert Push.objects.get(pk=push.pk).state == "done"
    assert evil_server.connections == []


def test_credentials_go_only_with_the_prefix_they_were_configured_for(
    rucio_instance, rucio_server, rucio_deployment, evil_server
):
    """Moving a row to another configured prefix moves it to that prefix's server and credentials: the
    first prefix's password never reaches the second server."""
    prefix = rucio_deployment.add("EVIL", evil_server.url, USERNAME="evil", PASSWORD="evil-password")
    RucioInstance.objects.filter(pk=rucio_instance.pk).update(
        env_prefix=prefix, host=evil_server.url, auth_host=evil_server.url
    )
    rucio_instance.refresh_from_db()
    with pytest.raises(RucioError):
        sync_rses(rucio_instance)
    assert evil_server.connections, "the EVIL instance talks to its own server"
    assert rucio_server.password.encode() not in evil_server.received
    assert b"evil-password" in evil_server.received


def test_plain_http_is_refused_without_the_setting(
    rucio_instance, rucio_server, monkeypatch, rucio_deployment
):
    rucio_deployment.add("EVIL", "http://127.0.0.1:9", USERNAME="u", PASSWORD="p")
    monkeypatch.delenv("RUCIO_ALLOW_INSECURE_HTTP")
    with pytest.raises(PermanentRucioError, match="RUCIO_TEST_HOST is a plain http:// URL"):
        rucio_instance.connection()
    tasks.sync_instance(rucio_instance.pk)
    rucio_instance.refresh_from_db()
    assert "RUCIO_TEST_HOST is a plain http:// URL" in rucio_instance.last_error
    assert rucio_server.password not in rucio_instance.last_error
    problems = [error.msg for error in check_rucio_instances()]
    assert [problem.split(" is ")[0] for problem in problems] == ["RUCIO_TEST_HOST", "RUCIO_EVIL_HOST"]
    with pytest.raises(SystemCheckError, match=r"qos\.E001"):
        call_command("check")

    monkeypatch.setenv("RUCIO_ALLOW_INSECURE_HTTP", "1")
    assert check_rucio_instances() == []
    assert rucio_instance.connection().host == rucio_server.url


def test_the_environment_describes_the_instances(monkeypatch, rucio_deployment):
    monkeypatch.setenv("RUCIO_HOST", "https://rucio.escape.example")
    monkeypatch.setenv("RUCIO_USERNAME", "qos-portal")
    monkeypatch.setenv("RUCIO_PASSWORD", "escape-password-4f1")
    rucio_deployment.add(
        "TESTBED",
        "https://rucio.testbed.example",
        AUTH_HOST="https://rucio-auth.testbed.example",
        AUTH_TYPE="x509",
        CA_CERT="/etc/qos-portal/testbed-ca.pem",
        CLIENT_CERT="/etc/qos-portal/testbed.pem",
        INSTANCE_NAME="escape-testbed",
    )
    assert check_rucio_instances() == []
    default, testbed = RucioInstance.objects.from_environment()
    assert mirrored(default) == (
        "default", "https://rucio.escape.example", "https://rucio.escape.example", "root", "userpass", "",
        "RUCIO",
    )  # fmt: skip
    assert mirrored(testbed) == (
        "escape-testbed", "https://rucio.testbed.example", "https://rucio-auth.testbed.example", "root",
        "x509", "/etc/qos-portal/testbed-ca.pem", "RUCIO_TESTBED",
    )  # fmt: skip
    connection = testbed.connection()
    assert (connection.host, connection.auth_host, connection.ca_cert, connection.client_cert) == (
        "https://rucio.testbed.example",
        "https://rucio-auth.testbed.example",
        "/etc/qos-portal/testbed-ca.pem",
        "/etc/qos-portal/testbed.pem",
    )
    assert connection.password == ""
    assert default.connection().password == "escape-password-4f1"


@pytest.mark.parametrize(
    ("variables", "problem"),
    [
        ({"RUCIO_INSTANCES": "escape"}, "RUCIO_INSTANCES names 'escape': give upper case letters"),
        ({"RUCIO_INSTANCES": "ESCAPE"}, "RUCIO_INSTANCES names ESCAPE but RUCIO_ESCAPE_HOST is not set."),
        (
            {"RUCIO_INSTANCES": "AUTH", "RUCIO_AUTH_HOST": "https://rucio.auth.example"},
            "RUCIO_AUTH_HOST would be read by both RUCIO and RUCIO_AUTH: rename AUTH in RUCIO_INSTANCES.",
        ),
        ({"RUCIO_HOST": "rucio.example"}, "RUCIO_HOST is not an https:// URL of a Rucio server."),
        (
            {"RUCIO_HOST": "https://rucio.example", "RUCIO_AUTH_TYPE": "kerberos"},
            "RUCIO_AUTH_TYPE is 'kerberos': give one of userpass, x509, oidc.",
        ),
        (
            {
                "RUCIO_HOST": "https://rucio.example",
                "RUCIO_INSTANCES": "OTHER",
                "RUCIO_OTHER_HOST": "https://rucio.other.example",
                "RUCIO_OTHER_INSTANCE_NAME": "default",
            },
            "RUCIO and RUCIO_OTHER both name their instance 'default'",
        ),
    ],
)
def test_a_wrong_configuration_stops_the_start(monkeypatch, variables, problem):
    for name, value in variables.items():
        monkeypatch.setenv(name, value)
    (error,) = check_rucio_instances()
    assert error.id == "qos.E001"
    assert error.msg.startswith(problem)


def test_an_instance_the_environment_does_not_describe_reads_no_variable(monkeypatch):
    monkeypatch.setenv("RUCIO_DOMA_USERNAME", "doma")
    monkeypatch.setenv("RUCIO_DOMA_PASSWORD", "doma-password-9c2")
    instance = RucioInstance.objects.create(
        name="doma", host="https://rucio.doma.invalid", env_prefix="RUCIO_DOMA"
    )
    with pytest.raises(
        PermanentRucioError, match="The deployment configures no Rucio instance with the prefix"
    ):
        instance.connection()
