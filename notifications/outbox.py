"""Writing notifications: the small API every app calls inside the transaction of its change.

The app knows only people (accounts or bare addresses) and content already written by the caller: it never
asks the catalogue, the requirements or the meetings anything, so every app may use it (layers: it sits just
above ``common``).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.db import transaction

from .choices import Channel, Delivery, Kind, default_delivery
from .models import Notification, Preference


@dataclass(frozen=True)
class Recipient:
    """Someone to tell: a mail address, and the account it belongs to (None for a person without one)."""

    address: str
    user_id: int | None = None

    @classmethod
    def of_user(cls, user: Any) -> Recipient:
        return cls(address=user.email or "", user_id=user.pk)


def as_recipient(who: Any) -> Recipient:
    """An account (anything with ``get_username``) or a Recipient, as a Recipient."""
    return Recipient.of_user(who) if hasattr(who, "get_username") else who


def notify(
    kind: str,
    event_key: str,
    recipients: Iterable[Any],
    *,
    subject: str,
    text: str = "",
    path: str = "",
    actor: Any = None,
    chat: bool = False,
) -> list[Notification]:
    """Write one notification of ``event_key`` per recipient (accounts or :class:`Recipient`), by mail, each
    as the person chose for ``kind``; and one to the group's chat when ``chat`` and a webhook is configured.

    Call it inside the transaction of the change: the rows commit or roll back with it, and are sent after
    commit. ``actor`` (who made the change) is never told of it; recipients without an address are skipped.
    The same event written twice writes nothing more. ``subject`` and ``text`` must be what every member may
    read in the portal: no secrets. A constant number of queries, however many recipients.
    """
    people = _distinct(as_recipient(who) for who in recipients)
    people = [person for person in people if person.address and not _is_actor(person, actor)]
    content = {"event_key": event_key, "kind": kind, "subject": subject[:300], "text": text, "path": path}
    rows = _mail_rows(kind, people, content)
    if chat and settings.CHAT_WEBHOOK_URL:
        rows.append(Notification(**{**content, "kind": Kind.CHAT}, channel=Channel.CHAT))
    if not rows:
        return []
    Notification.objects.bulk_create(rows, ignore_conflicts=True)
    if any(not row.in_digest for row in rows):
        transaction.on_commit(_send_soon)
    return rows


def _mail_rows(kind: str, people: list[Recipient], content: dict[str, Any]) -> list[Notification]:
    """One mail per person, for now or their digest as they chose; none for those who turned ``kind`` off."""
    chosen = Preference.objects.deliveries(
        [p.user_id for p in people if p.user_id], [p.address for p in people if not p.user_id], kind
    )
    rows = []
    for person in people:
        delivery = chosen.get(person.user_id or person.address, default_delivery(kind))
        if delivery != Delivery.OFF:
            rows.append(
                Notification(
                    **content,
                    channel=Channel.MAIL,
                    address=person.address,
                    user_id=person.user_id,
                    in_digest=delivery == Delivery.DIGEST,
                )
            )
    return rows


def _distinct(people: Iterable[Recipient]) -> list[Recipient]:
    """One per address: an account and the person linked to it are the same reader."""
    seen: dict[str, Recipient] = {}
    for person in people:
        key = person.address.lower()
        if key not in seen or (person.user_id and not seen[key].user_id):
            seen[key] = person
    return list(seen.values())


def _is_actor(person: Recipient, actor: Any) -> bool:
    actor_id = getattr(actor, "pk", None)
    if actor_id is None:
        return False
    actor_address = (getattr(actor, "email", "") or "").lower()
    return person.user_id == actor_id or (bool(actor_address) and person.address.lower() == actor_address)


def _send_soon() -> None:
    from .tasks import queue_sending

    queue_sending()
