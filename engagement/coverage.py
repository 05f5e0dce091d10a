"""Coverage: whether enough RSEs in sync, each with room for a copy, advertise each class a requirement wants
copies in.

A requirement answered by 2 x SAFE + 1 x FAST (two :class:`~engagement.models.ClassLink` rows, ``copies`` 2
and 1) can only be placed by a Rucio rule if at least two RSEs carry ``QOS=SAFE`` and one ``QOS=FAST``: a
rule asking for two copies on ``QOS=SAFE`` with one such RSE is stuck. A demonstration once failed in the data
lake for exactly this reason. Only RSEs *in sync* count: Rucio holds the portal's value there, so an RSE
expression finds them; a pending, drifted or failed push, or an RSE Rucio no longer lists, proves nothing.
Each of those RSEs must also have *usable* space (free minus Rucio's MinFreeSpace, ``RSE.usable_bytes``) for
one copy of the requirement's volume: a rule whose copies do not fit is stuck too. An RSE whose capacity Rucio
did not report is neither counted as room nor as none: coverage that depends on it is *unknown*.
With ``QOS_COVERAGE_COUNTS_CONFORMING_ONLY`` on, an RSE in sync counts only if its probes also find it
delivering the class (conforming or degraded, ``qos.choices.DELIVERING_VERDICTS``): a violating,
unreachable or never-probed one advertises a promise it does not keep.

Coverage spans two apps (a requirement here, RSEs in ``qos``), so it has a module of its own, like
``matching.py``: the rule is written once in Python (:func:`fits`, to explain it on pages) and once in SQL
(:func:`short_links`, to flag and count requirements at risk in lists, with a constant number of queries);
``tests/engagement/test_coverage.py`` checks that both agree. The QoS pages that move RSEs between classes
(assignment, approval of a class planned on RSEs, retirement) call :func:`breaks_if_assigned` to warn before
the change is confirmed, and show every change of coverage (:func:`changes_if_assigned`).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.db.models import (
    Count,
    DecimalField,
    ExpressionWrapper,
    F,
    IntegerField,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
    Sum,
    Value,
)
from django.db.models.functions import Coalesce

from common.templatetags.common_tags import bytes_si
from qos.choices import CARRIED_STATUSES, DELIVERING_VERDICTS, SyncState
from qos.models import RSE, StorageQoSClass

from .choices import COMMITTED_STATUSES

if TYPE_CHECKING:
    from .matching import ApprovedClasses
    from .models import ClassLink, Requirement

# Requirements give their volume in TB, decimal as storage is sold (and as the RSE pages show bytes).
TB = 10**12


def volume_bytes(volume_tb: Decimal) -> int:
    """A requirement's volume (``volume_tb``) in bytes: the space one copy takes."""
    return int(volume_tb * TB)


def counts_conforming_only() -> bool:
    """Whether coverage counts only the RSEs whose probes find them delivering their class
    (``QOS_COVERAGE_COUNTS_CONFORMING_ONLY``); the pages say which way it counts."""
    return settings.QOS_COVERAGE_COUNTS_CONFORMING_ONLY


def rses_in_sync() -> QuerySet[RSE]:
    """RSEs whose class Rucio really advertises now: in sync, still listed by Rucio, and with a class whose
    label the portal puts in Rucio (approved or deprecated; see ``RSE.desired_value``); with
    ``QOS_COVERAGE_COUNTS_CONFORMING_ONLY``, also judged conforming or degraded by their probes (an RSE never
    probed is unknown and does not count). The Python rule and its SQL twin both read their RSEs here, so the
    setting moves both alike."""
    rses = RSE.objects.filter(
        sync_state=SyncState.IN_SYNC,
        missing_in_rucio=False,
        qos_class__status__in=CARRIED_STATUSES,
    )
    if counts_conforming_only():
        # The verdict must be about the class the RSE advertises now: one about its former class says nothing.
        rses = rses.filter(
            conformance__verdict__in=DELIVERING_VERDICTS, conformance__qos_class_label=F("qos_class__label")
        )
    return rses


