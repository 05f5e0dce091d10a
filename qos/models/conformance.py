"""What the probes of an RSE measured, and whether it delivers the class it advertises (qos/conformance.py).

Each probe is a :class:`Probe` row, kept raw for ``QOS_PROBE_RAW_DAYS`` (30) and then folded into one
:class:`ProbeDay` per RSE and day. An RSE's :class:`Conformance` holds its verdict, which changes only after
``QOS_PROBE_CONFIRMATIONS`` consecutive probes agree on another one, so one slow minute does not flap it.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.db import models
from django.utils import timezone

from ..choices import ProbeFault, Verdict
from ..querysets import ConformanceQuerySet, ProbeQuerySet
from .rucio import RSE


class Probe(models.Model):
    """One probe of an RSE: a small file written through Rucio, read back and deleted; what it measured."""

    rse = models.ForeignKey(RSE, on_delete=models.CASCADE, related_name="probes")
    started_at = models.DateTimeField(default=timezone.now)
    duration_seconds = models.FloatField(help_text="How long the whole probe took, clean-up included.")
    ok = models.BooleanField()
    size_bytes = models.BigIntegerField(default=0)
    write_mbps = models.FloatField(null=True, blank=True, help_text="Upload throughput, MB/s.")
    read_mbps = models.FloatField(null=True, blank=True, help_text="Download throughput, MB/s.")
    latency_seconds = models.FloatField(null=True, blank=True, help_text="The whole read of the small file.")
    fault = models.CharField(max_length=16, choices=ProbeFault.choices, blank=True, default=ProbeFault.NONE)
    error = models.TextField(blank=True, help_text="Rucio's error, when the probe failed.")
    qos_class_label = models.CharField(max_length=64, blank=True, help_text="The class the RSE carried then.")

    objects = ProbeQuerySet.as_manager()

    class Meta:
        ordering = ["-started_at", "-pk"]
        indexes = [models.Index(fields=["rse", "-started_at"]), models.Index(fields=["started_at"])]

    def __str__(self) -> str:
        return f"{self.rse_id} {self.started_at:%Y-%m-%d %H:%M} {'ok' if self.ok else 'failed'}"


class ProbeDay(models.Model):
    """The probes of one RSE on one (UTC) day, once older than QOS_PROBE_RAW_DAYS: counts and means."""

    rse = models.ForeignKey(RSE, on_delete=models.CASCADE, related_name="probe_days")
    day = models.DateField()
    probes = models.PositiveIntegerField()
    failures = models.PositiveIntegerField()
    write_mbps = models.FloatField(null=True, blank=True, help_text="Mean of the day's successful probes.")
    read_mbps = models.FloatField(null=True, blank=True)
    latency_seconds = models.FloatField(null=True, blank=True)

    class Meta:
        ordering = ["-day"]
        constraints = [models.UniqueConstraint(fields=["rse", "day"], name="qos_probeday_one_per_rse_day")]

    def __str__(self) -> str:
        return f"{self.rse_id} {self.day}"


class Conformance(models.Model):
    """An RSE's verdict against its class, its reasons, and a different verdict its last probes are
    confirming (``pending_verdict``, seen ``pending_count`` times in a row). No row: unknown, never probed."""

    rse = models.OneToOneField(RSE, on_delete=models.CASCADE, related_name="conformance")
    verdict = models.CharField(max_length=16, choices=Verdict.choices, default=Verdict.UNKNOWN)
    reasons = models.JSONField(default=list, blank=True)
    qos_class_label = models.CharField(max_length=64, blank=True, help_text="The class the verdict is about.")
    checked_at = models.DateTimeField(null=True, blank=True)
    changed_at = models.DateTimeField(null=True, blank=True)
    last_probe = models.ForeignKey(Probe, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    pending_verdict = models.CharField(max_length=16, choices=Verdict.choices, blank=True)
    pending_reasons = models.JSONField(default=list, blank=True)
    pending_count = models.PositiveIntegerField(default=0)
    probing_since = models.DateTimeField(
        null=True, blank=True, help_text="A probe of the RSE is running since then: no second one starts."
    )

    objects = ConformanceQuerySet.as_manager()

    class Meta:
        indexes = [models.Index(fields=["verdict"])]

    def __str__(self) -> str:
        return f"{self.rse_id}: {self.verdict}"

    def observe(self, verdict: str, reasons: list[str], *, qos_class_label: str, probe: Any = None) -> bool:
        """Take one observation into account; True when the verdict changed.

        The verdict changes at once to unknown (a fact of the configuration, not a measurement) or when the RSE
        carries another class than the verdict is about; otherwise only after QOS_PROBE_CONFIRMATIONS agreeing
        observations in a row.
        """
        now = timezone.now()
        self.checked_at = now
        self.last_probe = probe if probe is not None else self.last_probe
        if verdict == self.verdict and qos_class_label == self.qos_class_label:
            self.reasons, self.pending_verdict, self.pending_reasons, self.pending_count = reasons, "", [], 0
            return False
        if verdict == self.pending_verdict:
            self.pending_count += 1
        else:
            self.pending_verdict, self.pending_count = verdict, 1
        self.pending_reasons = reasons
        # A new class is a new promise: the old verdict says nothing of it. (A first verdict, from "never
        # judged against a class", needs its confirmations like any other.)
        at_once = verdict == Verdict.UNKNOWN or bool(
            self.qos_class_label and qos_class_label != self.qos_class_label
        )
        if not at_once and self.pending_count < settings.QOS_PROBE_CONFIRMATIONS:
            return False
        self.verdict, self.reasons, self.qos_class_label, self.changed_at = (
            verdict,
            reasons,
            qos_class_label,
            now,
        )
        self.pending_verdict, self.pending_reasons, self.pending_count = "", [], 0
        return True

    @classmethod
    def of(cls, rse: RSE) -> Conformance:
        """The RSE's conformance; for one never judged, an unsaved unknown one saying why."""
        try:
            return rse.conformance
        except cls.DoesNotExist:
            reason = (
                "Not probed yet."
                if rse.qos_class_id
                else "No class is assigned: there is no promise to check."
            )
            return cls(rse=rse, reasons=[reason])

    @property
    def confirmations_needed(self) -> int:
        return settings.QOS_PROBE_CONFIRMATIONS
