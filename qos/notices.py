"""Who is told of what happens in the catalogue and on the RSEs, and in which words (notifications app).

Each function is called inside the transaction of the change, so the notifications commit or roll back with
it. The words are what every member may read in the portal: never a credential, never Rucio's raw answer.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from django.contrib.auth import get_user_model
from django.db.models import QuerySet

from notifications import notify
from notifications.choices import Kind

from . import consequences

if TYPE_CHECKING:
    from .models import StorageQoSClass


def qos_admins() -> QuerySet:
    """The active accounts that hold the QoS admins' approval permission (through their role)."""
    return (
        get_user_model()
        .objects.filter(
            is_active=True,
            groups__permissions__codename="approve_storageqosclass",
            groups__permissions__content_type__app_label="qos",
        )
        .exclude(email="")
        .distinct()
    )


def class_awaits_approval(qos_class: StorageQoSClass, *, by: Any) -> None:
    """Every QoS admin but the proposal's authors (who may not approve it) is asked to review it."""
    authors = qos_class.proposal_authors()
    notify(
        Kind.CLASS_AWAITS_APPROVAL,
        f"class:{qos_class.pk}:revision:{qos_class.revision}",
        qos_admins().exclude(pk__in=authors),
        subject=f"[QoS portal] {qos_class.label} awaits your approval",
        text=f"{by} proposed {'a change to ' if qos_class.has_pending_change else ''}the class "
        f"{qos_class.label} ({qos_class.title}). Another QoS admin than its authors must approve or reject it.",
        path=qos_class.get_absolute_url(),
        actor=by,
        chat=True,
    )


def class_decided(qos_class: StorageQoSClass, *, by: Any, authors: Iterable[int], reason: str = "") -> None:
    """The authors of a proposal hear that it was approved, or rejected and why."""
    approved = not reason
    verdict = "approved" if approved else "rejected"
    notify(
        Kind.CLASS_DECIDED,
        f"class:{qos_class.pk}:revision:{qos_class.revision}",
        get_user_model().objects.filter(pk__in=list(authors), is_active=True),
        subject=f"[QoS portal] {qos_class.label}: your proposal was {verdict}",
        text=f"{by} {verdict} the proposal for {qos_class.label}."
        + (f"\nReason: {reason}" if reason else ""),
        path=qos_class.get_absolute_url(),
        actor=by,
        chat=approved,
    )


def class_withdrawn(qos_class: StorageQoSClass, *, by: Any, reason: str = "") -> None:
    """QoS admins, and the liaisons of requirements that link the class, hear it was deprecated or retired."""
    status = qos_class.get_status_display().lower()
    notify(
        Kind.CLASS_WITHDRAWN,
        f"class:{qos_class.pk}:revision:{qos_class.revision}",
        [*qos_admins(), *consequences.audience_of_class(qos_class)],
        subject=f"[QoS portal] {qos_class.label} was {status}",
        text=f"{by} marked the class {qos_class.label} as {status}."
        + (f"\nReason: {reason}" if reason else ""),
        path=qos_class.get_absolute_url(),
        actor=by,
    )
