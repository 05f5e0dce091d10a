"""What a change in the catalogue would do to the experiments' requirements, shown before it is made.

The catalogue's pages ask through ``qos.consequences`` (the catalogue does not import this app); the panels
below answer, each with its template, and ``engagement/apps.py`` registers them:

- before RSEs get another class (the plan pages): every requirement whose coverage changes, with the numbers
  now and after (``coverage.changes_if_assigned``), and a warning for those it leaves short;
- on a class page: the volume committed on the class against its RSEs' usable space
  (``coverage.class_commitment``);
- while a proposal awaits approval (the class page, the approval page, and
  ``GET /api/v1/qos-classes/{label}/impact/``): the active requirements that the proposed content would start
  or stop matching (the matching rules of ``matching.py``, run on the content in force and on the proposed
  one), and, for a new class planned on RSEs, whose coverage its approval changes.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from qos.choices import ClassStatus
from qos.consequences import Panel
from qos.models import RSE, StorageQoSClass

from .coverage import (
    AssignmentImpact,
    CoverageChange,
    changes_if_assigned,
    class_commitment,
)
from .matching import DIMENSIONS, NEED_NAMES, ApprovedClasses

if TYPE_CHECKING:
    from .models import Requirement


@dataclass(frozen=True)
class ProposalImpact:
    """What approving the proposal awaiting approval on a class would change for the requirements."""

    qos_class: StorageQoSClass
    starts_matching: list[Requirement]
    stops_matching: list[Requirement]
    linked: frozenset[int]  # ids of those requirements linked to the class by hand (they stay linked)
    coverage: list[CoverageChange]

    @property
    def revision(self) -> int:
        """The class's revision the impact was computed at (what an approval must name)."""
        return self.qos_class.revision

    @property
    def coverage_impact(self) -> AssignmentImpact:
        return AssignmentImpact(self.coverage)

    @property
    def changes_nothing(self) -> bool:
        return not (self.starts_matching or self.stops_matching or self.coverage)


def _offer(qos_class: StorageQoSClass) -> tuple:
    """What the matching rules read of a class, in ``DIMENSIONS`` order."""
    return tuple(getattr(qos_class, field) for _, _, fields in DIMENSIONS for field in fields)


def impact_of_proposal(qos_class: StorageQoSClass) -> ProposalImpact | None:
    """What approving ``qos_class``'s proposal would change (None when nothing awaits approval).

    A requirement matches a class when the class is approved and satisfies every need (``matching.py``): now,
    with the content in force (only if the class is approved now); after, with the proposed content. Five
    queries at most, whatever the number of requirements.
    """
    from .models import ClassLink, Requirement

    if not qos_class.awaits_approval:
        return None
    proposed = StorageQoSClass.from_content(qos_class.head_content())
    # The very rules of the lists, run for two classes at once: bit 1 the content in force, bit 2 the proposal.
    classes = ApprovedClasses([("1-now", *_offer(qos_class)), ("2-proposed", *_offer(proposed))])
    matches_now = qos_class.status == ClassStatus.APPROVED
    starts, stops = set(), set()
    for row in Requirement.objects.active().order_by().values_list("pk", *NEED_NAMES, named=True):
        fitting = classes.fitting(row)
        before, after = matches_now and bool(fitting & 1), bool(fitting & 2)
        if after and not before:
            starts.add(row.pk)
        elif before and not after:
            stops.add(row.pk)
    changed = list(
        Requirement.objects.filter(pk__in=starts | stops)
        .select_related("experiment")
        .order_by("experiment__short_name", "title")
    )
    linked = frozenset(
        ClassLink.objects.filter(qos_class=qos_class, requirement__in=starts | stops).values_list(
            "requirement_id", flat=True
        )
    )
    # A new class planned on RSEs is given to them on approval; a change to an approved class moves no RSE.
    coverage = [] if qos_class.label_locked else changes_if_assigned(qos_class.planned_rses.all(), qos_class)
    return ProposalImpact(
        qos_class=qos_class,
        starts_matching=[requirement for requirement in changed if requirement.pk in starts],
        stops_matching=[requirement for requirement in changed if requirement.pk in stops],
        linked=linked,
        coverage=coverage,
    )


# --- the panels the catalogue's pages include (registered in apps.py) -----------------------------------------
def assignment_panel(rses: list[RSE], qos_class: StorageQoSClass | None) -> Panel:
    changes = changes_if_assigned(rses, qos_class)

    def api(context: dict) -> list:
        from .api.serializers import CoverageChangeSerializer

        return CoverageChangeSerializer(changes, many=True, context=context).data

    return Panel("engagement/inc/assignment_impact.html", AssignmentImpact(changes), "coverage_changes", api)


def class_panel(qos_class: StorageQoSClass) -> Panel | None:
    commitment = class_commitment(qos_class)
    if not (qos_class.carried_in_rucio or commitment.requirements):
        return None
    return Panel("engagement/inc/class_commitment.html", commitment)


def proposal_panel(qos_class: StorageQoSClass) -> Panel | None:
    impact = impact_of_proposal(qos_class)
    return None if impact is None else Panel("engagement/inc/proposal_impact.html", impact)
