"""The outbox of notifications and each person's choice of how they hear of each kind."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core import signing
from django.db import models
from django.db.models import Q

from .choices import Channel, Delivery, Kind, Status
from .querysets import NotificationQuerySet, PreferenceQuerySet

UNSUBSCRIBE_SALT = "notifications.unsubscribe"
# The token of a digest's unsubscribe link: every kind the person receives in the digest.
DIGEST_KINDS = "digest"


class Notification(models.Model):
    """One message to one recipient on one channel about one event: written in the transaction of the change
    that caused it (an outbox, as pushes are) and sent after it commits.

    ``event_key`` names the event (``class:12:revision:5``); with the channel and address it is unique, so a
    notification is never written, and so never sent, twice. A transient fault (the mail server is down)
    delays it (``next_attempt_at``); a permanent one (the address is refused) is recorded and not retried.
    """

    event_key = models.CharField(max_length=200)
    kind = models.CharField(max_length=32, choices=Kind.choices)
    channel = models.CharField(max_length=8, choices=Channel.choices, default=Channel.MAIL)
    # The mail address (blank for the chat channel), and the account it belongs to, if any.
    address = models.EmailField(max_length=254, blank=True)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    subject = models.CharField(max_length=300)
    text = models.TextField(blank=True, help_text="Plain text, as any member could read it in the portal.")
    path = models.CharField(max_length=500, blank=True, help_text="The page it is about, below PORTAL_URL.")
    in_digest = models.BooleanField(default=False, help_text="Waits for the recipient's daily digest.")
    status = models.CharField(max_length=8, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveSmallIntegerField(default=0)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    sent_at = models.DateTimeField(null=True, blank=True)

    objects = NotificationQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-pk"]
        constraints = [
            models.UniqueConstraint(
                fields=["event_key", "channel", "address"], name="notifications_once_per_event_recipient"
            ),
        ]
        indexes = [
            models.Index(
                fields=["next_attempt_at"], name="notifications_due", condition=Q(status=Status.PENDING)
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} to {self.address or self.get_channel_display()}: {self.subject}"

    @property
    def link(self) -> str:
        return portal_link(self.path)

    def unsubscribe_link(self) -> str:
        return unsubscribe_link(self.user_id, self.address, self.kind)


class Preference(models.Model):
    """How one person hears of one kind of notification: immediately, in a daily digest, or not at all.

    A person without an account (an action owner) is known by their address; an account by itself. Without a
    row the default of the kind applies (``choices.DEFAULT_DELIVERY``).
    """

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    address = models.EmailField(max_length=254, blank=True)
    kind = models.CharField(max_length=32, choices=Kind.choices)
    delivery = models.CharField(max_length=16, choices=Delivery.choices)
    updated_at = models.DateTimeField(auto_now=True)

    objects = PreferenceQuerySet.as_manager()

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["user", "kind"],
                name="notifications_preference_user_kind",
                condition=Q(user__isnull=False),
            ),
            models.UniqueConstraint(
                fields=["address", "kind"],
                name="notifications_preference_address_kind",
                condition=Q(user__isnull=True),
            ),
            models.CheckConstraint(
                condition=Q(user__isnull=False) | ~Q(address=""), name="notifications_preference_has_someone"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.user or self.address}: {self.get_kind_display()} {self.get_delivery_display()}"


def portal_link(path: str) -> str:
    """An absolute address of a page of the portal, from its public base address (PORTAL_URL)."""
    return settings.PORTAL_URL.rstrip("/") + "/" + path.lstrip("/") if path else settings.PORTAL_URL


def unsubscribe_token(user_id: int | None, address: str, kind: str) -> str:
    """A signed token that turns one kind (or the digest) off for one person, without a login."""
    return signing.dumps({"u": user_id, "a": address, "k": kind}, salt=UNSUBSCRIBE_SALT, compress=True)


def unsubscribe_link(user_id: int | None, address: str, kind: str) -> str:
    from django.urls import reverse

    return portal_link(reverse("notifications:unsubscribe", args=[unsubscribe_token(user_id, address, kind)]))


def read_unsubscribe_token(token: str) -> dict[str, Any] | None:
    """What a token turns off, or None when it was not made by this portal (or was changed)."""
    try:
        data = signing.loads(token, salt=UNSUBSCRIBE_SALT)
    except signing.BadSignature:
        return None
    if not isinstance(data, dict) or not {"u", "a", "k"} <= data.keys():
        return None
    return data
