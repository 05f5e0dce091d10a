from __future__ import annotations

import datetime
from typing import Any

from django.core.exceptions import ValidationError
from django.db import models, transaction
from django.db.models import Count, IntegerField, OuterRef, Q, Subquery
from django.db.models.functions import Coalesce
from django.utils import timezone

from .choices import OPEN_ACTION_STATUSES


def _count_of(model: Any, field: str) -> Coalesce:
    """A correlated COUNT(*) subquery: unlike Count() over joins, two of them never multiply each other."""
    counted = (
        model.objects.filter(**{field: OuterRef("pk")})
        .order_by()
        .values(field)
        .annotate(n=Count("pk"))
        .values("n")
    )
    return Coalesce(Subquery(counted, output_field=IntegerField()), 0)


class PersonQuerySet(models.QuerySet):
    def for_user(self, user: Any) -> PersonQuerySet:
        """The person records linked to a user (none for an anonymous visitor)."""
        if not getattr(user, "is_authenticated", False):
            return self.none()
        return self.filter(user=user)


class MeetingQuerySet(models.QuerySet):
    def upcoming(self, now: datetime.datetime | None = None) -> MeetingQuerySet:
        return self.filter(starts_at__gte=now or timezone.now()).order_by("starts_at")

    def past(self, now: datetime.datetime | None = None) -> MeetingQuerySet:
        return self.filter(starts_at__lt=now or timezone.now()).order_by("-starts_at")

    def with_counts(self) -> MeetingQuerySet:
        """Each meeting with how many attended, how many actions it raised and how many it reviewed."""
        from .models import Action, ActionReview, Meeting

        return self.annotate(
            attendee_count=_count_of(Meeting.attendees.through, "meeting"),
            raised_count=_count_of(Action, "raised_at"),
            review_count=_count_of(ActionReview, "meeting"),
        )


class ActionQuerySet(models.QuerySet):
    def open(self) -> ActionQuerySet:
        """Still to be done (open or in progress): these are reviewed at every meeting."""
        return self.filter(status__in=OPEN_ACTION_STATUSES)

    def closed(self) -> ActionQuerySet:
        return self.exclude(status__in=OPEN_ACTION_STATUSES)

    def overdue(self, today: datetime.date | None = None) -> ActionQuerySet:
        """Open actions whose due date has passed (due today is not overdue yet)."""
        return self.open().filter(due_date__lt=today or timezone.localdate())

    def owned_by_user(self, user: Any) -> ActionQuerySet:
        """Actions one of whose owners is the person linked to this user."""
        if not getattr(user, "is_authenticated", False):
            return self.none()
        # A subquery, not a join with DISTINCT: the list keeps its order from the index (due date, id).
        owned = self.model.owners.through.objects.filter(person__user=user).values("action_id")
        return self.filter(pk__in=owned)

    def owned_by(self, value: str) -> ActionQuerySet:
        """Actions of an owner given as a person id (``12``) or as the username of their account."""
        value = value.strip()
        if value.isdigit():
            return self.filter(owners__pk=int(value)).distinct()
        return self.filter(owners__user__username=value).distinct()

    def search(self, text: str) -> ActionQuerySet:
        text = text.strip()
        if not text:
            return self
        return self.filter(Q(text__icontains=text) | Q(owners__name__icontains=text)).distinct()

    def with_related(self) -> ActionQuerySet:
        """Everything a list or board shows of an action, in a fixed number of queries."""
        return self.select_related("stream", "raised_at", "qos_class", "experiment").prefetch_related(
            "owners__user"
        )

    def create_action(self, *, by: Any, text: str, owners: list[Any], **fields: Any) -> Any:
        """Create an action with its owners. Raises ValidationError (and creates nothing) on bad input."""
        errors = {}
        if not (text or "").strip():
            errors["text"] = "Say what must be done."
        if not owners:
            errors["owners"] = "Give at least one owner."
        if errors:
            raise ValidationError(errors)
        action = self.model(text=text.strip(), created_by=by if getattr(by, "pk", None) else None, **fields)
        action.full_clean()
        with transaction.atomic():
            action.save()
            action.owners.set(owners)
        return action