def fits(usable: Iterable[int | None], wanted: int, volume: int) -> bool | None:
    """Whether ``wanted`` copies of ``volume`` bytes each fit on distinct RSEs whose usable space is ``usable``
    (None: unknown): True when that many have room, False when too few would have it even if every unknown
    one had, None (unknown) otherwise. The rule's one definition in Python; :func:`short_links` is its SQL
    twin."""
    # One pass, no generator: the dashboard's count at risk asks this of every link (2,300 at scale 1).
    room = unknown = 0
    for space in usable:
        if space is None:
            unknown += 1
        elif space >= volume:
            room += 1
    if room >= wanted:
        return True
    return None if room + unknown >= wanted else False


@dataclass(frozen=True)
class ClassCoverage:
    """One linked class of a requirement: copies wanted, the RSEs in sync that advertise it with their usable
    space (``usable``, aligned with ``rses``; None: unknown), and whether a copy of ``volume_bytes`` fits on
    enough of them."""

    qos_class: StorageQoSClass
    wanted: int
    rses: tuple[str, ...]
    usable: tuple[int | None, ...]
    volume_bytes: int

    @property
    def available(self) -> int:
        return len(self.rses)

    @property
    def short_by(self) -> int:
        """RSEs in sync missing, whatever their space."""
        return max(0, self.wanted - self.available)

    @property
    def with_room(self) -> tuple[str, ...]:
        """The RSEs with usable space for one copy."""
        return tuple(
            name
            for name, space in zip(self.rses, self.usable, strict=True)
            if space is not None and space >= self.volume_bytes
        )

    @property
    def rses_with_room(self) -> int:
        return len(self.with_room)

    @property
    def space_unknown(self) -> tuple[str, ...]:
        """The RSEs whose usable space Rucio did not report."""
        return tuple(name for name, space in zip(self.rses, self.usable, strict=True) if space is None)

    @property
    def space(self) -> list[tuple[str, int | None]]:
        """Each RSE with its usable space, for pages."""
        return list(zip(self.rses, self.usable, strict=True))

    @property
    def fits(self) -> bool | None:
        return fits(self.usable, self.wanted, self.volume_bytes)

    @property
    def covered(self) -> bool:
        return self.fits is True

    @property
    def short(self) -> bool:
        """Known to be short, of RSEs or of space: what puts a committed requirement at risk."""
        return self.fits is False

    @property
    def short_of_space_bytes(self) -> int | None:
        """How much more usable space the best RSEs in sync without room would need so that every copy fits
        (counting the unknown ones as having room: at least this much); 0 when space is not what is short;
        None when it depends on unknown capacities."""
        if self.fits is None:
            return None
        missing = self.wanted - len(self.with_room) - len(self.space_unknown)
        if missing <= 0:
            return 0
        too_small = sorted(
            (space for space in self.usable if space is not None and space < self.volume_bytes), reverse=True
        )
        return sum(self.volume_bytes - space for space in too_small[:missing])

    @property
    def verdict(self) -> str:
        """In a word or three, for badges: "covered", "short by 1", "60 TB short of space", "space unknown"."""
        if self.covered:
            return "covered"
        if self.fits is None:
            return "space unknown"
        parts = [f"short by {self.short_by}"] if self.short_by else []
        if self.short_of_space_bytes:
            parts.append(f"{bytes_si(self.short_of_space_bytes)} short of space")
        return "; ".join(parts)

    @property
    def explanation(self) -> str:
        """What the verdict rests on, in a sentence (badge titles, lists)."""
        if not self.rses:
            return "No RSE in sync advertises it."
        each = ", ".join(f"{name} {bytes_si(space)}" for name, space in self.space)
        return (
            f"{len(self.with_room)} of {self.available} RSEs in sync have {bytes_si(self.volume_bytes)} usable "
            f"for a copy, {self.wanted} needed (usable: {each})."
        )


def space_by_class(class_ids: Iterable[int] | None = None) -> dict[int, list[tuple[str, int | None]]]:
    """The RSEs in sync advertising each class with their usable space, by class id, in name order; every
    class when ``class_ids`` is None (one query)."""
    rows = rses_in_sync().with_usable().order_by("name")
    if class_ids is not None:
        class_ids = set(class_ids)
        if not class_ids:
            return {}
        rows = rows.filter(qos_class_id__in=class_ids)
    found: dict[int, list[tuple[str, int | None]]] = defaultdict(list)
    for class_id, name, usable in rows.values_list("qos_class_id", "name", "usable"):
        found[class_id].append((name, usable))
    return found


def _coverage(link: ClassLink, space: Sequence[tuple[str, int | None]]) -> ClassCoverage:
    return ClassCoverage(
        link.qos_class,
        link.copies,
        tuple(name for name, _ in space),
        tuple(usable for _, usable in space),
        volume_bytes(link.requirement.volume_tb),
    )


