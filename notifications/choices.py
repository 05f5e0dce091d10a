"""The kinds of notification, how each reaches a person, and the state of one in the outbox."""

from __future__ import annotations

from django.db import models


class Kind(models.TextChoices):
    """What happened, in the words of the person told. A person chooses per kind how they hear of it.

    ``RSE_NOT_CONFORMING`` is the hook for the conformance probes (not built here): a probe that finds an RSE
    no longer delivering its class calls ``notifications.notify(Kind.RSE_NOT_CONFORMING, ...)`` with the QoS
    admins as recipients, as ``qos.notices.rse_drifted`` does for a drift.
    """

    CLASS_AWAITS_APPROVAL = "class_awaits_approval", "A class proposal awaits my approval"
    CLASS_DECIDED = "class_decided", "My class proposal was approved or rejected"
    CLASS_WITHDRAWN = "class_withdrawn", "A class was deprecated or retired"
    REQUIREMENT_TO_REVIEW = "requirement_to_review", "A requirement was filed (to review)"
    REQUIREMENT_CHANGED = "requirement_changed", "A requirement was reviewed, accepted, rejected or satisfied"
    REQUIREMENT_COMMENTED = "requirement_commented", "A requirement was commented on"
    ACTION_ASSIGNED = "action_assigned", "An action was raised or assigned to me"
    ACTION_REMINDER = "action_reminder", "My open actions, the day before a meeting"
    ACTION_OVERDUE = "action_overdue", "An action of mine is overdue"
    MINUTES_SAVED = "minutes_saved", "Minutes of a meeting I attended were written"
    PUSH_FAILED = "push_failed", "A push to Rucio failed for good"
    RSE_DRIFTED = "rse_drifted", "An RSE drifted from the catalogue"
    COVERAGE_SHORT = "coverage_short", "An accepted requirement fell short of RSEs"
    RSE_NOT_CONFORMING = "rse_not_conforming", "An RSE stopped conforming to its class"
    # Never chosen by a person: the group's chat channel.
    CHAT = "chat", "Group chat"


class Delivery(models.TextChoices):
    """How a person hears of one kind of notification."""

    IMMEDIATELY = "immediately", "Immediately"
    DIGEST = "digest", "In a daily digest"
    OFF = "off", "Off"


# What asks the person to act comes at once; the rest waits for the day's digest (issue 15).
DEFAULT_DELIVERY: dict[str, str] = {
    Kind.CLASS_AWAITS_APPROVAL: Delivery.IMMEDIATELY,
    Kind.REQUIREMENT_TO_REVIEW: Delivery.IMMEDIATELY,
    Kind.ACTION_ASSIGNED: Delivery.IMMEDIATELY,
    Kind.ACTION_REMINDER: Delivery.IMMEDIATELY,
    Kind.ACTION_OVERDUE: Delivery.IMMEDIATELY,
}

# The kinds a person may choose for (the chat channel is the group's, not a person's).
PERSONAL_KINDS = [kind for kind in Kind if kind != Kind.CHAT]


def default_delivery(kind: str) -> str:
    return DEFAULT_DELIVERY.get(kind, Delivery.DIGEST)


class Channel(models.TextChoices):
    MAIL = "mail", "E-mail"
    CHAT = "chat", "Chat"


class Status(models.TextChoices):
    """A notification waits (``pending``), is sent once (``sent``), or failed for good (``failed``: refused
    by the mail server, a bounce, or too many tries; the reason is kept)."""

    PENDING = "pending", "Waiting"
    SENT = "sent", "Sent"
    FAILED = "failed", "Failed"
