"""Who is told of what happens to actions and meetings, and in which words (notifications app).

Action owners need no account: they are mailed at their own address, else at their account's. Reminders (the
day before a meeting) and overdue notices are sent by beat (meetings/tasks.py); the rest inside the
transaction of the change.
"""

from __future__ import annotations

import datetime
from collections import defaultdict
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from django.utils import timezone

from notifications import notify
from notifications.choices import Kind
from notifications.outbox import Recipient

from .choices import OPEN_ACTION_STATUSES

if TYPE_CHECKING:
    from .models import Action, Meeting, Person


def recipient(person: Person) -> Recipient:
    """Where a person is mailed: their own address, else their account's (``user`` selected with them)."""
    address = person.email or (person.user.email if person.user_id else "")
    return Recipient(address=address, user_id=person.user_id)


def recipients(people: Iterable[Person]) -> list[Recipient]:
    return [recipient(person) for person in people]


def action_assigned(action: Action, *, by: Any) -> None:
    """The owners of an action hear it is theirs (once each: an owner added later is told then)."""
    due = f", due {action.due_date:%d %B %Y}" if action.due_date else ""
    notify(
        Kind.ACTION_ASSIGNED,
        f"action:{action.pk}:assigned",
        recipients(action.owners.select_related("user")),
        subject=f"[QoS portal] Action #{action.pk} is yours{due}",
        text=action.text,
        path=action.get_absolute_url(),
        actor=by,
    )


def minutes_saved(meeting: Meeting, *, by: Any) -> None:
    """The attendees hear that the minutes were written (the first time only: the event's key is fixed)."""
    notify(
        Kind.MINUTES_SAVED,
        f"meeting:{meeting.pk}:minutes",
        recipients(meeting.attendees.select_related("user")),
        subject=f"[QoS portal] Minutes of {meeting}",
        text=f"The minutes of {meeting} are written.",
        path=meeting.get_absolute_url(),
        actor=by,
    )


def remind_before_meetings(now: datetime.datetime | None = None) -> int:
    """The day before a meeting, each owner of open actions on its agenda gets one reminder listing them; and
    the group's chat a line. Returns how many meetings were reminded of (again: never twice)."""
    from .models import ActionReview, Meeting

    now = now or timezone.now()
    meetings = list(
        Meeting.objects.filter(starts_at__gt=now, starts_at__lte=now + datetime.timedelta(days=1))
    )
    for meeting in meetings:
        reviews = ActionReview.objects.filter(
            meeting=meeting, action__status__in=OPEN_ACTION_STATUSES
        ).select_related("action")
        by_owner: dict[Any, list[Action]] = defaultdict(list)
        owners = {}
        for review in reviews.prefetch_related("action__owners__user"):
            for owner in review.action.owners.all():
                by_owner[owner.pk].append(review.action)
                owners[owner.pk] = owner
        for owner_pk, actions in by_owner.items():
            listed = "\n".join(f"#{action.pk} {action.text}" for action in actions)
            notify(
                Kind.ACTION_REMINDER,
                f"meeting:{meeting.pk}:reminder:{owner_pk}",
                [recipient(owners[owner_pk])],
                subject=f"[QoS portal] Tomorrow, {meeting}: {len(actions)} open action(s) of yours",
                text=f"On the agenda of {meeting}:\n{listed}",
                path=meeting.get_absolute_url(),
            )
        notify(
            Kind.ACTION_REMINDER,
            f"meeting:{meeting.pk}:reminder",
            [],
            subject=f"Reminder: {meeting} starts in less than a day",
            path=meeting.get_absolute_url(),
            chat=True,
        )
    return len(meetings)


def tell_overdue_actions(today: datetime.date | None = None) -> int:
    """Each open action past its due date: its owners are told, at most once a week (the key names the week)."""
    from .models import Action

    today = today or timezone.localdate()
    year, week, _ = today.isocalendar()
    overdue = Action.objects.open().filter(due_date__lt=today).prefetch_related("owners__user")
    count = 0
    for action in overdue:
        notify(
            Kind.ACTION_OVERDUE,
            f"action:{action.pk}:overdue:{year}-W{week:02d}",
            recipients(action.owners.all()),
            subject=f"[QoS portal] Action #{action.pk} is overdue (due {action.due_date:%d %B %Y})",
            text=action.text,
            path=action.get_absolute_url(),
        )
        count += 1
    return count