def coverage_of_links(links: Iterable[ClassLink]) -> list[ClassCoverage]:
    """The coverage of each link (with its ``qos_class`` loaded; its ``requirement`` too, as
    ``requirement.links`` gives it), in the order given (one query)."""
    links = list(links)
    space = space_by_class(link.qos_class_id for link in links)
    return [_coverage(link, space.get(link.qos_class_id, ())) for link in links]


def coverage_by_requirement(requirements: Iterable[Requirement]) -> dict[int, list[ClassCoverage]]:
    """Coverage of a page of requirements, by requirement id, in one query whatever their number.

    Reads ``requirement.links.all()``: prefetch the links with their class
    (``Requirement.objects.for_lists()``) or it costs a query per requirement.
    """
    links = {requirement.pk: list(requirement.links.all()) for requirement in requirements}
    space = space_by_class(link.qos_class_id for rows in links.values() for link in rows)
    return {
        pk: [_coverage(link, space.get(link.qos_class_id, ())) for link in rows] for pk, rows in links.items()
    }


def short_links() -> QuerySet[ClassLink]:
    """Links whose class has fewer RSEs in sync that may have room for a copy (room, or capacity unknown) than
    the copies wanted in it: the SQL twin of :func:`fits` returning False, for ``Exists``
    (``Requirement.objects.with_coverage_flag()``)."""
    from .models import ClassLink

    may_take_a_copy = (
        rses_in_sync()
        .with_usable()
        .filter(qos_class=OuterRef("qos_class"))
        .filter(Q(usable__isnull=True) | Q(usable__gte=OuterRef("copy_bytes")))
        .order_by()
        .values("qos_class")
        .annotate(n=Count("pk"))
        .values("n")
    )
    return (
        ClassLink.objects.annotate(
            copy_bytes=ExpressionWrapper(
                F("requirement__volume_tb") * Value(TB),
                output_field=DecimalField(max_digits=30, decimal_places=3),
            )
        )
        .annotate(placeable=Coalesce(Subquery(may_take_a_copy, output_field=IntegerField()), Value(0)))
        .filter(copies__gt=F("placeable"))
    )


def count_at_risk() -> int:
    """How many committed requirements are at risk: ``Requirement.objects.coverage_at_risk().count()``, in two
    queries that read each class's RSEs once (the SQL counts them again for every link: 70 ms on a large
    portal, for a number on the dashboard; bench/README.md)."""
    from .models import ClassLink

    space = space_by_class()
    links = ClassLink.objects.filter(requirement__status__in=COMMITTED_STATUSES).values_list(
        "requirement_id", "qos_class_id", "copies", "requirement__volume_tb"
    )
    return len(
        {
            requirement
            for requirement, qos_class, copies, volume in links
            if fits((usable for _, usable in space.get(qos_class, ())), copies, volume_bytes(volume)) is False
        }
    )


@dataclass(frozen=True)
class CoverageChange:
    """A requirement's coverage in a linked class now and after a planned change moves RSEs into or out of it."""

    requirement: Requirement
    now: ClassCoverage
    then: ClassCoverage
    leaving: tuple[str, ...]
    arriving: tuple[str, ...]

    @property
    def breaks(self) -> bool:
        """Leaves a committed requirement short, or shorter than it was (of RSEs or of space)."""
        if not (self.requirement.is_committed and self.then.short):
            return False
        return not self.now.short or (self.then.short_by, self.then.short_of_space_bytes or 0) > (
            self.now.short_by,
            self.now.short_of_space_bytes or 0,
        )

    @property
    def mends(self) -> bool:
        """Makes a requirement that was not covered covered."""
        return self.then.covered and not self.now.covered


# An RSE as coverage reads it: its name and usable space (None: unknown), by RSE id.
RSESpace = dict[int, tuple[str, int | None]]


@dataclass(frozen=True)
class ClassMove:
    """The RSEs in sync advertising a class now, and those that would after a change."""

    now: RSESpace
    then: RSESpace

    def names(self, rses: RSESpace, without: RSESpace) -> tuple[str, ...]:
        return tuple(sorted(name for pk, (name, _) in rses.items() if pk not in without))

    @property
    def leaving(self) -> tuple[str, ...]:
        return self.names(self.now, self.then)

    @property
    def arriving(self) -> tuple[str, ...]:
        return self.names(self.then, self.now)


