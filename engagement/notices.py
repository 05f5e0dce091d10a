"""Who is told of what happens to requirements, and in which words (notifications app).

Called inside the transaction of the change. A requirement's events go to the experiment's liaisons and the QoS
admins, never to the person who made the change; every one of them may read the requirement in the portal.
"""

from __future__ import annotations

import datetime
from typing import TYPE_CHECKING, Any

from django.contrib.auth import get_user_model
from django.utils import timezone

from notifications import notify
from notifications.choices import Kind
from qos.notices import qos_admins

if TYPE_CHECKING:
    from qos.models import StorageQoSClass

    from .models import Requirement


def liaisons_of_class(qos_class: StorageQoSClass) -> Any:
    """The liaisons of the experiments whose active requirements link ``qos_class`` (told when it goes)."""
    return (
        get_user_model()
        .objects.filter(
            is_active=True,
            liaison_experiments__requirements__links__qos_class=qos_class,
        )
        .exclude(email="")
        .distinct()
    )


def _audience(requirement: Requirement) -> list[Any]:
    liaisons = requirement.experiment.liaisons.filter(is_active=True).exclude(email="")
    return [*liaisons, *qos_admins()]


def requirement_event(
    requirement: Requirement, *, by: Any, event_id: int, what: str, comment: str = ""
) -> None:
    """A step of the requirement's life (filed, under review, accepted, rejected, satisfied ...)."""
    kind = Kind.REQUIREMENT_TO_REVIEW if what in ("filed", "filed again") else Kind.REQUIREMENT_CHANGED
    said = what if what.startswith("is ") else f"was {what}"
    experiment = requirement.experiment.short_name
    notify(
        kind,
        f"requirement-event:{event_id}",
        _audience(requirement),
        subject=f"[QoS portal] {experiment}: “{requirement.title}” {said}",
        text=f"The requirement “{requirement.title}” of {experiment} {said}, by {by}."
        + (f"\n{comment}" if comment else ""),
        path=requirement.get_absolute_url(),
        actor=by,
    )


def requirement_commented(requirement: Requirement, *, by: Any, comment_id: int, text: str) -> None:
    notify(
        Kind.REQUIREMENT_COMMENTED,
        f"requirement-comment:{comment_id}",
        _audience(requirement),
        subject=f"[QoS portal] {by} commented on {requirement.experiment.short_name}: {requirement.title}",
        text=text,
        path=requirement.get_absolute_url(),
        actor=by,
    )


def tell_coverage_short(today: datetime.date | None = None) -> int:
    """The QoS admins hear of each accepted (or satisfied) requirement that too few RSEs in sync can place: once
    when it is first seen short, then at most once a week while it stays so (the key names the week)."""
    from .models import Requirement

    today = today or timezone.localdate()
    year, week, _ = today.isocalendar()
    short = list(Requirement.objects.coverage_at_risk().select_related("experiment"))
    admins = list(qos_admins())
    for requirement in short:
        notify(
            Kind.COVERAGE_SHORT,
            f"requirement:{requirement.pk}:short:{year}-W{week:02d}",
            admins,
            subject=f"[QoS portal] {requirement.experiment.short_name}: “{requirement.title}” is short of RSEs",
            text="A class linked to this accepted requirement has fewer RSEs in sync than the copies wanted.",
            path=requirement.get_absolute_url(),
        )
    return len(short)
