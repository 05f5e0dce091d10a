"""Which approved QoS classes satisfy a requirement, property by property, and why; and which requirements
are gaps.

Matching spans two apps (a requirement here, a class in ``qos``), so it has a module of its own. Each rule
exists twice, side by side: in Python, to explain to people why a class fits or not, and as a SQL condition,
so that lists can find gaps (requirements no approved class satisfies) and count them in the database,
with a constant number of queries, paginated and filtered. ``tests/engagement/test_matching.py`` checks
that both agree on every combination of needs and offers. :class:`ApprovedClasses` runs the Python checks
for many requirements and classes at once (lists, gap counts), so that a catalogue of thousands of classes
costs milliseconds, not seconds.

What makes a requirement a gap is written once in Python, :meth:`ApprovedClasses.is_gap`, and once in SQL,
``Requirement.objects.gaps()`` (``querysets.py``), for lists of thousands filtered and counted in the
database; ``tests/engagement/test_gaps.py`` checks that both agree.
"""

from __future__ import annotations

import itertools
import operator
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from decimal import Decimal
from types import SimpleNamespace
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

from qos.choices import AccessLatency, ClassStatus, Redundancy, StorageMedia
from qos.models import StorageQoSClass

from .choices import ACTIVE_STATUSES

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


def _as_asked(
    key: str,
    title: str,
    name: Callable[[str], str],
    anything: str,
    otherwise: Callable[[str, str], tuple[bool, str]],
) -> Callable[[Requirement, StorageQoSClass], PropertyCheck]:
    """The check of the property ``key`` (a field of both, media or latency), of which the class must offer
    what was asked or better: any fits when nothing was asked, the same fits, and ``otherwise(needed,
    offered)`` tells whether another does, and why."""

    def check(requirement: Requirement, qos_class: StorageQoSClass) -> PropertyCheck:
        needed, offered = getattr(requirement, key), getattr(qos_class, key)
        if not needed:
            fits, reason = True, anything
        elif offered == needed:
            fits, reason = True, f"{name(offered)}, as asked."
        else:
            fits, reason = otherwise(needed, offered)
        return PropertyCheck(key, title, name(needed), name(offered), fits, reason)

    return check


def _other_media(needed: str, offered: str) -> tuple[bool, str]:
    if offered in MEDIA_THAT_FIT[needed]:
        return True, MEDIA_REASONS[(needed, offered)]
    return False, f"{_media_name(offered)}, not {MEDIA_IN_TEXT[needed]}."


def _other_latency(needed: str, offered: str) -> tuple[bool, str]:
    # There are two latencies: a class that does not offer the one asked for offers the other.
    if offered == AccessLatency.ONLINE:
        return True, "Online: readable at once, better than the nearline asked for."
    return False, "Nearline: files must be staged before they are read; online was asked for."


check_media = _as_asked("storage_media", "Storage media", _media_name, "Any media will do.", _other_media)
check_latency = _as_asked(
    "access_latency", "Access latency", _latency_name, "Any latency will do.", _other_latency
)


def _enough(offered: Any, needed: Any, promise: str, short: str, asked: Any) -> tuple[bool, str]:
    """Whether the class offers at least what was asked, and why: what it promises (``short`` when it
    falls short of it) against what was ``asked``."""
    if offered >= needed:
        return True, f"{promise}; {asked} asked for."
    return False, f"{short}; {asked} asked for."


def _at_least(
    key: str,
    title: str,
    word: str,
    needed,
    offered,
    *,
    needed_text: str,
    offered_text: str,
    asked: str,
    shown,
) -> PropertyCheck:
    """A property of which the class must promise at least what was asked (durability, throughput)."""
    if needed is None:
        fits, reason = True, f"No {word} asked for."
    elif offered is None:
        fits, reason = False, f"The class promises no {word}; {asked} asked for."
    else:
        fits, reason = _enough(
            offered, needed, f"Promises {shown(offered)}", f"Promises only {shown(offered)}", asked
        )
    return PropertyCheck(key, title, needed_text, offered_text, fits, reason)


def check_durability(requirement: Requirement, qos_class: StorageQoSClass) -> PropertyCheck:
    needed, offered = requirement.min_durability, qos_class.durability_target
    needed_text = f"at least {_percent(needed)}" if needed is not None else "any"
    return _at_least(
        "durability",
        "Durability",
        "durability",
        needed,
        offered,
        needed_text=needed_text,
        offered_text=_percent(offered),
        asked=needed_text,
        shown=_percent,
    )