def _class_moves(leaving: Mapping[int, set[int]], arriving: Mapping[int, list[RSE]]) -> dict[int, ClassMove]:
    """Each class concerned, its RSEs in sync now and after (one query)."""
    classes = set(leaving) | set(arriving)
    now: dict[int, RSESpace] = {class_id: {} for class_id in classes}
    rows = rses_in_sync().with_usable().filter(qos_class_id__in=classes)
    for class_id, pk, name, usable in rows.values_list("qos_class_id", "pk", "name", "usable"):
        now[class_id][pk] = (name, usable)
    moves = {}
    for class_id in classes:
        then = {pk: row for pk, row in now[class_id].items() if pk not in leaving.get(class_id, ())}
        then.update((rse.pk, (rse.name, rse.usable_bytes)) for rse in arriving.get(class_id, ()))
        moves[class_id] = ClassMove(now[class_id], then)
    return moves


def _counted_arrivals(arriving: Mapping[int, Iterable[RSE]]) -> dict[int, list[RSE]]:
    """The arriving RSEs that will count once pushed, by class: those Rucio still lists. An RSE arriving in a
    class has no verdict about it yet (a new class resets it to unknown): when coverage counts only conforming
    RSEs, it counts once its probes confirm it, not on arrival."""
    if counts_conforming_only():
        return {}
    return {
        class_id: listed
        for class_id, rses in arriving.items()
        if (listed := [rse for rse in rses if not rse.missing_in_rucio])
    }


def coverage_changes(
    leaving: Mapping[int, Iterable[int]], arriving: Mapping[int, Iterable[RSE]] | None = None
) -> list[CoverageChange]:
    """How the coverage of the active requirements linked to the classes concerned changes when RSEs leave
    classes and others arrive in them, where any number changes (RSEs in sync, RSEs with room, verdict).

    ``leaving`` maps a class id to the ids of the RSEs that would stop advertising it; ``arriving`` a class id
    to the RSEs (loaded, with their capacity) that would advertise it once their push is done. Only RSEs in
    sync count, before as after: one that is pending or drifted does not place data now, so its leaving
    changes nothing; an arriving one counts once Rucio holds the value, unless Rucio no longer lists it (or,
    with ``QOS_COVERAGE_COUNTS_CONFORMING_ONLY``, not before its probes confirm it delivers the class). Two
    queries.
    """
    from .choices import ACTIVE_STATUSES
    from .models import ClassLink

    leaving = {class_id: set(ids) for class_id, ids in leaving.items() if ids}
    arriving = _counted_arrivals(arriving or {})
    if not (leaving or arriving):
        return []
    moves = _class_moves(leaving, arriving)
    moving = [class_id for class_id, move in moves.items() if move.leaving or move.arriving]
    links = (
        ClassLink.objects.filter(qos_class_id__in=moving, requirement__status__in=ACTIVE_STATUSES)
        .select_related("qos_class", "requirement__experiment")
        .order_by("requirement__experiment__short_name", "requirement__title", "qos_class__label")
    )
    changes = []
    for link in links:
        move = moves[link.qos_class_id]
        now, then = _coverage(link, sorted(move.now.values())), _coverage(link, sorted(move.then.values()))
        if (now.available, now.rses_with_room, now.fits) != (then.available, then.rses_with_room, then.fits):
            changes.append(CoverageChange(link.requirement, now, then, move.leaving, move.arriving))
    return changes


def requirements_broken_by(leaving: Mapping[int, Iterable[int]]) -> list[CoverageChange]:
    """The committed (accepted or satisfied) requirements that RSEs leaving classes would leave short (of RSEs
    in sync, or of space on them) in a linked class, or shorter than they were. Two queries."""
    return [change for change in coverage_changes(leaving) if change.breaks]


def _moves(
    rses: Iterable[RSE], qos_class: StorageQoSClass | None
) -> tuple[dict[int, set[int]], dict[int, list[RSE]]]:
    """Which RSEs leave which class, and which arrive in ``qos_class``, when ``rses`` are given it."""
    target = qos_class.pk if qos_class is not None else None
    leaving: dict[int, set[int]] = defaultdict(set)
    arriving: dict[int, list[RSE]] = defaultdict(list)
    for rse in rses:
        if rse.qos_class_id != target:
            if rse.qos_class_id is not None:
                leaving[rse.qos_class_id].add(rse.pk)
            if target is not None:
                arriving[target].append(rse)
    return leaving, arriving


