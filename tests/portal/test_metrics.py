"""/metrics: who may scrape it, what it reports (from the database and Redis), what a scrape costs, and the
request metrics of several gunicorn workers added up (PROMETHEUS_MULTIPROC_DIR).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from pathlib import Path

import pytest
import redis
import requests
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from prometheus_client.parser import text_string_to_metric_families

from qos.models import RSE, Conformance, Probe, Push, PushAttempt, RucioInstance, StorageQoSClass
from tests.celery_worker import wait_for
from tests.conftest import SAFE_CONTENT
from tests.ports import free_port

ROOT = Path(__file__).resolve().parents[2]
TOKEN = "metrics-token-for-tests-4b1d9e7a2c6f8e0b3d5a7c9e1f2a4b6c"


def samples(text: str) -> dict[tuple[str, tuple], float]:
    """Every sample of an exposition: ``{(name, ((label, value), ...)): value}``."""
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def scrape(token: str = TOKEN) -> str:
    response = Client().get("/metrics", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 200, response.content
    assert response["Content-Type"].startswith("text/plain; version=")
    return response.content.decode()


@pytest.fixture
def metrics_token(settings):
    settings.METRICS_TOKEN = TOKEN
    return TOKEN


@pytest.fixture
def no_broker(settings):
    """A Redis URL on which nothing listens."""
    settings.CELERY_BROKER_URL = f"redis://127.0.0.1:{free_port()}/0"


# --- Who may scrape -----------------------------------------------------------------------------------------
@pytest.mark.django_db
def test_anonymous_scrape_is_refused_with_401_and_says_how(client, metrics_token):
    response = client.get("/metrics")
    assert response.status_code == 401
    assert response["WWW-Authenticate"] == 'Bearer realm="metrics"'
    assert b"qos_" not in response.content


@pytest.mark.django_db
@pytest.mark.parametrize("persona", ["outsider", "member", "liaison_cta", "coordinator"])
def test_users_who_are_not_qos_admins_get_403(client_for, persona, request, metrics_token):
    response = client_for(request.getfixturevalue(persona)).get("/metrics")
    assert response.status_code == 403
    assert b"qos_" not in response.content


@pytest.mark.django_db
def test_a_logged_in_qos_admin_may_scrape(client_for, admin, no_broker):
    response = client_for(admin).get("/metrics")
    assert response.status_code == 200
    assert "qos_rses" in response.content.decode()


@pytest.mark.django_db
def test_the_right_token_scrapes_without_a_session(metrics_token, no_broker):
    assert "# TYPE qos_rses gauge" in scrape()


@pytest.mark.django_db
@pytest.mark.parametrize(
    "authorization",
    [f"Bearer {TOKEN}x", f"Bearer {TOKEN[:-1]}", "Bearer ", f"Basic {TOKEN}", TOKEN, "Bearer tökén"],
)
def test_a_wrong_token_is_refused_even_with_an_admin_session(client_for, admin, metrics_token, authorization):
    response = client_for(admin).get("/metrics", headers={"Authorization": authorization})
    assert response.status_code == 401
    assert b"qos_" not in response.content


@pytest.mark.django_db
def test_without_metrics_token_configured_no_token_is_accepted(client_for, admin, settings, no_broker):
    settings.METRICS_TOKEN = ""
    assert Client().get("/metrics", headers={"Authorization": "Bearer "}).status_code == 401
    assert Client().get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"}).status_code == 401
    assert client_for(admin).get("/metrics").status_code == 200


@pytest.mark.django_db
def test_only_get_is_allowed(metrics_token):
    response = Client().post("/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
    assert response.status_code == 405


def test_a_short_metrics_token_is_refused_at_start():
    env = {key: value for key, value in os.environ.items() if key != "DJANGO_ALLOW_ASYNC_UNSAFE"}
    result = subprocess.run(
        [sys.executable, "manage.py", "check"],
        cwd=ROOT,
        env={**env, "DJANGO_SETTINGS_MODULE": "tests.settings", "METRICS_TOKEN": "short"},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode != 0
    assert "METRICS_TOKEN must be at least 32 characters" in result.stderr


# --- What it reports ------------------------------------------------------------------------------------------
def make_state(rses_per_state: int = 1) -> RucioInstance:
    """Classes, RSEs, pushes and attempts in known states: ``rses_per_state`` RSEs in each sync state, each
    with one push per push state (the queued one created 10 minutes ago) and one attempt per outcome."""
    for status, label in [
        ("approved", "SAFE"),
        ("approved", "FAST"),
        ("proposed", "CHEAP"),
        ("retired", "OLD"),
    ]:
        StorageQoSClass.objects.create(**{**SAFE_CONTENT, "label": label, "status": status})
    instance = RucioInstance.objects.create(name="escape", host="http://rucio.example")
    RucioInstance.objects.create(name="off", host="http://other.example", enabled=False)
    rses = RSE.objects.bulk_create(
        RSE(instance=instance, name=f"RSE-{state}-{n}", sync_state=state)
        for state in ["in_sync", "pending", "drifted", "failed", "unknown"]
        for n in range(rses_per_state)
    )
    ten_minutes_ago = timezone.now() - timedelta(minutes=10)
    pushes = Push.objects.bulk_create(
        Push(
            rse=rse,
            key="QOS",
            value="SAFE",
            operation="set",
            reason="test",
            state=state,
            created_at=ten_minutes_ago if state == "queued" else timezone.now(),
        )
        for rse in rses
        for state in ["queued", "sending", "done", "failed", "superseded"]
    )
    PushAttempt.objects.bulk_create(
        PushAttempt(push=push, outcome=outcome)
        for push in pushes
        for outcome in ["written", "unchanged", "transient", "permanent"]
    )
    return instance


@pytest.mark.django_db
def test_metrics_report_classes_rses_pushes_and_attempts_by_state(metrics_token, no_broker):
    make_state(rses_per_state=2)
    values = samples(scrape())
    assert {
        status: values[("qos_classes", (("status", status),))]
        for status in ["draft", "proposed", "approved", "deprecated", "retired"]
    } == {
        "draft": 0,
        "proposed": 1,
        "approved": 2,
        "deprecated": 0,
        "retired": 1,
    }
    assert {
        state: values[("qos_rses", (("sync_state", state),))]
        for state in ["in_sync", "pending", "drifted", "failed", "unknown"]
    } == dict.fromkeys(["in_sync", "pending", "drifted", "failed", "unknown"], 2)
    # 10 RSEs, one push in each state each: the outbox holds 10 queued and 10 sending.
    assert {
        state: values[("qos_pushes", (("state", state),))]
        for state in ["queued", "sending", "done", "failed", "superseded"]
    } == dict.fromkeys(["queued", "sending", "done", "failed", "superseded"], 10)
    assert {
        outcome: values[("qos_push_attempts_total", (("outcome", outcome),))]
        for outcome in ["written", "unchanged", "transient", "permanent"]
    } == dict.fromkeys(["written", "unchanged", "transient", "permanent"], 50)
    assert 600 <= values[("qos_push_outbox_oldest_age_seconds", ())] < 900
    assert values[("qos_rucio_instance_last_sync_timestamp_seconds", (("instance", "escape"),))] == 0
    assert ("qos_rucio_instance_last_sync_timestamp_seconds", (("instance", "off"),)) not in values


@pytest.mark.django_db
def test_an_empty_portal_reports_zeros_not_missing_series(metrics_token, no_broker):
    values = samples(scrape())
    assert values[("qos_rses", (("sync_state", "failed"),))] == 0
    assert values[("qos_pushes", (("state", "queued"),))] == 0
    assert values[("qos_push_outbox_oldest_age_seconds", ())] == 0
    assert values[("qos_push_attempts_total", (("outcome", "permanent"),))] == 0


@pytest.mark.django_db
def test_request_latencies_are_counted_by_view_method_and_status(
    metrics_token, client_for, member, no_broker
):
    def count(view: str, method: str, status: str) -> float:
        key = (
            "portal_http_request_duration_seconds_count",
            (("method", method), ("status", status), ("view", view)),
        )
        return samples(scrape()).get(key, 0)

    before = (
        count("healthz", "GET", "200"),
        count("qos:class-list", "GET", "200"),
        count("none", "GET", "404"),
    )
    for _ in range(3):
        Client().get("/healthz")
    client_for(member).get("/qos/")
    Client().get("/no-such-page/")
    after = count("healthz", "GET", "200"), count("qos:class-list", "GET", "200"), count("none", "GET", "404")
    assert [b - a for a, b in zip(before, after, strict=True)] == [3, 1, 1]
    text = scrape()
    assert (
        'portal_http_request_duration_seconds_bucket{le="0.2",method="GET",status="200",view="healthz"}'
        in text
    )


@pytest.mark.django_db
def test_celery_queue_length_is_read_from_redis_for_each_queue(metrics_token, private_redis, settings):
    # A database of its own on the session's Redis: no worker consumes from it.
    settings.CELERY_BROKER_URL = private_redis.url.rsplit("/", 1)[0] + "/7"
    broker = redis.Redis.from_url(settings.CELERY_BROKER_URL)
    lists = ("celery", "celery\x06\x163", settings.QOS_PROBE_QUEUE)
    broker.delete(*lists)
    broker.rpush("celery", "m1", "m2", "m3")
    broker.rpush("celery\x06\x163", "m4")  # kombu's list for priority 3
    broker.rpush(settings.QOS_PROBE_QUEUE, "p1", "p2")  # the probes' worker's queue
    try:
        values = samples(scrape())
    finally:
        broker.delete(*lists)
    assert values[("qos_celery_broker_up", ())] == 1
    assert values[("qos_celery_queue_length", (("queue", "celery"),))] == 4
    assert values[("qos_celery_queue_length", (("queue", settings.QOS_PROBE_QUEUE),))] == 2


@pytest.mark.django_db
def test_a_broker_that_is_down_fails_no_scrape(metrics_token, no_broker):
    make_state()
    values = samples(scrape())
    assert values[("qos_celery_broker_up", ())] == 0
    assert not any(name == "qos_celery_queue_length" for name, _ in values)
    assert values[("qos_rses", (("sync_state", "failed"),))] == 1


@pytest.mark.django_db
def test_a_scrape_costs_the_same_queries_for_10_or_100_rses_and_their_pushes(metrics_token, no_broker):
    def queries() -> int:
        with CaptureQueriesContext(connection) as captured:
            scrape()
        return len(captured)

    make_state(rses_per_state=2)  # 10 RSEs, 50 pushes, 200 attempts
    few = queries()
    instance = RucioInstance.objects.get(name="escape")
    more = RSE.objects.bulk_create(
        RSE(instance=instance, name=f"MORE-{n}", sync_state="failed") for n in range(90)
    )
    Push.objects.bulk_create(
        Push(rse=rse, key="QOS", value="SAFE", operation="set", reason="t", state="failed") for rse in more
    )
    probes = Probe.objects.bulk_create(
        Probe(rse=rse, duration_seconds=2, ok=True, write_mbps=50, read_mbps=90, latency_seconds=0.1)
        for rse in more
    )
    Conformance.objects.bulk_create(
        Conformance(rse=rse, verdict="conforming", last_probe=probe)
        for rse, probe in zip(more, probes, strict=True)
    )
    # One each: classes, RSE states, pushes, attempts, instances, capacities; verdicts (and RSEs never judged),
    # last probes.
    assert queries() == few <= 9


@pytest.mark.django_db
def test_each_rses_capacity_is_a_gauge_with_no_sample_when_unknown(metrics_token, no_broker):
    instance = RucioInstance.objects.create(name="escape", host="https://rucio.escape.invalid")
    RSE.objects.create(
        instance=instance,
        name="CERN-EOS",
        capacity_used_bytes=200 * 10**12,
        capacity_free_bytes=50 * 10**12,
        capacity_total_bytes=250 * 10**12,
        capacity_min_free_bytes=10 * 10**12,
        capacity_source="storage",
    )
    RSE.objects.create(instance=instance, name="DESY-DCACHE", capacity_error="RSENotFound")
    values = samples(scrape())
    labels = (("instance", "escape"), ("rse", "CERN-EOS"))
    assert values[("qos_rse_usable_bytes", labels)] == 40 * 10**12
    assert values[("qos_rse_free_bytes", labels)] == 50 * 10**12
    assert values[("qos_rse_total_bytes", labels)] == 250 * 10**12
    # Unknown is no series at all, never a 0 that reads as full.
    assert not any(dict(labels).get("rse") == "DESY-DCACHE" for _, labels in values)


# --- Several gunicorn workers: PROMETHEUS_MULTIPROC_DIR ----------------------------------------------------------
def _database_url() -> str:
    settings_dict = connection.settings_dict
    if connection.vendor == "sqlite":
        return f"sqlite:///{settings_dict['NAME']}"
    user = settings_dict.get("USER") or ""
    password = f":{settings_dict['PASSWORD']}" if settings_dict.get("PASSWORD") else ""
    host = settings_dict.get("HOST") or "127.0.0.1"
    return f"postgres://{user}{password}@{host}:{settings_dict.get('PORT') or 5432}/{settings_dict['NAME']}"


def _worker_pids(master: int) -> set[int]:
    children = Path(f"/proc/{master}/task/{master}/children")
    return {int(pid) for pid in children.read_text().split()} if children.exists() else set()


@pytest.mark.django_db(transaction=True)
def test_gunicorn_workers_request_metrics_are_added_up_and_outlive_a_worker(tmp_path):
    port = free_port()
    multiproc_dir = tmp_path / "prometheus"
    multiproc_dir.mkdir()
    (multiproc_dir / "histogram_999999.db").write_bytes(b"left over from an earlier run")
    env = {
        **{key: value for key, value in os.environ.items() if key != "DJANGO_ALLOW_ASYNC_UNSAFE"},
        "DJANGO_SETTINGS_MODULE": "tests.settings",
        "DATABASE_URL": _database_url(),
        "BIND": f"127.0.0.1:{port}",
        "WEB_CONCURRENCY": "2",
        "GUNICORN_THREADS": "1",
        "PROMETHEUS_MULTIPROC_DIR": str(multiproc_dir),
        "METRICS_TOKEN": TOKEN,
        "LOG_FORMAT": "json",
        "CELERY_BROKER_URL": f"redis://127.0.0.1:{free_port()}/0",
    }
    stdout, stderr = tmp_path / "gunicorn.out", tmp_path / "gunicorn.err"
    with stdout.open("w") as out, stderr.open("w") as err:
        server = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "portal.wsgi", "-c", "gunicorn.conf.py"],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=err,
            start_new_session=True,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_for(lambda: len(_worker_pids(server.pid)) == 2 and _answers(url), timeout=60, what="gunicorn")
        assert not (multiproc_dir / "histogram_999999.db").exists(), "files of an earlier run are removed"

        def healthz_count() -> float:
            answer = requests.get(f"{url}/metrics", headers={"Authorization": f"Bearer {TOKEN}"}, timeout=10)
            assert answer.status_code == 200, answer.text
            key = (
                "portal_http_request_duration_seconds_count",
                (("method", "GET"), ("status", "200"), ("view", "healthz")),
            )
            return samples(answer.text).get(key, 0)

        before = healthz_count()
        with ThreadPoolExecutor(8) as pool:
            answers = list(pool.map(lambda _: requests.get(f"{url}/healthz", timeout=10), range(40)))
        assert {answer.status_code for answer in answers} == {200}
        assert healthz_count() - before == 40
        # Workers die and are replaced: what they counted stays counted.
        for pid in _worker_pids(server.pid):
            os.kill(pid, signal.SIGKILL)
        wait_for(lambda: len(_worker_pids(server.pid)) == 2 and _answers(url), timeout=60, what="new workers")
        assert healthz_count() - before >= 40
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=30)

    # LOG_FORMAT=json: every line gunicorn and the portal wrote is JSON, access lines with the request id.
    lines = [json.loads(line) for path in (stdout, stderr) for line in path.read_text().splitlines() if line]
    assert all(isinstance(line["request_id"], str) for line in lines)
    access = [line for line in lines if line.get("logger") == "gunicorn.access"]
    ids = {answer.headers["X-Request-ID"] for answer in answers}
    assert ids <= {line["request_id"] for line in access}
    assert {
        (line["method"], line["path"], line["status"]) for line in access if line["request_id"] in ids
    } == {("GET", "/healthz", "200")}


def _answers(url: str) -> bool:
    try:
        return requests.get(f"{url}/healthz", timeout=5).status_code == 200
    except requests.RequestException:  # not listening yet, or a worker still loading Django
        return False
