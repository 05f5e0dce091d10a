"""Conformance: RSEs of a real Rucio with posix storage probed by the portal, their probes recorded and held against
their class, the verdict changing only after QOS_PROBE_CONFIRMATIONS agreeing probes; ``manage.py probe_rses``."""

from datetime import timedelta
from io import StringIO
from types import SimpleNamespace

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.utils import timezone

from qos.choices import ClassStatus, ProbeFault, Verdict
from qos.conformance import assess, format_mbps
from qos.models import RSE, Conformance, Probe, StorageQoSClass
from qos.probing import probe_rse
from tests.conftest import SAFE_CONTENT

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def small_probes(settings):
    settings.QOS_PROBE_FILE_MB = 2
    settings.QOS_PROBE_CONFIRMATIONS = 2
    settings.QOS_PROBE_TOLERANCE = 0.2
    settings.QOS_PROBE_ONLINE_LATENCY_SECONDS = 30


def make_class(label: str, *, throughput: int | None, latency: str = "online") -> StorageQoSClass:
    content = {**SAFE_CONTENT, "label": label, "storage_media": "disk", "access_latency": latency}
    return StorageQoSClass.objects.create(**content, throughput_mbps=throughput, status=ClassStatus.APPROVED)


@pytest.fixture
def portal_rse(rucio_instance, posix_rse):
    """``portal_rse(qos_class, directory=None) -> RSE``: a posix RSE of the test Rucio, known to the portal with
    that class."""

    def make(qos_class, directory=None, **options) -> RSE:
        name, _ = posix_rse(directory, **options)
        return RSE.objects.create(instance=rucio_instance, name=name, qos_class=qos_class)

    return make


def fake_probe(**values):
    defaults = {"ok": True, "fault": "", "error": "", "write_mbps": 100.0, "read_mbps": 100.0}
    return SimpleNamespace(**{**defaults, "latency_seconds": 0.5, **values})


# --- the verdict, property by property ------------------------------------------------------------------------


def test_each_measured_property_is_held_against_the_target_with_the_tolerance(settings):
    settings.QOS_PROBE_TOLERANCE = 0.2
    fast = make_class("FAST", throughput=2000)
    assert assess(fast, fake_probe(write_mbps=2500, read_mbps=2100)).verdict == Verdict.CONFORMING
    degraded = assess(fast, fake_probe(write_mbps=1700, read_mbps=2100))
    assert degraded.verdict == Verdict.DEGRADED
    assert (
        degraded.reasons[0]
        == "wrote at 1,700 MB/s, FAST promises 2,000 MB/s (15% below, within the 20% tolerance)"
    )
    violating = assess(fast, fake_probe(write_mbps=38, read_mbps=2100))
    assert violating.verdict == Verdict.VIOLATING
    assert violating.reasons[0] == "wrote at 38 MB/s, FAST promises 2,000 MB/s"
    # What a probe cannot measure says so, and does not weigh in.
    assert any(reason.startswith("durability: a probe cannot measure it") for reason in violating.reasons)
    assert {check.name for check in violating.checks if check.verdict is None} >= {
        "durability",
        "copies",
        "retention",
    }


def test_an_online_class_promises_a_read_at_once_and_a_nearline_one_no_latency(settings):
    settings.QOS_PROBE_ONLINE_LATENCY_SECONDS = 10
    online = make_class("HOT", throughput=None)
    slow = assess(online, fake_probe(latency_seconds=30))
    assert slow.verdict == Verdict.VIOLATING
    assert "read back in 30 s, HOT is online" in slow.reasons[0]
    nearline = make_class("COLD", throughput=None, latency="nearline")
    assert assess(nearline, fake_probe(latency_seconds=300)).verdict == Verdict.CONFORMING


def test_no_class_no_probe_a_failed_or_impossible_probe(settings):
    fast = make_class("FAST", throughput=100)
    assert assess(None, fake_probe()).verdict == Verdict.UNKNOWN
    assert assess(fast, None).reasons == ["Not probed yet."]
    failed = assess(fast, fake_probe(ok=False, fault=ProbeFault.TRANSIENT, error="cannot connect"))
    assert (failed.verdict, failed.reasons) == (
        Verdict.UNREACHABLE,
        ["The probe failed (transient fault): cannot connect"],
    )
    impossible = assess(fast, fake_probe(ok=False, fault=ProbeFault.NOT_PROBEABLE, error="no quota"))
    assert impossible.verdict == Verdict.UNKNOWN


def test_one_outlier_does_not_flap_the_verdict(rucio_instance):
    rse = RSE.objects.create(
        instance=rucio_instance, name="OUTLIER", qos_class=make_class("FAST", throughput=100)
    )
    conformance = Conformance(rse=rse)
    seen = []
    for write in (150, 150, 10, 150, 10, 10, 150):
        verdict = assess(rse.qos_class, fake_probe(write_mbps=write)).verdict
        conformance.observe(verdict, [verdict], qos_class_label="FAST")
        seen.append(conformance.verdict)
    # Unknown until two agree; one slow probe changes nothing; two in a row do.
    assert seen == [
        "unknown",
        "conforming",
        "conforming",
        "conforming",
        "conforming",
        "violating",
        "violating",
    ]