def check_copies(requirement: Requirement, qos_class: StorageQoSClass) -> PropertyCheck:
    needed, offered = requirement.copies, qos_class.copies
    if qos_class.redundancy == Redundancy.ERASURE_CODING:
        offered_text = f"1 (erasure-coded {qos_class.erasure_coding})"
        kept = f"Erasure-coded ({qos_class.erasure_coding}): one copy, protected by parity chunks"
    else:
        offered_text = str(offered)
        kept = f"Keeps {offered} cop{'y' if offered == 1 else 'ies'}"
    fits, reason = _enough(offered, needed, kept, f"{kept} only", needed)
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
    else:
        fits, reason = _enough(
            offered, needed, f"Keeps data {offered} days", f"Keeps data {offered} days only", needed
        )
    return PropertyCheck("retention", "Retention", needed_text, _days(offered), fits, reason)


def check_throughput(requirement: Requirement, qos_class: StorageQoSClass) -> PropertyCheck:
    # No throughput (0 included) means nothing asked for.
    needed, offered = requirement.min_throughput_mbps or None, qos_class.throughput_mbps
    return _at_least(
        "throughput",
        "Throughput",
        "throughput",
        needed,
        offered,
        needed_text=f"at least {needed} MB/s" if needed else "any",
        offered_text=f"{offered} MB/s" if offered else "no promise",
        asked=f"{needed} MB/s",
        shown=lambda value: f"{value} MB/s",
    )


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


def approved_classes() -> list[StorageQoSClass]:
    """The approved classes, loaded once for a whole page of requirements."""
    return list(StorageQoSClass.objects.approved().order_by("label"))


# --- many requirements against many classes at once ---------------------------------------------------------
# Each check above reads one need of the requirement and a few fields of the class, and nothing else.
DIMENSIONS: tuple[tuple[Any, str, tuple[str, ...]], ...] = (
    (check_media, "storage_media", ("storage_media",)),
    (check_latency, "access_latency", ("access_latency",)),
    (check_durability, "min_durability", ("durability_target",)),
    (check_copies, "copies", ("copies", "redundancy", "erasure_coding")),
    (check_retention, "retention_days", ("lifetime_days",)),
    (check_throughput, "min_throughput_mbps", ("throughput_mbps",)),
)
NEED_NAMES = tuple(need for _, need, _ in DIMENSIONS)
_needs_of = operator.attrgetter(*NEED_NAMES)  # a requirement's needs, as a tuple in NEED_NAMES' order


