"""The QoS admins hear of an RSE that drifted (once, when it drifts) and of a push Rucio refused for good."""

from __future__ import annotations

import pytest
from django.utils import timezone

from notifications.models import Notification
from qos.models import RSE, Push, RucioInstance
from qos.rucio_gateway import sync


@pytest.fixture
def addressed(admin, admin2, member):
    for user in (admin, admin2, member):
        user.email = f"{user.username}@example.org"
        user.save()


@pytest.fixture
def carrying(db, approved_class):
    instance = RucioInstance.objects.create(name="escape", host="https://rucio.escape.invalid")
    return RSE.objects.create(instance=instance, name="CERN-EOS", qos_class=approved_class)


def test_an_rse_that_drifts_is_told_to_the_qos_admins_once(mailbox, committed, addressed, carrying):
    Notification.objects.all().delete()  # those of the set-up, never committed
    committed(RSE.objects.record_rucio_attributes, {carrying.pk: {"QOS": "FAST"}})
    committed(RSE.objects.record_rucio_attributes, {carrying.pk: {"QOS": "FAST"}})  # still drifted: no news
    told = Notification.objects.filter(kind="rse_drifted")
    assert sorted(told.values_list("address", flat=True)) == [
        "alice-admin@example.org",
        "bob-admin@example.org",
    ]
    assert "CERN-EOS: Rucio has FAST, the portal wants SAFE" in told.first().text


def test_a_push_refused_for_good_is_told_to_the_qos_admins_and_the_chat(
    mailbox, chat, committed, addressed, carrying, admin
):
    push = Push.objects.enqueue(carrying, "SAFE", "test", by=admin, dispatch=False)
    Notification.objects.all().delete()
    report = sync.DeliveryReport()
    committed(
        sync._fail,
        Push.objects.select_related("rse").get(pk=push.pk),
        timezone.now(),
        None,
        "RSENotFound",
        report,
    )
    told = Notification.objects.filter(kind="push_failed")
    assert sorted(told.values_list("address", flat=True)) == [
        "alice-admin@example.org",
        "bob-admin@example.org",
    ]
    assert len(chat.posts) == 1 and "RSENotFound" not in chat.posts[0]["text"]


def test_an_accepted_requirement_short_of_rses_is_told_to_the_admins_at_most_weekly(
    mailbox, committed, addressed, carrying, admin, liaison_cta, experiments
):
    import datetime

    from engagement.models import Requirement
    from engagement.notices import tell_coverage_short
    from tests.engagement.conftest import ARCHIVE_NEEDS

    liaison_cta.email = "dave@example.org"
    liaison_cta.save()
    requirement = Requirement.objects.file(by=liaison_cta, experiment=experiments["CTA"], **ARCHIVE_NEEDS)
    requirement.take("accept", by=admin)
    requirement.link_class(carrying.qos_class, by=admin, copies=2)  # one RSE carries SAFE, and not in sync
    Notification.objects.all().delete()
    monday = datetime.date(2026, 3, 2)
    for day in range(3):
        committed(tell_coverage_short, monday + datetime.timedelta(days=day))
    told = Notification.objects.filter(kind="coverage_short")
    assert sorted(told.values_list("address", flat=True)) == [
        "alice-admin@example.org",
        "bob-admin@example.org",
    ]
    from notifications.delivery import send_digests

    send_digests()
    assert "is short of RSEs" in mailbox.text_of(mailbox.to("alice-admin@example.org")[0])


def test_an_rse_confirmed_violating_is_told_to_the_qos_admins_once(committed, addressed, carrying, settings):
    """The conformance probes' verdict reaches the QoS admins when it is confirmed, not at each probe."""
    from qos.models import Conformance, Probe

    settings.QOS_PROBE_CONFIRMATIONS = 2
    carrying.qos_class.throughput_mbps = 2000
    carrying.qos_class.save()
    Notification.objects.all().delete()

    def probe(write_mbps: float) -> None:
        slow = Probe.objects.create(
            rse=carrying,
            duration_seconds=1,
            ok=True,
            write_mbps=write_mbps,
            read_mbps=5000,
            latency_seconds=0.1,
        )
        committed(Conformance.objects.judge, carrying, slow)

    told = Notification.objects.filter(kind="rse_not_conforming")
    probe(38)
    assert not told.exists()  # one slow probe is not yet a verdict
    probe(38)
    probe(38)  # still violating: no news
    assert sorted(told.values_list("address", flat=True)) == [
        "alice-admin@example.org",
        "bob-admin@example.org",
    ]
    assert "wrote at 38 MB/s" in told.first().text
