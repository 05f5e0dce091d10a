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
    import datetime

    from .models import RSE, Push, StorageQoSClass


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
        subject=f"[QoS portal] {qos_class.label}: the proposal was {verdict}",
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


def push_failed(push: Push, error: str) -> None:
    """The QoS admins hear that Rucio refused a push for good (the chat too, without Rucio's words)."""
    rse = push.rse
    notify(
        Kind.PUSH_FAILED,
        f"push:{push.pk}:failed",
        qos_admins(),
        subject=f"[QoS portal] Push to {rse.name} failed: {push.key}={push.value or '(removed)'}",
        text=f"Rucio refused it for good: {error}",
        path=rse.get_absolute_url(),
        chat=True,
    )


def rses_drifted(rses: list[RSE], *, at: datetime.datetime) -> None:
    """The QoS admins hear of the RSEs a sync found drifted (Rucio holds another value than the portal's)."""
    listed = "\n".join(
        f"{rse.name}: Rucio has {rse.rucio_value or 'nothing'}, the portal wants "
        f"{rse.desired_value or 'nothing'}"
        for rse in rses
    )
    notify(
        Kind.RSE_DRIFTED,
        f"drift:{at.isoformat()}:{rses[0].pk}",
        qos_admins(),
        subject=f"[QoS portal] {len(rses)} RSE{'s' if len(rses) != 1 else ''} drifted from the catalogue",
        text=listed,
        path=rses[0].get_absolute_url() if len(rses) == 1 else "/qos/rses/?sync_state=drifted",
    )


def rse_not_conforming(rse: RSE, *, probe_key: str, finding: str) -> None:
    """The hook for the conformance probes: an RSE no longer delivers its class (``probe_key`` names the
    verdict confirmed, so one change of verdict tells once). Called by ``Conformance.objects.judge``."""
    notify(
        Kind.RSE_NOT_CONFORMING,
        f"conformance:{rse.pk}:{probe_key}",
        qos_admins(),
        subject=f"[QoS portal] {rse.name} no longer conforms to {rse.desired_value or 'its class'}",
        text=finding,
        path=rse.get_absolute_url(),
    )