class ApprovedClasses:
    """The approved classes, indexed so that many requirements are held against them at once.

    ``match()`` per pair costs a few microseconds; a page of 50 requirements against a catalogue of 5,000
    approved classes took seconds. Here the classes are grouped, for each property, by the value they offer
    (as bit sets, bit *i* for the *i*-th class in label order), and each check is run once per distinct
    offered value and need, with the very check functions above, never once per class. The classes that fit
    a requirement are the intersection of its needs' sets. Verdicts are those of ``match()`` by construction;
    ``tests/engagement/test_matching.py`` also checks it.
    """

    def __init__(self, rows: Iterable[tuple[Any, ...]]) -> None:
        """``rows``: (label, then every field ``DIMENSIONS`` reads, in that order), in label order."""
        # No rows: a column of none for the label and each field.
        columns = list(zip(*rows, strict=True)) or [()] * (
            1 + sum(len(fields) for _, _, fields in DIMENSIONS)
        )
        self.labels: list[str] = list(columns[0])
        self._groups: list[dict[tuple[Any, ...], int]] = []
        start = 1
        for _, _, fields in DIMENSIONS:
            # Grouped by the column itself where the check reads one field (no tuple per class): this loop over
            # every approved class is most of what a list of requirements costs without the table cache.
            offers = (
                columns[start]
                if len(fields) == 1
                else zip(*columns[start : start + len(fields)], strict=True)
            )
            members: defaultdict[Any, list[int]] = defaultdict(list)
            for index, offer in enumerate(offers):
                members[offer].append(index)
            start += len(fields)
            # Bit sets built byte by byte: OR-ing one bit at a time into a growing int is quadratic.
            self._groups.append(
                {
                    (offer,) if len(fields) == 1 else offer: _bit_set(indexes, len(self.labels))
                    for offer, indexes in members.items()
                }
            )
        self.everything = (1 << len(self.labels)) - 1
        self._masks: dict[tuple[int, Any], int] = {}
        # The fitting classes of each distinct set of needs met so far: many requirements share them (2,200
        # distinct among 5,000 generated ones), and the dashboard holds every active one against the classes.
        self._fits: dict[tuple[Any, ...], int] = {}

    @classmethod
    def load(cls) -> ApprovedClasses:
        """One query: the approved classes' matched fields, not whole rows."""
        fields = [field for _, _, fields in DIMENSIONS for field in fields]
        return cls(StorageQoSClass.objects.approved().order_by("label").values_list("label", *fields))

    @classmethod
    def cached(cls) -> ApprovedClasses:
        """As ``load()``, from the table cache until a class changes (common/table_cache.py)."""
        from common import table_cache

        return table_cache.cached("approved-classes", ["qos_storageqosclass"], cls.load)

    def __len__(self) -> int:
        return len(self.labels)

    def _mask(self, dimension: int, need: Any) -> int:
        """The classes whose offer passes one check for one need (computed once per distinct need)."""
        key = (dimension, need)
        mask = self._masks.get(key)
        if mask is None:
            check, need_name, fields = DIMENSIONS[dimension]
            requirement = SimpleNamespace(**{need_name: need})
            mask = 0
            for offer, members in self._groups[dimension].items():
                if check(requirement, SimpleNamespace(**dict(zip(fields, offer, strict=True)))).fits:
                    mask |= members
            self._masks[key] = mask
        return mask

    def fitting(self, requirement: Any) -> int:
        """The set of classes that fit (a bit set): every check passes."""
        return self._fitting_needs(_needs_of(requirement))

    def _fitting_needs(self, needs: tuple[Any, ...]) -> int:
        mask = self._fits.get(needs)
        if mask is None:
            mask = self.everything
            for dimension, need in enumerate(needs):
                mask &= self._mask(dimension, need)
                if not mask:
                    break
            self._fits[needs] = mask
        return mask

    def is_gap(self, requirement: Any, *, linked_by_hand: bool | None = None) -> bool:
        """Whether the requirement is a gap: active, no approved class fits it, and no approved class was
        linked to it by hand. The rule's one definition in Python; ``Requirement.objects.gaps()`` is its SQL
        twin.

        ``linked_by_hand``: whether an approved class is linked, when the caller knows it for many
        requirements at once; otherwise read from ``requirement.links.all()``: prefetch the links with their
        class for a list.
        """
        if requirement.status not in ACTIVE_STATUSES:
            return False
        if linked_by_hand is None:
            linked_by_hand = any(
                link.qos_class.status == ClassStatus.APPROVED for link in requirement.links.all()
            )
        return not linked_by_hand and not self.fitting(requirement)

    def gap_ids(self, requirements: QuerySet[Requirement]) -> list[int]:
        """The ids of the gaps among ``requirements`` (as ``Requirement.objects.gaps()`` finds them in SQL,
        which scans every approved class for each gap), in two queries that read only the needs."""
        from .models import ClassLink

        linked = set(
            ClassLink.objects.filter(
                requirement__in=requirements.values("pk"), qos_class__status=ClassStatus.APPROVED
            ).values_list("requirement_id", flat=True)
        )
        rows = requirements.active().order_by().values_list("pk", "status", *NEED_NAMES, named=True)
        return [row.pk for row in rows if self.is_gap(row, linked_by_hand=row.pk in linked)]

    def fitting_labels(self, requirement: Any, limit: int | None = None) -> list[str]:
        """Labels of the classes that fit, in label order; the first ``limit`` only, if given (a list row
        names a few of the thousands that may fit: walking every member cost more than the row)."""
        return [self.labels[index] for index in itertools.islice(_members(self.fitting(requirement)), limit)]

    def fitting_count(self, requirement: Any) -> int:
        """How many classes fit."""
        return self.fitting(requirement).bit_count()

    def closest_label(self, requirement: Any) -> str | None:
        """The class missing the fewest needs (the first in label order among them), as ``requirement_gaps``
        picks it from ``match_all()``; None without approved classes."""
        masks = [self._mask(d, getattr(requirement, name)) for d, name in enumerate(NEED_NAMES)]
        for excused in range(len(masks) + 1):
            candidates = 0
            for skipped in itertools.combinations(range(len(masks)), excused):
                passing = self.everything
                for dimension, mask in enumerate(masks):
                    if dimension not in skipped:
                        passing &= mask
                candidates |= passing
            if candidates:
                return self.labels[next(_members(candidates))]
        return None


def _bit_set(indexes: list[int], size: int) -> int:
    """An int whose bits ``indexes`` are set."""
    data = bytearray((size + 7) // 8)
    for index in indexes:
        data[index >> 3] |= 1 << (index & 7)
    return int.from_bytes(data, "little")


def _members(mask: int) -> Iterator[int]:
    """The positions of the bits set, lowest first."""
    bits = bin(mask)[:1:-1]  # lowest bit first, without "0b"
    position = bits.find("1")
    while position >= 0:
        yield position
        position = bits.find("1", position + 1)


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
