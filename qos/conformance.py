"""Whether an RSE delivers the class it advertises: a probe's measurements held against the class's targets,
property by property, as the requirement matching holds a class against a requirement's needs.

A measured value at or better than the target conforms; one worse by no more than the tolerance
(``QOS_PROBE_TOLERANCE``, 20 %) is degraded; worse still is violating. A failed probe makes the RSE unreachable;
an RSE without a class, not probed yet or that cannot be probed is unknown. Properties a probe cannot measure
(durability, copies, retention) say so and do not weigh in. The verdict of the RSE is its worst property's.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.conf import settings

from .choices import AccessLatency, ProbeFault, Verdict

# Worst first: the RSE's verdict is its worst property's.
SEVERITY = {Verdict.CONFORMING: 0, Verdict.DEGRADED: 1, Verdict.VIOLATING: 2}
NOT_MEASURED = ("durability", "copies", "retention")


@dataclass(frozen=True)
class PropertyCheck:
    """One property of the class against what the probe measured. ``verdict`` None: not measured."""

    name: str
    verdict: str | None
    reason: str


@dataclass(frozen=True)
class Assessment:
    """A verdict and why, property by property (``checks``), or with a single reason (unknown, unreachable)."""

    verdict: str
    reasons: list[str]
    checks: tuple[PropertyCheck, ...] = ()


def format_mbps(value: float) -> str:
    return f"{round(value):,} MB/s" if value >= 10 else f"{value:.1f} MB/s"


def _seconds(value: float) -> str:
    return f"{value:.2f} s" if value < 10 else f"{round(value)} s"


def _against(measured: float, target: float, *, higher_is_better: bool) -> str:
    """conforming, degraded or violating: ``measured`` against ``target`` with the tolerance."""
    tolerance = settings.QOS_PROBE_TOLERANCE
    if higher_is_better:
        meets, within = measured >= target, measured >= target * (1 - tolerance)
    else:
        meets, within = measured <= target, measured <= target * (1 + tolerance)
    return Verdict.CONFORMING if meets else Verdict.DEGRADED if within else Verdict.VIOLATING


def _throughput(verb: str, measured: float | None, label: str, target: int | None) -> PropertyCheck:
    name = f"{verb} throughput"
    if measured is None:
        return PropertyCheck(name, None, f"{name}: not measured")
    if not target:
        return PropertyCheck(name, None, f"{verb} at {format_mbps(measured)}; {label} promises no throughput")
    verdict = _against(measured, target, higher_is_better=True)
    promise = f"{label} promises {format_mbps(target)}"
    if verdict == Verdict.DEGRADED:
        below = round(100 * (1 - measured / target))
        promise += f" ({below}% below, within the {round(settings.QOS_PROBE_TOLERANCE * 100)}% tolerance)"
    return PropertyCheck(name, verdict, f"{verb} at {format_mbps(measured)}, {promise}")


def _latency(measured: float | None, label: str, access_latency: str) -> PropertyCheck:
    if measured is None:
        return PropertyCheck("latency", None, "latency: not measured")
    if access_latency != AccessLatency.ONLINE:
        return PropertyCheck(
            "latency", None, f"read back in {_seconds(measured)}; {label} is nearline and promises no latency"
        )
    limit = settings.QOS_PROBE_ONLINE_LATENCY_SECONDS
    verdict = _against(measured, limit, higher_is_better=False)
    return PropertyCheck(
        "latency",
        verdict,
        f"read back in {_seconds(measured)}, {label} is online (read at once: within {_seconds(limit)})",
    )


def assess(qos_class: Any, probe: Any, *, probeable_reason: str = "") -> Assessment:
    """Hold one probe (a ``Probe`` or None) against the class (a ``StorageQoSClass`` or None)."""
    if qos_class is None:
        return Assessment(Verdict.UNKNOWN, ["No class is assigned: there is no promise to check."])
    if probe is None:
        return Assessment(Verdict.UNKNOWN, [probeable_reason or "Not probed yet."])
    if not probe.ok:
        if probe.fault == ProbeFault.NOT_PROBEABLE:
            return Assessment(Verdict.UNKNOWN, [f"Cannot be probed: {probe.error}"])
        kind = "transient" if probe.fault == ProbeFault.TRANSIENT else "permanent"
        return Assessment(Verdict.UNREACHABLE, [f"The probe failed ({kind} fault): {probe.error}"])
    label = qos_class.label
    checks = (
        _throughput("wrote", probe.write_mbps, label, qos_class.throughput_mbps),
        _throughput("read", probe.read_mbps, label, qos_class.throughput_mbps),
        _latency(probe.latency_seconds, label, qos_class.access_latency),
        *(
            PropertyCheck(
                name, None, f"{name}: a probe cannot measure it (the class's promise stands unchecked)"
            )
            for name in NOT_MEASURED
        ),
    )
    measured = [check.verdict for check in checks if check.verdict is not None]
    verdict = max(measured, key=SEVERITY.__getitem__) if measured else Verdict.CONFORMING
    # The reasons that decide first, then the others.
    ordered = sorted(checks, key=lambda check: -SEVERITY.get(check.verdict, -1))
    return Assessment(verdict, [check.reason for check in ordered], checks)