def changes_if_assigned(rses: Iterable[RSE], qos_class: StorageQoSClass | None) -> list[CoverageChange]:
    """Every change of coverage giving ``rses`` the class ``qos_class`` (None: no class) makes: RSEs leaving
    their class, and arriving in ``qos_class`` once pushed. The caller passes only the RSEs whose class changes
    now (a draft class planned on an RSE changes nothing until it is approved)."""
    return coverage_changes(*_moves(rses, qos_class))


def breaks_if_assigned(rses: Iterable[RSE], qos_class: StorageQoSClass | None) -> list[CoverageChange]:
    """What giving ``rses`` the class ``qos_class`` (None: no class) would break (see ``CoverageChange.breaks``)."""
    return [change for change in changes_if_assigned(rses, qos_class) if change.breaks]


@dataclass(frozen=True)
class AssignmentImpact:
    """What giving RSEs another class does to coverage: every change, and those that break it."""

    changes: list[CoverageChange]

    @property
    def breaks(self) -> list[CoverageChange]:
        return [change for change in self.changes if change.breaks]


@dataclass(frozen=True)
class ClassCommitment:
    """The volume committed on a class (volume x copies of the accepted or satisfied requirements linked to
    it) against the usable space of the RSEs in sync that advertise it (``usable``, aligned with ``rses``)."""

    qos_class: StorageQoSClass
    committed_bytes: int
    requirements: int
    rses: tuple[str, ...]
    usable: tuple[int | None, ...]

    @property
    def usable_bytes(self) -> int:
        """The usable space known: the RSEs whose capacity Rucio reported."""
        return sum(space for space in self.usable if space is not None)

    @property
    def space_unknown(self) -> tuple[str, ...]:
        return tuple(name for name, space in zip(self.rses, self.usable, strict=True) if space is None)

    @property
    def over_committed(self) -> bool | None:
        """More committed than the known usable space, and no unknown capacity that might hold the rest
        (then None: unknown)."""
        if self.committed_bytes <= self.usable_bytes:
            return False
        return None if self.space_unknown else True

    @property
    def over_by_bytes(self) -> int:
        """How much more is committed than the known usable space (0 when not)."""
        return max(0, self.committed_bytes - self.usable_bytes)


def class_commitment(qos_class: StorageQoSClass) -> ClassCommitment:
    """The volume committed on ``qos_class`` against its RSEs' usable space (two queries)."""
    from .models import ClassLink

    committed = ClassLink.objects.filter(
        qos_class=qos_class, requirement__status__in=COMMITTED_STATUSES
    ).aggregate(
        volume=Sum(
            ExpressionWrapper(
                F("requirement__volume_tb") * F("copies"),
                output_field=DecimalField(max_digits=20, decimal_places=3),
            )
        ),
        requirements=Count("requirement", distinct=True),
    )
    space = space_by_class([qos_class.pk]).get(qos_class.pk, [])
    return ClassCommitment(
        qos_class=qos_class,
        committed_bytes=volume_bytes(committed["volume"] or Decimal(0)),
        requirements=committed["requirements"],
        rses=tuple(name for name, _ in space),
        usable=tuple(usable for _, usable in space),
    )


# How many fitting classes a list row names; the rest are counted.
FITTING_SHOWN = 5


def requirement_rows(requirements: Iterable[Requirement], classes: ApprovedClasses) -> list[dict[str, Any]]:
    """A list row per requirement (the requirement lists, the dashboard): the classes that fit (computed), those linked by hand, whether it is a gap,
    and the coverage of each linked class (one query for the whole page)."""
    requirements = list(requirements)
    coverage = coverage_by_requirement(requirements)
    rows = []
    for requirement in requirements:
        lines = coverage[requirement.pk]
        rows.append(
            {
                "requirement": requirement,
                "fitting": classes.fitting_labels(requirement, FITTING_SHOWN),
                "fitting_more": max(0, classes.fitting_count(requirement) - FITTING_SHOWN),
                "gap": classes.is_gap(requirement),
                "linked": [link.qos_class.label for link in requirement.links.all()],
                "coverage": lines,
                "at_risk": requirement.is_committed and any(line.short for line in lines),
            }
        )
    return rows