# --- probes through the real Rucio ----------------------------------------------------------------------------


def test_a_healthy_rse_with_a_class_it_can_meet_becomes_conforming(portal_rse, tmp_path):
    rse = portal_rse(make_class("EASY", throughput=1))
    first = probe_rse(rse)
    assert first.probe.ok and first.probe.write_mbps > 1 and first.probe.read_mbps > 1
    assert (first.conformance.verdict, first.conformance.pending_verdict) == (
        Verdict.UNKNOWN,
        Verdict.CONFORMING,
    )
    second = probe_rse(rse)
    assert second.changed and second.conformance.verdict == Verdict.CONFORMING
    assert second.conformance.last_probe == second.probe
    assert any(reason.startswith("wrote at ") for reason in second.conformance.reasons)
    assert Probe.objects.filter(rse=rse, ok=True).count() == 2
    # Nothing of the probes is left on the storage.
    assert [path for path in (tmp_path / rse.name.lower()).rglob("*") if path.is_file()] == []


def test_a_class_the_local_disk_cannot_meet_makes_the_rse_violating_with_the_measured_value(portal_rse):
    rse = portal_rse(make_class("WARP", throughput=1_000_000))
    probe_rse(rse)
    outcome = probe_rse(rse)
    assert outcome.conformance.verdict == Verdict.VIOLATING
    measured = format_mbps(outcome.probe.write_mbps)
    assert f"wrote at {measured}, WARP promises 1,000,000 MB/s" in outcome.conformance.reasons


def test_storage_that_cannot_be_written_makes_the_rse_unreachable_after_the_confirmations(
    portal_rse, tmp_path, caplog
):
    blocker = tmp_path / "not-a-directory"
    blocker.write_text("x")
    rse = portal_rse(make_class("EASY", throughput=1), blocker / "storage")
    first = probe_rse(rse)
    assert not first.probe.ok and first.probe.fault == ProbeFault.PERMANENT
    assert first.conformance.verdict == Verdict.UNKNOWN  # one failure is not yet a verdict
    second = probe_rse(rse)
    assert second.conformance.verdict == Verdict.UNREACHABLE
    assert second.conformance.reasons[0].startswith("The probe failed (permanent fault): probe of RSE")
    # One line per failed probe, no traceback.
    failures = [
        record for record in caplog.records if record.getMessage().startswith(f"Probe of RSE {rse.name}")
    ]
    assert len(failures) == 2 and all(record.exc_info is None for record in failures)


def test_an_rse_without_quota_is_unknown_with_what_to_configure(portal_rse):
    rse = portal_rse(make_class("EASY", throughput=1), quota=False)
    outcome = probe_rse(rse)
    assert outcome.probe.fault == ProbeFault.NOT_PROBEABLE
    assert outcome.conformance.verdict == Verdict.UNKNOWN
    assert "rucio-admin account set-limits root" in outcome.conformance.reasons[0]


def test_an_rse_without_class_is_not_probed(rucio_instance):
    rse = RSE.objects.create(instance=rucio_instance, name="NO-CLASS")
    outcome = probe_rse(rse)
    assert outcome.probe is None and outcome.conformance.verdict == Verdict.UNKNOWN
    assert outcome.conformance.reasons == ["No class is assigned: there is no promise to check."]


def test_a_second_probe_of_an_rse_being_probed_does_not_start(portal_rse, settings):
    rse = portal_rse(make_class("EASY", throughput=1))
    probe_rse(rse)
    Conformance.objects.filter(rse=rse).update(probing_since=timezone.now())  # another worker's probe
    outcome = probe_rse(rse)
    assert outcome.probe is None and outcome.skipped == "A probe of this RSE is running already."
    assert Probe.objects.filter(rse=rse).count() == 1
    # A claim older than the timeout is a dead worker's: the next probe takes it over.
    stale = timezone.now() - timedelta(seconds=settings.QOS_PROBE_TIMEOUT_SECONDS + 120)
    Conformance.objects.filter(rse=rse).update(probing_since=stale)
    assert probe_rse(rse).probe is not None
    assert Conformance.objects.get(rse=rse).probing_since is None


def test_probe_rses_prints_each_verdict(portal_rse):
    easy = portal_rse(make_class("EASY", throughput=1))
    warp = portal_rse(make_class("WARP", throughput=1_000_000))
    out = StringIO()
    call_command("probe_rses", "--rse", easy.name, "--rse", warp.name, stdout=out)
    call_command("probe_rses", "--instance", "test", stdout=out)
    text = out.getvalue()
    assert f"{easy.name}: unknown (now conforming: 1 of 2 probes)" in text
    assert f"{easy.name}: conforming — wrote " in text
    assert f"{warp.name}: violating — wrote " in text
    with pytest.raises(CommandError, match="No such RSE: NOPE"):
        call_command("probe_rses", "--rse", "NOPE")
