"""Logs: request ids (taken from the load balancer when sane, echoed, on every line, carried into Celery tasks),
JSON lines (LOG_FORMAT=json), the audit trail of catalogue decisions and pushes (logger ``qos.audit``), and no
secret in any line.
"""

from __future__ import annotations

import io
import json
import logging
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from django.conf import settings as django_settings
from django.test import Client

from common.logs import JsonFormatter
from portal.celery import app as celery_app
from qos.models import RSE, Push, RucioInstance
from qos.rucio_gateway import TransientRucioError
from qos.rucio_gateway.sync import deliver, sync_rses
from tests.celery_worker import wait_for

ROOT = Path(__file__).resolve().parents[2]
GENERATED_ID = re.compile(r"^[0-9a-f]{32}$")


@pytest.fixture
def log_output():
    """``use(format, level)``: what the root handler of settings.LOGGING writes from now on, in a buffer.

    The handler keeps its own filters (the request id); only its stream, and its formatter if asked, change.
    """
    root = logging.getLogger()
    handler = next(handler for handler in root.handlers if handler.get_name() == "console")
    buffer = io.StringIO()
    previous = handler.formatter, handler.stream, root.level

    def use(log_format: str = "json", level: int = logging.INFO) -> io.StringIO:
        handler.setStream(buffer)
        if log_format == "json":
            handler.setFormatter(JsonFormatter())
        else:
            handler.setFormatter(logging.Formatter(django_settings.LOGGING["formatters"]["plain"]["format"]))
        root.setLevel(level)
        return buffer

    yield use
    handler.setFormatter(previous[0])
    handler.setStream(previous[1])
    root.setLevel(previous[2])


def json_lines(buffer: io.StringIO) -> list[dict]:
    """Every line of the buffer as JSON: fails the test on any line that is not."""
    lines = [line for line in buffer.getvalue().splitlines() if line.strip()]
    parsed = []
    for line in lines:
        try:
            parsed.append(json.loads(line))
        except json.JSONDecodeError:
            pytest.fail(f"not a JSON log line: {line!r}")
    return parsed


def audit_records(caplog, event: str | None = None) -> list[logging.LogRecord]:
    return [
        record
        for record in caplog.records
        if record.name == "qos.audit" and (event is None or record.event == event)
    ]


@pytest.fixture
def rucio_instance(rucio_server, rucio_deployment, settings, tmp_path):
    """The session's Rucio server as a portal instance; server and credentials in RUCIO_TEST_* variables, as in
    production."""
    prefix = rucio_deployment.add(
        "TEST", rucio_server.url, USERNAME=rucio_server.username, PASSWORD=rucio_server.password
    )
    settings.RUCIO_TOKEN_DIR = str(tmp_path / "tokens")
    return RucioInstance.objects.create(name="test", host=rucio_server.url, account="root", env_prefix=prefix)


@pytest.fixture
def rses(rucio_instance, make_rse):
    names = [make_rse() for _ in range(2)]
    sync_rses(rucio_instance)
    return list(RSE.objects.filter(name__in=names).order_by("name"))


@pytest.fixture
def eager_celery():
    """Tasks run in-process when queued (as in scripts/run), so a push is sent within the request."""
    previous = celery_app.conf.task_always_eager
    celery_app.conf.task_always_eager = True
    yield
    celery_app.conf.task_always_eager = previous


# --- Request ids -------------------------------------------------------------------------------------------
@pytest.mark.django_db
def test_a_request_without_id_gets_a_new_one_in_the_response(client):
    response = client.get("/healthz")
    assert GENERATED_ID.match(response["X-Request-ID"])
    assert client.get("/healthz")["X-Request-ID"] != response["X-Request-ID"]


@pytest.mark.django_db
@pytest.mark.parametrize(
    "request_id", ["4f2a9c1e-8d1b-4e5f-9a7c-1b2c3d4e5f60", "Root=1-5759e988-bd862e3f", "lb:7/a.b_c+d"]
)
def test_a_sane_request_id_from_the_load_balancer_is_kept_and_echoed(client, request_id):
    response = client.get("/healthz", headers={"X-Request-ID": request_id})
    assert response["X-Request-ID"] == request_id


