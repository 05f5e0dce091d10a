"""Conformance in the API: ``conformance`` in an RSE's record, its probe history, and ``POST .../probe/`` (QoS
admins only), queued on the probes' own queue and run there by a real worker while pushes go on beside it."""

import pytest
import redis
from django.utils import timezone

from qos.choices import ClassStatus, Verdict
from qos.models import RSE, Conformance, Probe, Push, StorageQoSClass
from tests.celery_worker import publishing_to, wait_for
from tests.conftest import SAFE_CONTENT


def make_class(label: str, throughput: int | None = 1) -> StorageQoSClass:
    content = {**SAFE_CONTENT, "label": label, "storage_media": "disk", "access_latency": "online"}
    return StorageQoSClass.objects.create(**content, throughput_mbps=throughput, status=ClassStatus.APPROVED)


def record(rse: RSE, **values) -> Probe:
    defaults = {"started_at": timezone.now(), "duration_seconds": 1.0, "ok": True, "size_bytes": 2_000_000}
    return Probe.objects.create(rse=rse, **{**defaults, **values})


@pytest.mark.django_db
def test_an_rse_never_probed_is_unknown_and_says_why(api_for, member, rucio_instance):
    RSE.objects.create(instance=rucio_instance, name="PLAIN")
    RSE.objects.create(instance=rucio_instance, name="CLASSED", qos_class=make_class("EASY"))
    plain = api_for(member).get("/api/v1/rses/PLAIN/").json()["conformance"]
    assert plain == {
        "verdict": "unknown",
        "reasons": ["No class is assigned: there is no promise to check."],
        "qos_class": "",
        "checked_at": None,
        "pending_verdict": None,
        "pending_count": 0,
        "last_probe": None,
    }
    classed = api_for(member).get("/api/v1/rses/CLASSED/").json()["conformance"]
    assert classed["reasons"] == ["Not probed yet."]


@pytest.mark.django_db
def test_every_role_reads_the_verdict_the_reasons_and_the_history(
    api_for, member, liaison_cta, coordinator, admin, rucio_instance
):
    rse = RSE.objects.create(instance=rucio_instance, name="WARPED", qos_class=make_class("WARP", 1_000_000))
    for _ in range(3):
        Conformance.objects.judge(rse, record(rse, write_mbps=40.0, read_mbps=90.0, latency_seconds=0.2))
    failed = record(rse, ok=False, fault="transient", error="cannot connect to the Rucio server")
    Conformance.objects.judge(rse, failed)
    for user in (member, liaison_cta, coordinator, admin):
        detail = api_for(user).get("/api/v1/rses/WARPED/").json()["conformance"]
        assert detail["verdict"] == Verdict.VIOLATING
        assert detail["reasons"][0] == "wrote at 40 MB/s, WARP promises 1,000,000 MB/s"
        assert (detail["pending_verdict"], detail["pending_count"]) == ("unreachable", 1)
        assert detail["last_probe"]["error"] == "cannot connect to the Rucio server"
        history = api_for(user).get("/api/v1/rses/WARPED/probes/?page_size=2").json()
        assert history["count"] == 4
        assert [row["ok"] for row in history["results"]] == [False, True]
        assert history["results"][1]["write_mbps"] == 40.0
        listed = api_for(user).get("/api/v1/rses/?conformance=violating").json()["results"]
        assert [row["name"] for row in listed] == ["WARPED"]
    assert api_for(member).get("/api/v1/rses/?conformance=conforming").json()["results"] == []


@pytest.mark.django_db
def test_the_unknown_filter_includes_rses_never_judged(api_for, member, rucio_instance):
    RSE.objects.create(instance=rucio_instance, name="NEVER")
    judged = RSE.objects.create(instance=rucio_instance, name="JUDGED", qos_class=make_class("EASY"))
    Conformance.objects.create(rse=judged, verdict=Verdict.CONFORMING)
    names = [
        row["name"] for row in api_for(member).get("/api/v1/rses/?conformance=unknown").json()["results"]
    ]
    assert names == ["NEVER"]


@pytest.mark.django_db
def test_only_qos_admins_queue_a_probe(
    api_for, member, liaison_cta, coordinator, rucio_instance, private_redis
):
    RSE.objects.create(instance=rucio_instance, name="EASY-RSE", qos_class=make_class("EASY"))
    broker_url = private_redis.database_url(9)  # no worker consumes it
    queue = redis.Redis.from_url(broker_url)
    queue.delete("probes")
    with publishing_to(broker_url):
        for user in (member, liaison_cta, coordinator):
            assert api_for(user).post("/api/v1/rses/EASY-RSE/probe/").status_code == 403
        assert queue.llen("probes") == 0
        assert api_for(member).post("/api/v1/rses/NOPE/probe/").status_code in (403, 404)


@pytest.mark.django_db(transaction=True)
def test_a_queued_probe_runs_on_the_probes_worker_while_pushes_go_through_the_other(
    api_for, admin, start_worker, rucio_instance, posix_rse, rucio_admin_client, settings
):
    settings.QOS_PROBE_QUEUE = "probes"
    name, directory = posix_rse()
    rse = RSE.objects.create(instance=rucio_instance, name=name, qos_class=make_class("EASY"))
    pusher = start_worker()
    prober = start_worker(queues="probes", QOS_PROBE_FILE_MB="2", QOS_PROBE_CONFIRMATIONS="1")
    response = api_for(admin).post(f"/api/v1/rses/{name}/probe/")
    assert (response.status_code, response.json()) == (202, {"detail": f"Probe of {name} queued."})
    # A push meanwhile goes through the other worker.
    assert (
        api_for(admin).patch(f"/api/v1/rses/{name}/", {"qos_class": None}, format="json").status_code == 200
    )
    wait_for(lambda: Push.objects.filter(rse=rse, state="done").exists(), what="the push", timeout=60)
    probe = wait_for(lambda: Probe.objects.filter(rse=rse).first(), what="the probe", timeout=120)
    assert probe.ok, probe.error
    assert probe.qos_class_label == "EASY"
    ran = "Task qos.tasks.probe_rse["
    assert ran in prober.output() and ran not in pusher.output()
    assert [path for path in directory.rglob("*") if path.is_file()] == []
