from __future__ import annotations

import datetime
from collections.abc import Iterable
from typing import Any

from django.core.exceptions import ValidationError
from django.db import models, transaction
from django.db.models import Count, IntegerField, OuterRef, Q, Subquery
from django.db.models.functions import Coalesce
from django.utils import timezone

from . import notices
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


class MeetingQuerySet(models.QuerySet):
    def upcoming(self, now: datetime.datetime | None = None) -> MeetingQuerySet:
        return self.filter(starts_at__gte=now or timezone.now()).order_by("starts_at")

    def past(self, now: datetime.datetime | None = None) -> MeetingQuerySet:
        return self.filter(starts_at__lt=now or timezone.now()).order_by("-starts_at")

    def create_with_agenda(self, *, by: Any, attendees: Iterable[Any] = (), **fields: Any) -> Any:
        """Create a meeting ready to be held: the timetable's shape and the minutes' sections of the series'
        previous meeting (without their text), or the standard agenda for the first one, and every open action
        carried onto its agenda. ``by`` is recorded as who created it."""
        with transaction.atomic():
            meeting = self.create(created_by=by if getattr(by, "pk", None) else None, **fields)
            if attendees:
                meeting.attendees.add(*attendees)
            previous = meeting.previous_meeting()
            if previous is not None:
                meeting.copy_agenda_from(previous)
            else:
                meeting.add_default_timetable()
                meeting.add_default_sections()
            meeting.carry_over_open_actions()
        return meeting

    def check_time_free(self, series: Any, starts_at: datetime.datetime, *, other_than: Any = None) -> None:
        """Refuse (ValidationError) a start at which the series already has a meeting, ``other_than`` aside
        (the meeting being edited)."""
        clash = self.filter(series=series, starts_at=starts_at)
        if other_than is not None and other_than.pk is not None:
            clash = clash.exclude(pk=other_than.pk)
        if clash.exists():
            raise ValidationError(f"{series} already has a meeting at that time.")

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

    def for_board(self) -> ActionQuerySet:
        """What the actions board shows of an action: its stream and owners. Not the meeting, class and
        experiment ``with_related()`` joins, which the board never shows: making their rows was a fifth of the
        board's cost without the table cache (bench/README.md)."""
        return self.select_related("stream").prefetch_related("owners")

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
            notices.action_assigned(action, by=by)
        return action