@pytest.mark.django_db
@pytest.mark.parametrize(
    "request_id",
    ["x" * 129, "two words", "<script>alert(1)</script>", 'quote"d', "line\nbreak", "-starts-with-dash", "é"],
)
def test_a_bad_request_id_is_replaced_by_a_new_one(client, request_id, log_output):
    buffer = log_output("json")
    response = client.get("/no-such-page/", headers={"X-Request-ID": request_id})  # a 404 logs a warning
    assert GENERATED_ID.match(response["X-Request-ID"])
    lines = json_lines(buffer)
    assert lines, "the 404 should have been logged"
    assert {line["request_id"] for line in lines} == {response["X-Request-ID"]}
    assert request_id not in buffer.getvalue()


@pytest.mark.django_db
def test_plain_log_lines_carry_the_request_id(client, log_output):
    buffer = log_output("plain")
    response = client.get("/no-such-page/", headers={"X-Request-ID": "lb-plain-1"})
    assert response["X-Request-ID"] == "lb-plain-1"
    assert "WARNING django.request [lb-plain-1] Not Found: /no-such-page/" in buffer.getvalue()


def test_lines_outside_a_request_carry_a_dash(log_output):
    buffer = log_output("json")
    logging.getLogger("qos.test").warning("no request here")
    (line,) = json_lines(buffer)
    assert (line["request_id"], line["message"], line["level"], line["logger"]) == (
        "-",
        "no request here",
        "WARNING",
        "qos.test",
    )
    assert re.match(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d+\+00:00$", line["time"])


def run_manage(*args: str, **env: str) -> subprocess.CompletedProcess:
    clean = {key: value for key, value in os.environ.items() if key not in {"DJANGO_ALLOW_ASYNC_UNSAFE"}}
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env={**clean, "DJANGO_SETTINGS_MODULE": "tests.settings", **env},
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_log_format_json_writes_one_json_object_per_line():
    result = run_manage(
        "shell",
        "--no-startup",
        "--no-imports",
        "-c",
        "import logging; log = logging.getLogger('qos.audit');"
        "log.info('one', extra={'event': 'class.approved', 'user': 'bob'});"
        "log.warning('two\\nlines')",
        LOG_FORMAT="json",
    )
    assert result.returncode == 0, result.stderr
    lines = [json.loads(line) for line in result.stderr.splitlines() if line.strip()]
    assert [(line["level"], line["message"]) for line in lines] == [
        ("INFO", "one"),
        ("WARNING", "two\nlines"),
    ]
    assert (lines[0]["event"], lines[0]["user"], lines[0]["logger"], lines[0]["request_id"]) == (
        "class.approved",
        "bob",
        "qos.audit",
        "-",
    )


def test_an_unknown_log_format_is_a_clear_error():
    result = run_manage("check", LOG_FORMAT="xml")
    assert result.returncode != 0
    assert "LOG_FORMAT must be plain or json, not 'xml'" in result.stderr


# --- The audit trail -----------------------------------------------------------------------------------------
@pytest.mark.django_db
def test_approval_is_audited_with_who_and_what(
    api_for, proposed_class, admin2, caplog, django_capture_on_commit_callbacks
):
    caplog.set_level(logging.INFO, logger="qos.audit")
    with django_capture_on_commit_callbacks(execute=True):
        response = api_for(admin2).post(
            "/api/v1/qos-classes/SAFE/approve/", {"comment": "fine", "base_revision": 2}, format="json"
        )
    assert response.status_code == 200
    (record,) = audit_records(caplog, "class.approved")
    assert (record.user, record.qos_class, record.revision, record.status) == (
        "bob-admin",
        "SAFE",
        3,
        "approved",
    )
    assert record.getMessage() == "bob-admin approved SAFE (revision 3: approved)"


@pytest.mark.django_db
def test_every_lifecycle_step_is_audited(
    draft_class, admin, admin2, caplog, django_capture_on_commit_callbacks
):
    caplog.set_level(logging.INFO, logger="qos.audit")
    with django_capture_on_commit_callbacks(execute=True):
        draft_class.propose(by=admin)
        draft_class.reject(by=admin2, reason="Say more about the tape copies.")
        draft_class.edit(by=admin, changes={"title": "Safe, two tape copies"}, base_revision=None)
        draft_class.propose(by=admin)
        draft_class.approve(by=admin2)
        draft_class.deprecate(by=admin2, reason="superseded by SAFE2")
        draft_class.retire(by=admin, reason="no RSE left")
    steps = [(record.event, record.user, record.qos_class) for record in audit_records(caplog)]
    assert steps == [
        ("class.proposed", "alice-admin", "SAFE"),
        ("class.rejected", "bob-admin", "SAFE"),
        ("class.edited", "alice-admin", "SAFE"),
        ("class.proposed", "alice-admin", "SAFE"),
        ("class.approved", "bob-admin", "SAFE"),
        ("class.deprecated", "bob-admin", "SAFE"),
        ("class.retired", "alice-admin", "SAFE"),
    ]


@pytest.mark.django_db
def test_a_refused_approval_is_not_audited_as_done(
    proposed_class, admin, caplog, django_capture_on_commit_callbacks
):
    caplog.set_level(logging.INFO, logger="qos.audit")
    with django_capture_on_commit_callbacks(execute=True), pytest.raises(Exception, match="four-eyes"):
        proposed_class.approve(by=admin)  # alice wrote it
    assert audit_records(caplog) == []


@pytest.mark.django_db
def test_assignment_and_its_pushes_are_audited_from_queue_to_rucio(
    rses, approved_class, admin, caplog, django_capture_on_commit_callbacks, monkeypatch
):
    caplog.set_level(logging.INFO, logger="qos.audit")
    # Only the audit lines: the task that sends the pushes is not queued in this test (deliver() below).
    monkeypatch.setattr("qos.querysets.send_after_commit", lambda push_ids: None)
    with django_capture_on_commit_callbacks(execute=True):
        pushes = RSE.objects.filter(pk__in=[rse.pk for rse in rses]).assign(
            approved_class, by=admin, reason="T2"
        )
    (assigned,) = audit_records(caplog, "rses.assigned")
    assert (assigned.user, assigned.qos_class, assigned.rse_count) == ("alice-admin", "SAFE", 2)
    assert assigned.getMessage() == f"alice-admin assigned SAFE to 2 RSE(s): {rses[0].name}, {rses[1].name}"
    queued = audit_records(caplog, "push.queued")
    assert [(r.push_id, r.rse, r.key, r.value, r.user, r.reason) for r in queued] == [
        (push.pk, push.rse.name, "QOS", "SAFE", "alice-admin", "T2") for push in pushes
    ]

    deliver([push.pk for push in pushes])
    written = audit_records(caplog, "push.written")
    assert sorted((r.push_id, r.rse, r.value, r.user) for r in written) == sorted(
        (push.pk, push.rse.name, "SAFE", "alice-admin") for push in pushes
    )
    assert written[0].getMessage().startswith(f"push {written[0].push_id} written: {written[0].rse} QOS=SAFE")


@pytest.mark.django_db
def test_failed_retried_skipped_and_superseded_pushes_are_audited(
    rses, rucio_instance, approved_class, admin, admin2, caplog, rucio_admin_client, rucio_deployment
):
    caplog.set_level(logging.INFO, logger="qos.audit")
    # Skipped: Rucio already holds the value, as the portal last read it (a value it believes right is read
    # before being written; one it knows to differ is written without a read).
    rucio_admin_client.add_rse_attribute(rses[0].name, "QOS", "SAFE")
    RSE.objects.record_rucio_attributes({rses[0].pk: {"QOS": "SAFE"}})
    (unchanged,) = RSE.objects.filter(pk=rses[0].pk).assign(approved_class, by=admin)
    deliver([unchanged.pk])
    assert [(r.push_id, r.user) for r in audit_records(caplog, "push.unchanged")] == [
        (unchanged.pk, "alice-admin")
    ]

    # Superseded: a newer push for the same RSE was written before this one was sent.
    (older,) = RSE.objects.filter(pk=rses[1].pk).assign(approved_class, by=admin)
    Push.objects.create(
        rse=rses[1], key="QOS", value="SAFE", operation="set", reason="newer", requested_by=admin2
    )
    deliver([older.pk])
    assert [r.push_id for r in audit_records(caplog, "push.superseded")] == [older.pk]

    # Failed for good, with Rucio's message: an RSE Rucio does not know.
    ghost = RSE.objects.create(instance=rucio_instance, name="NO-SUCH-RSE")
    (failed,) = RSE.objects.filter(pk=ghost.pk).assign(approved_class, by=admin2)
    deliver([failed.pk])
    (record,) = audit_records(caplog, "push.failed")
    assert (record.push_id, record.rse, record.user, record.levelname) == (
        failed.pk,
        "NO-SUCH-RSE",
        "bob-admin",
        "WARNING",
    )
    assert record.error == Push.objects.get(pk=failed.pk).last_error
    assert "NO-SUCH-RSE" in record.getMessage()

    # Retried: Rucio does not answer.
    rucio_deployment.move(rucio_instance, "http://127.0.0.1:9")
    (retried,) = RSE.objects.filter(pk=rses[1].pk).assign(approved_class, by=admin)
    with pytest.raises(TransientRucioError):
        deliver([retried.pk])
    (record,) = audit_records(caplog, "push.retry")
    assert (record.push_id, record.user, record.levelname) == (retried.pk, "alice-admin", "WARNING")
    assert record.error


# --- Request ids reach the audit lines, Celery tasks, and never a secret ---------------------------------------
@pytest.mark.django_db(transaction=True)
def test_audit_lines_of_a_request_carry_its_id(admin, admin2, proposed_class, log_output):
    buffer = log_output("json")
    client = Client()
    client.force_login(admin2)
    response = client.post(
        "/api/v1/qos-classes/SAFE/approve/",
        {"base_revision": 2},
        content_type="application/json",
        headers={"X-Request-ID": "lb-77"},
    )
    assert response.status_code == 200
    assert response["X-Request-ID"] == "lb-77"
    (approved,) = [line for line in json_lines(buffer) if line.get("event") == "class.approved"]
    assert (approved["request_id"], approved["user"], approved["qos_class"], approved["logger"]) == (
        "lb-77",
        "bob-admin",
        "SAFE",
        "qos.audit",
    )


@pytest.mark.django_db(transaction=True)
def test_a_push_sent_by_a_worker_logs_under_the_id_of_the_request_that_queued_it(
    start_worker, rses, approved_class, admin
):
    worker = start_worker(LOG_FORMAT="json")
    client = Client()
    client.force_login(admin)
    response = client.patch(
        f"/api/v1/rses/{rses[0].name}/",
        {"qos_class": "SAFE"},
        content_type="application/json",
        headers={"X-Request-ID": "lb-to-worker-1"},
    )
    assert response.status_code == 200, response.content
    wait_for(lambda: Push.objects.get(rse=rses[0]).state == "done", what="the push sent by the worker")

    def worker_lines() -> list[dict]:
        return [json.loads(line) for line in worker.output().splitlines() if line.startswith("{")]

    written = wait_for(
        lambda: [line for line in worker_lines() if line.get("event") == "push.written"], what="push.written"
    )
    assert (written[0]["request_id"], written[0]["rse"], written[0]["user"]) == (
        "lb-to-worker-1",
        rses[0].name,
        "alice-admin",
    )
    # Celery's own line about that task carries it too.
    succeeded = [
        line for line in worker_lines() if "send_pushes" in line["message"] and "succeeded" in line["message"]
    ]
    assert [line["request_id"] for line in succeeded] == ["lb-to-worker-1"]


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("log_format", ["json", "plain"])
def test_no_secret_reaches_any_log_line(
    log_format,
    log_output,
    settings,
    monkeypatch,
    rses,
    rucio_server,
    eager_celery,
    admin,
    admin2,
    proposed_class,
):
    secrets = {
        "SECRET_KEY": "django-secret-key-7c1f0e9a4b2d8e6f3a5c9b1d7e2f4a6c8b0d",
        "OIDC_RP_CLIENT_SECRET": "oidc-client-secret-5e8a2c4f6b9d1e3a",
        "METRICS_TOKEN": "metrics-token-0a9b8c7d6e5f4a3b2c1d0e9f8a7b6c5d",
        "RUCIO_PASSWORD": rucio_server.password,
        "WRONG_RUCIO_PASSWORD": "wrong-rucio-password-3d5f7a9c",
        "LOCAL_PASSWORD": "alice-admin-pw",
    }
    settings.SECRET_KEY = secrets["SECRET_KEY"]
    settings.OIDC_RP_CLIENT_SECRET = secrets["OIDC_RP_CLIENT_SECRET"]
    settings.METRICS_TOKEN = secrets["METRICS_TOKEN"]
    buffer = log_output(log_format, level=logging.DEBUG)

    browser = Client()
    login = browser.post(
        "/accounts/login/", {"username": "alice-admin", "password": secrets["LOCAL_PASSWORD"]}
    )
    assert login.status_code == 302
    failed_login = Client().post(
        "/accounts/login/", {"username": "alice-admin", "password": "not-" + secrets["LOCAL_PASSWORD"]}
    )
    assert failed_login.status_code == 200
    reviewer = Client()
    reviewer.force_login(admin2)
    assert (
        reviewer.post(
            "/api/v1/qos-classes/SAFE/approve/", {"base_revision": 2}, content_type="application/json"
        ).status_code
        == 200
    )
    # Assigned through the API: the push goes to the real Rucio within the request (eager task).
    assigned = browser.patch(
        f"/api/v1/rses/{rses[0].name}/", {"qos_class": "SAFE"}, content_type="application/json"
    )
    assert assigned.status_code == 200, assigned.content
    assert Push.objects.get(rse=rses[0]).state == "done"
    # Wrong Rucio credentials: the push fails with Rucio's message, which must not echo the password.
    monkeypatch.setenv("RUCIO_TEST_PASSWORD", secrets["WRONG_RUCIO_PASSWORD"])
    settings.RUCIO_TOKEN_DIR = str(Path(settings.RUCIO_TOKEN_DIR).with_name("other-tokens"))
    browser.patch(f"/api/v1/rses/{rses[1].name}/", {"qos_class": "SAFE"}, content_type="application/json")
    assert Push.objects.get(rse=rses[1]).state == "failed"
    scrape = Client().get("/metrics", headers={"Authorization": f"Bearer {secrets['METRICS_TOKEN']}"})
    assert scrape.status_code == 200
    wrong_scrape = Client().get(
        "/metrics", headers={"Authorization": f"Bearer not-{secrets['METRICS_TOKEN']}"}
    )
    assert wrong_scrape.status_code == 401

    output = buffer.getvalue()
    # The Rucio token the portal was given (its token cache) is a secret too.
    tokens = [path for path in Path(settings.RUCIO_TOKEN_DIR).parent.rglob("auth_token*") if path.is_file()]
    assert tokens, "the portal's Rucio token cache should hold a token"
    secrets.update((str(path), path.read_text().strip()) for path in tokens)
    # Rucio's message for the wrong password is logged, the password is not.
    assert "Cannot authenticate" in output
    leaked = [name for name, value in secrets.items() if value in output]
    assert leaked == [], f"secrets in the log: {leaked}"
    if log_format == "json":
        lines = json_lines(buffer)
        assert {line["event"] for line in lines if "event" in line} >= {
            "class.approved",
            "push.queued",
            "push.written",
            "push.failed",
        }
        assert all(line["request_id"] != "-" for line in lines if line.get("logger") == "qos.audit")
