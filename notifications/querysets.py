"""Querysets of the notifications app: what is due, and each person's choices."""

from __future__ import annotations

import datetime
from collections.abc import Iterable
from typing import Any

from django.db import models, transaction
from django.db.models import Q
from django.utils import timezone

from .choices import PERSONAL_KINDS, Channel, Delivery, Status, default_delivery


class NotificationQuerySet(models.QuerySet):
    def pending(self) -> NotificationQuerySet:
        return self.filter(status=Status.PENDING)

    def due(self, now: datetime.datetime | None = None) -> NotificationQuerySet:
        """What should be sent now: waiting, not for a digest, and past any wait after a fault."""
        now = now or timezone.now()
        return (
            self.pending()
            .filter(in_digest=False)
            .filter(Q(next_attempt_at__isnull=True) | Q(next_attempt_at__lte=now))
        )

    def for_digest(self) -> NotificationQuerySet:
        return self.pending().filter(in_digest=True, channel=Channel.MAIL)

    def failed(self) -> NotificationQuerySet:
        return self.filter(status=Status.FAILED)


class PreferenceQuerySet(models.QuerySet):
    def deliveries(self, user_ids: Iterable[int], addresses: Iterable[str], kind: str) -> dict[Any, str]:
        """Each chosen delivery of ``kind``, by user id and by address (for people without an account), in one
        query."""
        rows = self.filter(kind=kind).filter(
            Q(user_id__in=list(user_ids)) | Q(user__isnull=True, address__in=list(addresses))
        )
        return {row.user_id or row.address: row.delivery for row in rows}

    def of_user(self, user: Any) -> dict[str, str]:
        """Every personal kind with the user's delivery (their choice, else the kind's default)."""
        chosen = dict(self.filter(user=user).values_list("kind", "delivery"))
        return {kind.value: chosen.get(kind.value, default_delivery(kind)) for kind in PERSONAL_KINDS}

    def choose(self, *, kind: str, delivery: str, user: Any = None, address: str = "") -> None:
        """Set the delivery of ``kind`` for an account or, without one, for an address."""
        if delivery not in Delivery.values:
            raise ValueError(f"{delivery!r} is not a delivery")
        key = {"user": user} if user is not None else {"user": None, "address": address}
        with transaction.atomic():
            self.update_or_create(kind=kind, **key, defaults={"delivery": delivery})

    def unsubscribe(self, *, user_id: int | None, address: str, kind: str) -> None:
        """Turn ``kind`` off for one person; ``"digest"``: every kind they now receive in the digest."""
        from .models import DIGEST_KINDS

        user = self.model.user.field.related_model.objects.filter(pk=user_id).first() if user_id else None
        if user_id and user is None:
            return  # the account is gone: nothing is sent to it any more
        if kind != DIGEST_KINDS:
            self.choose(kind=kind, delivery=Delivery.OFF, user=user, address=address)
            return
        chosen = self.of_user(user) if user else self._of_address(address)
        with transaction.atomic():
            for each, delivery in chosen.items():
                if delivery == Delivery.DIGEST:
                    self.choose(kind=each, delivery=Delivery.OFF, user=user, address=address)

    def _of_address(self, address: str) -> dict[str, str]:
        chosen = dict(self.filter(user__isnull=True, address=address).values_list("kind", "delivery"))
        return {kind.value: chosen.get(kind.value, default_delivery(kind)) for kind in PERSONAL_KINDS}

    def choose_many(self, user: Any, choices: dict[str, str]) -> None:
        with transaction.atomic():
            for kind, delivery in choices.items():
                self.choose(kind=kind, delivery=delivery, user=user)
