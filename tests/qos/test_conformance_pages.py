"""Conformance on the pages: the RSE page (verdict, reasons, the server-drawn charts against the class's targets,
"Probe now" for QoS admins only), the RSE list (column and filter), the class page, the dashboard and /metrics."""

from datetime import timedelta

import pytest
import redis
from django.utils import timezone

from qos.choices import ClassStatus
from qos.models import RSE, Conformance, Probe, RucioInstance, StorageQoSClass
from tests.celery_worker import publishing_to
from tests.conftest import SAFE_CONTENT

pytestmark = pytest.mark.django_db


@pytest.fixture
def judged():
    """Two RSEs of a FAST class (2,000 MB/s, online): WARPED violating after three slow probes, GOOD conforming."""
    instance = RucioInstance.objects.create(name="escape", host="https://rucio.escape.invalid")
    fast = StorageQoSClass.objects.create(
        **{**SAFE_CONTENT, "label": "FAST", "storage_media": "disk", "access_latency": "online"},
        throughput_mbps=2000,
        status=ClassStatus.APPROVED,
    )
    rses = {}
    for name, write in (("WARPED", 38.0), ("GOOD", 2500.0)):
        rse = rses[name] = RSE.objects.create(instance=instance, name=name, qos_class=fast)
        for hours in (3, 2, 1):
            probe = Probe.objects.create(
                rse=rse,
                started_at=timezone.now() - timedelta(hours=hours),
                duration_seconds=1.5,
                ok=True,
                size_bytes=10_000_000,
                write_mbps=write,
                read_mbps=2100.0,
                latency_seconds=0.2,
                qos_class_label="FAST",
            )
            Conformance.objects.judge(rse, probe)
    RSE.objects.create(instance=instance, name="PLAIN")
    return rses


def test_everyone_who_reads_sees_the_verdict_its_reasons_and_the_charts(
    client_for, member, liaison_cta, coordinator, judged
):
    for user in (member, liaison_cta, coordinator):
        page = client_for(user).get("/qos/rses/WARPED/")
        assert page.status_code == 200
        text = page.content.decode()
        assert '<span class="badge verdict-violating"' in text
        assert "wrote at 38 MB/s, FAST promises 2,000 MB/s" in text
        assert "durability: a probe cannot measure it" in text
        # Two charts drawn on the server, with the class's targets as lines; no script, nothing from elsewhere.
        assert text.count('<svg viewBox="0 0 640 200" role="img"') == 2
        assert "FAST promises 2,000 MB/s</title>" in text and "FAST is online: within" in text
        assert text.count('<circle cx="') == 9  # three probes: write, read, latency
        assert "Probe now" not in text


def test_only_qos_admins_probe_from_the_page(client_for, member, coordinator, admin, judged, private_redis):
    for user in (member, coordinator):
        assert client_for(user).post("/qos/rses/WARPED/probe/").status_code == 403
    assert "Probe now" in client_for(admin).get("/qos/rses/WARPED/").content.decode()
    broker_url = private_redis.database_url(11)
    queue = redis.Redis.from_url(broker_url)
    queue.delete("probes")
    with publishing_to(broker_url):
        response = client_for(admin).post("/qos/rses/WARPED/probe/", follow=True)
    assert response.redirect_chain == [("/qos/rses/WARPED/", 302)]
    assert [str(m) for m in response.context["messages"]] == [
        "Probe of WARPED queued: its verdict is updated when it has run."
    ]
    assert queue.llen("probes") == 1
    queue.delete("probes")


def test_an_rse_without_class_says_so_and_has_no_chart(client_for, member, judged):
    text = client_for(member).get("/qos/rses/PLAIN/").content.decode()
    assert '<span class="badge verdict-unknown"' in text
    assert "No class is assigned: there is no promise to check." in text
    assert "Throughput: no probe to plot yet." in text


def test_the_rse_list_has_a_conformance_column_and_filter(client_for, member, judged):
    text = client_for(member).get("/qos/rses/").content.decode()
    assert "<th>Conformance</th>" in text
    assert text.count('class="badge verdict-') == 3
    filtered = client_for(member).get("/qos/rses/?conformance=violating").content.decode()
    assert "WARPED" in filtered and "GOOD" not in filtered and "PLAIN" not in filtered
    unknown = client_for(member).get("/qos/rses/?conformance=unknown").content.decode()
    assert "PLAIN" in unknown and "WARPED" not in unknown


def test_the_class_page_lists_its_rses_with_their_verdicts(client_for, member, judged):
    text = client_for(member).get("/qos/FAST/").content.decode()
    assert '<span class="badge verdict-violating"' in text
    assert '<span class="badge verdict-conforming"' in text


def test_the_dashboard_shows_qos_admins_the_rses_not_delivering(client_for, admin, member, judged):
    text = client_for(admin).get("/").content.decode()
    assert "RSEs not delivering their class" in text
    section = text.split("RSEs not delivering their class", 1)[1].split("</section>", 1)[0]
    assert "WARPED" in section and "GOOD" not in section
    assert "wrote at 38 MB/s, FAST promises 2,000 MB/s" in section


def test_the_rse_list_queries_do_not_grow_with_judged_rses(client_for, member, judged):
    from tests.qos.test_query_counts import count_queries

    client = client_for(member)
    few = count_queries(client, "/qos/rses/")
    instance = RucioInstance.objects.get()
    more = RSE.objects.bulk_create(RSE(instance=instance, name=f"MORE-{n}") for n in range(30))
    Conformance.objects.bulk_create(
        Conformance(rse=rse, verdict="degraded", reasons=["slow"]) for rse in more
    )
    assert count_queries(client, "/qos/rses/") == few
