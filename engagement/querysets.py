"""Querysets of experiment engagement: who may write what, and which requirements are gaps.

The rule of the app lives here (and in the model methods that call it), never in views: a liaison writes
requirements, records, documents and contacts of *their own* experiments only; a holder of
``engagement.manage_any_experiment`` (coordinators) keeps records, documents and contacts of every experiment,
but requirements are always the experiment's own voice, filed by its liaisons.
"""

from __future__ import annotations

from typing import Any

from django.core.exceptions import PermissionDenied
from django.db import models, transaction
from django.db.models import Count, Exists, IntegerField, OuterRef, Prefetch, Q, Subquery, Value
from django.db.models.functions import Coalesce

from .choices import ACTIVE_STATUSES, COMMITTED_STATUSES, DocumentStatus, RecordStatus

MANAGE_ANY = "engagement.manage_any_experiment"


def _authenticated(user: Any) -> bool:
    return bool(getattr(user, "is_authenticated", False))


def _count_of(queryset: models.QuerySet, field: str = "experiment") -> Coalesce:
    """``COUNT(*)`` of ``queryset`` rows whose ``field`` is the outer row, as a subquery.

    Subqueries, not ``Count()`` over joins: several counts over several joins would multiply each other.
    """
    counted = (
        queryset.filter(**{field: OuterRef("pk")})
        .order_by()
        .values(field)
        .annotate(n=Count("pk"))
        .values("n")
    )
    return Coalesce(Subquery(counted, output_field=IntegerField()), Value(0))


class ExperimentQuerySet(models.QuerySet):
    def liaised_by(self, user: Any) -> ExperimentQuerySet:
        """Experiments the user is a liaison of."""
        if not getattr(user, "is_authenticated", False):
            return self.none()
        return self.filter(liaisons=user)

    def requirements_writable_by(self, user: Any, action: str = "add") -> ExperimentQuerySet:
        """Experiments whose requirements the user may ``action`` (add, change): their own, as a liaison."""
        if not _authenticated(user) or not user.has_perm(f"engagement.{action}_requirement"):
            return self.none()
        if user.is_superuser:
            return self.all()
        return self.liaised_by(user)

    def engagement_writable_by(self, user: Any, model_name: str, action: str = "add") -> ExperimentQuerySet:
        """Experiments whose records, documents or contacts (``model_name``) the user may ``action``."""
        if not _authenticated(user) or not user.has_perm(f"engagement.{action}_{model_name}"):
            return self.none()
        if user.has_perm(MANAGE_ANY):
            return self.all()
        return self.liaised_by(user)

    def with_counts(self) -> ExperimentQuerySet:
        """Each experiment with how many active requirements, gaps, pending records and documents it has."""
        from .models import Document, EngagementRecord, Requirement

        return self.annotate(
            active_requirements=_count_of(Requirement.objects.active()),
            gap_count=_count_of(Requirement.objects.gaps()),
            pending_records=_count_of(EngagementRecord.objects.filter(status=RecordStatus.PENDING)),
            documents_awaiting=_count_of(Document.objects.filter(status=DocumentStatus.SUBMITTED)),
        )


# A gap, on the flags ``with_class_flags()`` annotates.
GAP = Q(status__in=ACTIVE_STATUSES, has_matching_class=False, has_linked_class=False)


class RequirementQuerySet(models.QuerySet):
    def active(self) -> RequirementQuerySet:
        """Requirements the data lake still answers: neither rejected nor withdrawn."""
        return self.filter(status__in=ACTIVE_STATUSES)

    def with_class_flags(self) -> RequirementQuerySet:
        """Annotate ``has_matching_class`` (an approved class satisfies the needs) and ``has_linked_class``
        (an admin linked an approved class by hand), computed in the database."""
        from qos.choices import ClassStatus

        from .matching import satisfying_classes
        from .models import ClassLink

        return self.annotate(
            has_matching_class=Exists(satisfying_classes()),
            has_linked_class=Exists(
                ClassLink.objects.filter(requirement=OuterRef("pk"), qos_class__status=ClassStatus.APPROVED)
            ),
        )

    def gaps(self) -> RequirementQuerySet:
        """Active requirements that no approved class satisfies and none was linked to by hand: the rule's
        one definition in SQL, for lists filtered, paginated and counted in the database. Its Python twin is
        ``ApprovedClasses.is_gap`` (``matching.py``); ``tests/engagement/test_gaps.py`` holds them together."""
        return self.with_class_flags().filter(GAP)

    def not_gaps(self) -> RequirementQuerySet:
        return self.with_class_flags().filter(~GAP)

    def with_coverage_flag(self) -> RequirementQuerySet:
        """Annotate ``coverage_short``: a linked class has fewer RSEs in sync than the copies wanted in it, or
        too few of them with usable space for a copy (``coverage.py``), computed in the database."""
        from .coverage import short_links

        return self.annotate(coverage_short=Exists(short_links().filter(requirement=OuterRef("pk"))))

    def coverage_at_risk(self) -> RequirementQuerySet:
        """Accepted or satisfied requirements that RSEs in sync can no longer place: a linked class is short (of
        RSEs, or of space on them)."""
        return self.filter(status__in=COMMITTED_STATUSES).with_coverage_flag().filter(coverage_short=True)

    def coverage_not_at_risk(self) -> RequirementQuerySet:
        return self.with_coverage_flag().filter(Q(coverage_short=False) | ~Q(status__in=COMMITTED_STATUSES))

    def for_lists(self) -> RequirementQuerySet:
        """What a list row shows, fetched in a constant number of queries."""
        from .models import ClassLink

        return self.select_related("experiment", "filed_by").prefetch_related(
            Prefetch("links", queryset=ClassLink.objects.select_related("qos_class", "linked_by"))
        )

    def file(self, *, by: Any, experiment: Any, comment: str = "", **needs: Any) -> Any:
        """File a requirement for an experiment the user is a liaison of; validates, records the event.

        Raises PermissionDenied for anyone else, ValidationError on bad needs; then nothing is saved.
        """
        from . import notices
        from .choices import RequirementEventKind
        from .models import NEED_FIELDS

        if not experiment.can_write_requirements(by, "add"):
            raise PermissionDenied(experiment.requirements_refusal())
        unknown = set(needs) - set(NEED_FIELDS)
        if unknown:
            raise ValueError(f"Not needs of a requirement: {', '.join(sorted(unknown))}")
        requirement = self.model(experiment=experiment, filed_by=by, **needs)
        requirement.full_clean()
        with transaction.atomic():
            requirement.save()
            event = requirement._record(by, RequirementEventKind.FILED, comment)
            notices.requirement_event(requirement, by=by, event_id=event.pk, what="filed", comment=comment)
        return requirement

    def search(self, text: str) -> RequirementQuerySet:
        text = text.strip()
        if not text:
            return self
        return self.filter(Q(title__icontains=text) | Q(description__icontains=text))
