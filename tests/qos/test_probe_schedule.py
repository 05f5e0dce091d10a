"""When RSEs are probed: beat queues at each tick only the RSEs due, no more than their share of the interval, so
that probes spread out; and probe history is bounded (raw for QOS_PROBE_RAW_DAYS, daily means after)."""

from datetime import UTC, timedelta

import pytest
import redis
from django.utils import timezone

from qos import tasks
from qos.choices import ClassStatus
from qos.models import RSE, Probe, ProbeDay, RucioInstance, StorageQoSClass
from qos.probing import due_for_probe
from tests.celery_worker import publishing_to
from tests.conftest import SAFE_CONTENT

pytestmark = pytest.mark.django_db


@pytest.fixture
def classed_rses():
    rucio_instance = RucioInstance.objects.create(name="escape", host="https://rucio.escape.example")
    qos_class = StorageQoSClass.objects.create(**SAFE_CONTENT, status=ClassStatus.APPROVED)
    RSE.objects.create(instance=rucio_instance, name="NO-CLASS")
    return [
        RSE.objects.create(instance=rucio_instance, name=f"RSE-{n}", qos_class=qos_class) for n in range(10)
    ]


def probed(rse, when):
    return Probe.objects.create(
        rse=rse, started_at=when, duration_seconds=1, ok=True, write_mbps=10, read_mbps=20
    )


def test_each_tick_queues_its_share_of_the_rses_due_the_least_recently_probed_first(classed_rses, settings):
    settings.QOS_PROBE_INTERVAL_SECONDS = 600
    now = timezone.now()
    for rse in classed_rses[:5]:
        probed(rse, now - timedelta(seconds=900))  # due again
    probed(classed_rses[5], now - timedelta(seconds=1000))
    for rse in classed_rses[6:]:
        probed(rse, now - timedelta(seconds=60))  # not due
    # 10 RSEs over 600 s, a tick of 120 s: 2 per tick.
    due = due_for_probe(now=now, tick_seconds=120)
    assert due == [classed_rses[5].pk, classed_rses[0].pk]
    assert len(due_for_probe(now=now, tick_seconds=600)) == 6  # every one due, no RSE without a class


def test_never_probed_rses_come_first_and_an_interval_of_zero_probes_nothing(classed_rses, settings):
    settings.QOS_PROBE_INTERVAL_SECONDS = 600
    for rse in classed_rses[1:]:
        probed(rse, timezone.now() - timedelta(days=1))
    assert due_for_probe(tick_seconds=60) == [classed_rses[0].pk]
    settings.QOS_PROBE_INTERVAL_SECONDS = 0
    assert due_for_probe(tick_seconds=60) == []


def test_the_periodic_task_queues_the_due_probes_on_the_probes_queue(classed_rses, settings, private_redis):
    settings.QOS_PROBE_INTERVAL_SECONDS = 600
    settings.QOS_PROBE_TICK_SECONDS = 120
    settings.QOS_PROBE_QUEUE = "probes"
    broker_url = private_redis.database_url(10)
    queue = redis.Redis.from_url(broker_url)
    queue.delete("probes", "celery")
    with publishing_to(broker_url):
        assert tasks.probe_due_rses() == 2
    assert (queue.llen("probes"), queue.llen("celery")) == (2, 0)
    queue.delete("probes")


def test_probes_older_than_the_raw_days_become_daily_means(classed_rses, settings):
    rse = classed_rses[0]
    now = timezone.now()
    old_day = (now - timedelta(days=40)).replace(hour=10)
    probed(rse, old_day)
    Probe.objects.create(
        rse=rse,
        started_at=old_day + timedelta(hours=2),
        duration_seconds=1,
        ok=True,
        write_mbps=30,
        read_mbps=40,
    )
    Probe.objects.create(
        rse=rse, started_at=old_day + timedelta(hours=3), duration_seconds=1, ok=False, error="x"
    )
    recent = probed(rse, now - timedelta(days=2))
    assert Probe.objects.compact(keep_days=30, now=now) == 3
    assert list(Probe.objects.all()) == [recent]
    day = ProbeDay.objects.get()
    assert (day.rse, day.day, day.probes, day.failures) == (rse, old_day.astimezone(UTC).date(), 3, 1)
    assert (day.write_mbps, day.read_mbps) == (20, 30)
    # Run again: nothing more to fold, nothing counted twice.
    assert Probe.objects.compact(keep_days=30, now=now) == 0
    assert ProbeDay.objects.get().probes == 3
