"""Probing RSEs and judging them: the portal's side of a probe (which RSE, one at a time, what it measured,
the verdict). The Rucio side, the upload, read and delete, is the gateway's (qos/rucio_gateway/probe.py).
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass
from datetime import timedelta

from celery.exceptions import SoftTimeLimitExceeded
from django.conf import settings
from django.db.models import F, Max, Q, QuerySet
from django.utils import timezone

from .models import RSE, Conformance, Probe
from .rucio_gateway import RucioError, RucioGateway, TransientRucioError
from .rucio_gateway.probe import RSEProbe

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class ProbeOutcome:
    """What probing one RSE did: its conformance after it, the probe (None: not probed, and why), a change."""

    rse: RSE
    conformance: Conformance
    probe: Probe | None
    changed: bool
    skipped: str = ""


def not_probeable_reason(rse: RSE) -> str:
    """Why the portal does not probe this RSE at all (empty: it does)."""
    if not rse.qos_class_id:
        return "No class is assigned: there is no promise to check."
    if rse.missing_in_rucio:
        return "Rucio no longer lists this RSE."
    if not rse.instance.enabled:
        return f"Its Rucio instance {rse.instance.name} is disabled."
    return ""


def probeable() -> QuerySet[RSE]:
    """RSEs the portal probes: carrying a class, listed by Rucio, on an enabled instance."""
    return RSE.objects.filter(qos_class__isnull=False, missing_in_rucio=False, instance__enabled=True)


def _claim(rse: RSE) -> bool:
    """Mark a probe of ``rse`` as running, unless one is (a claim older than the timeout is a dead one's)."""
    Conformance.objects.get_or_create(rse=rse)
    now = timezone.now()
    stale = now - timedelta(seconds=settings.QOS_PROBE_TIMEOUT_SECONDS + 60)
    return bool(
        Conformance.objects.filter(rse=rse)
        .filter(Q(probing_since__isnull=True) | Q(probing_since__lt=stale))
        .update(probing_since=now)
    )


def probe_rse(rse: RSE) -> ProbeOutcome:
    """Probe one RSE through Rucio now and judge it. Never two probes of one RSE at a time: a second one
    returns at once with ``skipped`` saying so. A failure is recorded and logged in one line, not raised."""
    rse = RSE.objects.select_related("instance", "qos_class").get(pk=rse.pk)
    reason = not_probeable_reason(rse)
    if reason:
        conformance, changed = Conformance.objects.judge(rse, None, reason=reason)
        return ProbeOutcome(rse, conformance, None, changed, skipped=reason)
    if not _claim(rse):
        conformance = Conformance.objects.get(rse=rse)
        return ProbeOutcome(rse, conformance, None, False, skipped="A probe of this RSE is running already.")
    try:
        started_at, started = timezone.now(), time.monotonic()
        timings = error = None
        try:
            with RucioGateway(rse.instance.connection()) as gateway:
                timings = RSEProbe(
                    gateway,
                    rse.name,
                    scope=settings.QOS_PROBE_SCOPE,
                    size_bytes=settings.QOS_PROBE_FILE_MB * 1_000_000,
                    lifetime_seconds=settings.QOS_PROBE_LIFETIME_SECONDS,
                ).run()
        except RucioError as fault:
            error = fault
        except SoftTimeLimitExceeded:
            error = TransientRucioError(
                f"probe of RSE {rse.name}: no answer within {settings.QOS_PROBE_TIMEOUT_SECONDS} s "
                "(QOS_PROBE_TIMEOUT_SECONDS); its file is removed by the next probe",
                rucio_class="Timeout",
            )
        probe = Probe.objects.record(
            rse,
            started_at=started_at,
            duration_seconds=time.monotonic() - started,
            timings=timings,
            error=error,
        )
        if error is not None:
            # One line per failing RSE: Rucio's message says it all, a traceback would not.
            logger.warning("Probe of RSE %s failed (%s): %s", rse.name, probe.get_fault_display(), error)
        conformance, changed = Conformance.objects.judge(rse, probe)
    finally:
        Conformance.objects.filter(rse=rse).update(probing_since=None)
    conformance.probing_since = None
    if changed:
        logger.info("RSE %s is now %s against %s", rse.name, conformance.verdict, conformance.qos_class_label)
    return ProbeOutcome(rse, conformance, probe, changed)


def due_for_probe(*, now: object = None, tick_seconds: float) -> list[int]:
    """RSEs to probe at this tick of beat: those whose last probe is an interval old (or never probed), the
    oldest first, no more than their share of the tick, so that probes spread over the interval."""
    interval = settings.QOS_PROBE_INTERVAL_SECONDS
    if interval <= 0:
        return []
    now = now or timezone.now()
    rses = probeable().annotate(last_probe_at=Max("probes__started_at"))
    total = rses.count()
    share = max(1, math.ceil(total * tick_seconds / interval))
    due = rses.filter(Q(last_probe_at__isnull=True) | Q(last_probe_at__lte=now - timedelta(seconds=interval)))
    return list(
        due.order_by(F("last_probe_at").asc(nulls_first=True), "pk").values_list("pk", flat=True)[:share]
    )
