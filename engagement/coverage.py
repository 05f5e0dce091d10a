"""Coverage: whether enough RSEs in sync advertise each class a requirement wants copies in.

A requirement answered by 2 x SAFE + 1 x FAST (two :class:`~engagement.models.ClassLink` rows, ``copies`` 2
and 1) can only be placed by a Rucio rule if at least two RSEs carry ``QOS=SAFE`` and one ``QOS=FAST``: a
rule asking for two copies on ``QOS=SAFE`` with one such RSE is stuck. A demonstration once failed in the data
lake for exactly this reason. Only RSEs *in sync* count: Rucio holds the portal's value there, so an RSE
expression finds them; a pending, drifted or failed push, or an RSE Rucio no longer lists, proves nothing.

Coverage spans two apps (a requirement here, RSEs in ``qos``), so it has a module of its own, like
``matching.py``: each rule is written once in Python (to explain it on pages) and once in SQL (to flag and
count requirements at risk in lists, with a constant number of queries); ``tests/engagement/test_coverage.py``
checks that both agree. The QoS pages that move RSEs between classes (assignment, approval of a class planned
on RSEs, retirement) call :func:`breaks_if_assigned` to warn before the change is confirmed.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from django.db.models import Count, F, IntegerField, OuterRef, QuerySet, Subquery, Value
from django.db.models.functions import Coalesce

from qos.choices import CARRIED_STATUSES, SyncState
from qos.models import RSE, StorageQoSClass

from .choices import COMMITTED_STATUSES

if TYPE_CHECKING:
    from .matching import ApprovedClasses
    from .models import ClassLink, Requirement


def rses_in_sync() -> QuerySet[RSE]:
    """RSEs whose class Rucio really advertises now: in sync, still listed by Rucio, and with a class whose
    label the portal puts in Rucio (approved or deprecated; see ``RSE.desired_value``)."""
    return RSE.objects.filter(
        sync_state=SyncState.IN_SYNC,
        missing_in_rucio=False,
        qos_class__status__in=CARRIED_STATUSES,
    )


@dataclass(frozen=True)
class ClassCoverage:
    """One linked class of a requirement: copies wanted, and the RSEs in sync that advertise it."""

    qos_class: StorageQoSClass
    wanted: int
    rses: tuple[str, ...]

    @property
    def available(self) -> int:
        return len(self.rses)

    @property
    def short_by(self) -> int:
        return max(0, self.wanted - self.available)

    @property
    def covered(self) -> bool:
        return self.short_by == 0


@dataclass(frozen=True)
class CoverageBreak:
    """A committed requirement that a planned change would leave short of RSEs in sync for a linked class."""

    requirement: Requirement
    qos_class: StorageQoSClass
    wanted: int
    before: int
    after: int
    leaving: tuple[str, ...]

    @property
    def short_by(self) -> int:
        return self.wanted - self.after

    @property
    def was_covered(self) -> bool:
        return self.before >= self.wanted

    @property
    def short_before(self) -> int:
        return max(0, self.wanted - self.before)


def rse_names_by_class(class_ids: Iterable[int]) -> dict[int, list[str]]:
    """Names of the RSEs in sync advertising each class, by class id, in name order (one query)."""
    class_ids = set(class_ids)
    names: dict[int, list[str]] = defaultdict(list)
    if class_ids:
        rows = rses_in_sync().filter(qos_class_id__in=class_ids).order_by("name")
        for class_id, name in rows.values_list("qos_class_id", "name"):
            names[class_id].append(name)
    return names


def coverage_of_links(links: Iterable[ClassLink]) -> list[ClassCoverage]:
    """The coverage of each link (with its ``qos_class`` loaded), in the order given (one query)."""
    links = list(links)
    names = rse_names_by_class(link.qos_class_id for link in links)
    return [
        ClassCoverage(link.qos_class, link.copies, tuple(names.get(link.qos_class_id, ()))) for link in links
    ]


def coverage_by_requirement(requirements: Iterable[Requirement]) -> dict[int, list[ClassCoverage]]:
    """Coverage of a page of requirements, by requirement id, in one query whatever their number.

    Reads ``requirement.links.all()``: prefetch the links with their class
    (``Requirement.objects.for_lists()``) or it costs a query per requirement.
    """
    links = {requirement.pk: list(requirement.links.all()) for requirement in requirements}
    names = rse_names_by_class(link.qos_class_id for rows in links.values() for link in rows)
    return {
        pk: [
            ClassCoverage(link.qos_class, link.copies, tuple(names.get(link.qos_class_id, ())))
            for link in rows
        ]
        for pk, rows in links.items()
    }


def short_links() -> QuerySet[ClassLink]:
    """Links whose class has fewer RSEs in sync than the copies wanted in it: the SQL twin of
    ``ClassCoverage.covered``, for ``Exists`` (``Requirement.objects.with_coverage_flag()``)."""
    from .models import ClassLink

    available = (
        rses_in_sync()
        .filter(qos_class=OuterRef("qos_class"))
        .order_by()
        .values("qos_class")
        .annotate(n=Count("pk"))
        .values("n")
    )
    return ClassLink.objects.annotate(
        available_rses=Coalesce(Subquery(available, output_field=IntegerField()), Value(0))
    ).filter(copies__gt=F("available_rses"))


def count_at_risk() -> int:
    """How many committed requirements are at risk: ``Requirement.objects.coverage_at_risk().count()``, in two
    queries that read each class's RSEs once (the SQL counts them again for every link: 70 ms on a large
    portal, for a number on the dashboard; bench/README.md)."""
    from .models import ClassLink

    available = dict(
        rses_in_sync().order_by().values("qos_class").annotate(n=Count("pk")).values_list("qos_class", "n")
    )
    links = ClassLink.objects.filter(requirement__status__in=COMMITTED_STATUSES).values_list(
        "requirement_id", "qos_class_id", "copies"
    )
    return len(
        {requirement for requirement, qos_class, copies in links if copies > available.get(qos_class, 0)}
    )


def requirements_broken_by(leaving: Mapping[int, Iterable[int]]) -> list[CoverageBreak]:
    """The committed (accepted or satisfied) requirements that RSEs leaving classes would leave with fewer
    RSEs in sync of a linked class than the copies wanted in it.

    ``leaving`` maps a class id to the ids of the RSEs that would stop advertising it. Only RSEs in sync
    count, before as after: one that is pending or drifted does not place data now, so its leaving changes
    no coverage. A requirement already short is listed too when the change makes it shorter. Two queries.
    """
    from .models import ClassLink

    leaving = {class_id: set(ids) for class_id, ids in leaving.items() if ids}
    if not leaving:
        return []
    in_sync: dict[int, dict[int, str]] = defaultdict(dict)
    for class_id, pk, name in (
        rses_in_sync().filter(qos_class_id__in=leaving).values_list("qos_class_id", "pk", "name")
    ):
        in_sync[class_id][pk] = name
    lost = {
        class_id: tuple(sorted(name for pk, name in in_sync[class_id].items() if pk in ids))
        for class_id, ids in leaving.items()
    }
    links = (
        ClassLink.objects.filter(
            qos_class_id__in=[class_id for class_id, names in lost.items() if names],
            requirement__status__in=COMMITTED_STATUSES,
        )
        .select_related("qos_class", "requirement__experiment")
        .order_by("requirement__experiment__short_name", "requirement__title", "qos_class__label")
    )
    breaks = []
    for link in links:
        before = len(in_sync[link.qos_class_id])
        after = before - len(lost[link.qos_class_id])
        if after < link.copies:
            breaks.append(
                CoverageBreak(
                    requirement=link.requirement,
                    qos_class=link.qos_class,
                    wanted=link.copies,
                    before=before,
                    after=after,
                    leaving=lost[link.qos_class_id],
                )
            )
    return breaks


def breaks_if_assigned(rses: Iterable[RSE], qos_class: StorageQoSClass | None) -> list[CoverageBreak]:
    """What giving ``rses`` the class ``qos_class`` (None: no class) would break: each RSE that carries
    another class now leaves it. The caller passes only the RSEs whose class changes now (a draft class
    planned on an RSE changes nothing until it is approved)."""
    target = qos_class.pk if qos_class is not None else None
    leaving: dict[int, set[int]] = defaultdict(set)
    for rse in rses:
        if rse.qos_class_id is not None and rse.qos_class_id != target:
            leaving[rse.qos_class_id].add(rse.pk)
    return requirements_broken_by(leaving)


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
        fitting = classes.fitting_labels(requirement)
        rows.append(
            {
                "requirement": requirement,
                "fitting": fitting[:FITTING_SHOWN],
                "fitting_more": max(0, len(fitting) - FITTING_SHOWN),
                "gap": classes.is_gap(requirement),
                "linked": [link.qos_class.label for link in requirement.links.all()],
                "coverage": lines,
                "at_risk": requirement.is_committed and any(not line.covered for line in lines),
            }
        )
    return rows
