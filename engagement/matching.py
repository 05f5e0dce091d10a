"""Which approved QoS classes satisfy a requirement, property by property, and why.

Matching spans two apps (a requirement here, a class in ``qos``), so it has a module of its own. Each rule
exists twice, side by side: in Python, to explain to people why a class fits or not, and as a SQL condition,
so that lists can find gaps (requirements no approved class satisfies) and count them in the database,
with a constant number of queries, paginated and filtered. ``tests/engagement/test_matching.py`` checks
that both agree on every combination of needs and offers.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from django.db.models import (
    CharField,
    DecimalField,
    ExpressionWrapper,
    Field,
    IntegerField,
    OuterRef,
    Q,
    QuerySet,
)

from qos.choices import AccessLatency, Redundancy, StorageMedia
from qos.models import StorageQoSClass

if TYPE_CHECKING:
    from .models import Requirement

# For each medium a requirement may ask for, the media of classes that provide it: SSD is disk (only faster),
# and a disk+tape class keeps a copy on each.
MEDIA_THAT_FIT: dict[str, tuple[str, ...]] = {
    StorageMedia.DISK: (StorageMedia.DISK, StorageMedia.SSD, StorageMedia.DISK_TAPE),
    StorageMedia.SSD: (StorageMedia.SSD,),
    StorageMedia.TAPE: (StorageMedia.TAPE, StorageMedia.DISK_TAPE),
    StorageMedia.DISK_TAPE: (StorageMedia.DISK_TAPE,),
}
MEDIA_REASONS: dict[tuple[str, str], str] = {
    (StorageMedia.DISK, StorageMedia.SSD): "SSD is disk storage, only faster.",
    (StorageMedia.DISK, StorageMedia.DISK_TAPE): "Keeps a copy on disk (and one on tape).",
    (StorageMedia.TAPE, StorageMedia.DISK_TAPE): "Keeps a copy on tape (and one on disk).",
}


@dataclass(frozen=True)
class PropertyCheck:
    """One property of a class held against the same need of a requirement."""

    name: str
    label: str
    needed: str
    offered: str
    fits: bool
    reason: str


@dataclass(frozen=True)
class ClassMatch:
    """How one class answers one requirement: a check per property; it fits when every check does."""

    qos_class: StorageQoSClass
    checks: tuple[PropertyCheck, ...]

    @property
    def fits(self) -> bool:
        return all(check.fits for check in self.checks)

    @property
    def misses(self) -> list[PropertyCheck]:
        return [check for check in self.checks if not check.fits]


def _media_name(value: str) -> str:
    return StorageMedia(value).label if value else "any"


# Inside a sentence: "Tape, not disk." but "Disk, not SSD."
MEDIA_IN_TEXT = {
    StorageMedia.DISK: "disk",
    StorageMedia.SSD: "SSD",
    StorageMedia.TAPE: "tape",
    StorageMedia.DISK_TAPE: "disk + tape",
}


def _latency_name(value: str) -> str:
    return AccessLatency(value).label if value else "any"


def _percent(value: Decimal | None) -> str:
    return f"{format(value.normalize(), 'f')} %" if value is not None else "no promise"


def _days(value: int | None) -> str:
    return f"{value} days" if value else "until deleted"


def check_media(requirement: Requirement, qos_class: StorageQoSClass) -> PropertyCheck:
    needed, offered = requirement.storage_media, qos_class.storage_media
    if not needed:
        fits, reason = True, "Any media will do."
    elif offered == needed:
        fits, reason = True, f"{_media_name(offered)}, as asked."
    elif offered in MEDIA_THAT_FIT[needed]:
        fits, reason = True, MEDIA_REASONS[(needed, offered)]
    else:
        fits, reason = False, f"{_media_name(offered)}, not {MEDIA_IN_TEXT[needed]}."
    return PropertyCheck(
        "storage_media", "Storage media", _media_name(needed), _media_name(offered), fits, reason
    )


def check_latency(requirement: Requirement, qos_class: StorageQoSClass) -> PropertyCheck:
    needed, offered = requirement.access_latency, qos_class.access_latency
    if not needed:
        fits, reason = True, "Any latency will do."
    elif offered == needed:
        fits, reason = True, f"{_latency_name(offered)}, as asked."
    elif offered == AccessLatency.ONLINE:
        fits, reason = True, "Online: readable at once, better than the nearline asked for."
    else:
        fits, reason = False, "Nearline: files must be staged before they are read; online was asked for."
    return PropertyCheck(
        "access_latency", "Access latency", _latency_name(needed), _latency_name(offered), fits, reason
    )


def check_durability(requirement: Requirement, qos_class: StorageQoSClass) -> PropertyCheck:
    needed, offered = requirement.min_durability, qos_class.durability_target
    needed_text = f"at least {_percent(needed)}" if needed is not None else "any"
    if needed is None:
        fits, reason = True, "No durability asked for."
    elif offered is None:
        fits, reason = False, f"The class promises no durability; {needed_text} asked for."
    elif offered >= needed:
        fits, reason = True, f"Promises {_percent(offered)}; {needed_text} asked for."
    else:
        fits, reason = False, f"Promises only {_percent(offered)}; {needed_text} asked for."
    return PropertyCheck("durability", "Durability", needed_text, _percent(offered), fits, reason)


def check_copies(requirement: Requirement, qos_class: StorageQoSClass) -> PropertyCheck:
    needed, offered = requirement.copies, qos_class.copies
    if qos_class.redundancy == Redundancy.ERASURE_CODING:
        offered_text = f"1 (erasure-coded {qos_class.erasure_coding})"
        kept = f"Erasure-coded ({qos_class.erasure_coding}): one copy, protected by parity chunks"
    else:
        offered_text = str(offered)
        kept = f"Keeps {offered} cop{'y' if offered == 1 else 'ies'}"
    fits = offered >= needed
    reason = f"{kept}; {needed} asked for." if fits else f"{kept} only; {needed} asked for."
    return PropertyCheck("copies", "Copies", f"at least {needed}", offered_text, fits, reason)


def check_retention(requirement: Requirement, qos_class: StorageQoSClass) -> PropertyCheck:
    needed, offered = requirement.retention_days, qos_class.lifetime_days
    needed_text = f"at least {needed} days" if needed else "until deleted"
    if offered is None:
        fits = True
        reason = (
            "Keeps data until it is deleted, as asked."
            if needed is None
            else f"Keeps data until it is deleted; {needed} days asked for."
        )
    elif needed is None:
        fits, reason = False, f"Keeps data {offered} days only; needed until deleted."
    elif offered >= needed:
        fits, reason = True, f"Keeps data {offered} days; {needed} asked for."
    else:
        fits, reason = False, f"Keeps data {offered} days only; {needed} asked for."
    return PropertyCheck("retention", "Retention", needed_text, _days(offered), fits, reason)


def check_throughput(requirement: Requirement, qos_class: StorageQoSClass) -> PropertyCheck:
    needed, offered = requirement.min_throughput_mbps, qos_class.throughput_mbps
    needed_text = f"at least {needed} MB/s" if needed else "any"
    offered_text = f"{offered} MB/s" if offered else "no promise"
    if not needed:
        fits, reason = True, "No throughput asked for."
    elif offered is None:
        fits, reason = False, f"The class promises no throughput; {needed} MB/s asked for."
    elif offered >= needed:
        fits, reason = True, f"Promises {offered} MB/s; {needed} MB/s asked for."
    else:
        fits, reason = False, f"Promises only {offered} MB/s; {needed} MB/s asked for."
    return PropertyCheck("throughput", "Throughput", needed_text, offered_text, fits, reason)


CHECKS = (check_media, check_latency, check_durability, check_copies, check_retention, check_throughput)


def match(requirement: Requirement, qos_class: StorageQoSClass) -> ClassMatch:
    """Hold one class against one requirement, property by property."""
    return ClassMatch(qos_class, tuple(check(requirement, qos_class) for check in CHECKS))


def match_all(requirement: Requirement, classes: Iterable[StorageQoSClass]) -> list[ClassMatch]:
    """Every class held against the requirement: those that fit first, then by label."""
    matches = [match(requirement, qos_class) for qos_class in classes]
    return sorted(matches, key=lambda m: (not m.fits, m.qos_class.label))


# --- the same rules in SQL ------------------------------------------------------------------------------
def _media_condition() -> Q:
    condition = Q(need_media="")
    for needed, offered in MEDIA_THAT_FIT.items():
        condition |= Q(need_media=needed, storage_media__in=offered)
    return condition


def satisfying_classes(outer: str = "") -> QuerySet[StorageQoSClass]:
    """Approved classes satisfying the requirement of the enclosing query; for ``Exists``/``Subquery``.

    ``outer`` is the path from the enclosing query's rows to the requirement (e.g. ``"requirement__"``).
    The requirement's needs come in as annotations so that each rule reads like its Python twin above.
    """

    def need(field: str) -> OuterRef:
        return OuterRef(f"{outer}{field}")

    def typed(field: str, output_field: Field) -> ExpressionWrapper:
        # Typed, so that lookups such as __isnull and __in work on the outer value.
        return ExpressionWrapper(need(field), output_field=output_field)

    return (
        StorageQoSClass.objects.approved()
        .annotate(
            need_media=typed("storage_media", CharField()),
            need_latency=typed("access_latency", CharField()),
            need_durability=typed("min_durability", DecimalField()),
            need_retention=typed("retention_days", IntegerField()),
            need_throughput=typed("min_throughput_mbps", IntegerField()),
        )
        .filter(
            _media_condition(),
            Q(need_latency__in=["", AccessLatency.NEARLINE]) | Q(access_latency=AccessLatency.ONLINE),
            Q(need_durability__isnull=True) | Q(durability_target__gte=need("min_durability")),
            Q(copies__gte=need("copies")),
            Q(lifetime_days__isnull=True)
            | Q(need_retention__isnull=False, lifetime_days__gte=need("retention_days")),
            Q(need_throughput__isnull=True) | Q(throughput_mbps__gte=need("min_throughput_mbps")),
        )
    )


def fitting_labels(requirement: Requirement, classes: Iterable[StorageQoSClass]) -> list[str]:
    """Labels of the classes that fit, in label order (for lists, with classes loaded once per page)."""
    return sorted(m.qos_class.label for m in (match(requirement, c) for c in classes) if m.fits)


def approved_classes() -> list[StorageQoSClass]:
    """The approved classes, loaded once for a whole page of requirements."""
    return list(StorageQoSClass.objects.approved().order_by("label"))


def needs_summary(requirement: Any) -> str:
    """A one-line summary of a requirement's needs, e.g. "tape, nearline, ≥ 2 copies, 500 TB"."""
    parts = []
    if requirement.storage_media:
        parts.append(MEDIA_IN_TEXT[requirement.storage_media])
    if requirement.access_latency:
        parts.append(_latency_name(requirement.access_latency).lower())
    if requirement.copies > 1:
        parts.append(f"≥ {requirement.copies} copies")
    if requirement.min_durability is not None:
        parts.append(f"≥ {_percent(requirement.min_durability)}")
    if requirement.min_throughput_mbps:
        parts.append(f"≥ {requirement.min_throughput_mbps} MB/s")
    parts.append(f"{format(requirement.volume_tb.normalize(), 'f')} TB")
    parts.append(f"kept {_days(requirement.retention_days)}")
    return ", ".join(parts)
