"""Sending the outbox: mail through Django's mail framework, chat through an incoming webhook.

A transient fault (the mail server or the webhook does not answer, a 4xx SMTP reply) leaves the notification
waiting, tried again after a wait that doubles each time (NOTIFY_RETRY_FIRST_SECONDS up to
NOTIFY_RETRY_MAX_SECONDS); a permanent one (a 5xx SMTP refusal, a webhook that answers 4xx) is recorded on it
and never retried. Each notification is taken under a row lock that other senders skip, so two workers never
send the same one.
"""

from __future__ import annotations

import contextlib
import datetime
import json
import logging
import smtplib
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.core.mail import EmailMultiAlternatives, get_connection
from django.db import transaction
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone

from .choices import Channel, Status
from .models import DIGEST_KINDS, Notification, portal_link, unsubscribe_link

logger = logging.getLogger(__name__)


class DeliveryError(Exception):
    """Sending failed; ``permanent`` when trying again cannot help (the address is refused)."""

    def __init__(self, message: str, *, permanent: bool) -> None:
        super().__init__(message)
        self.permanent = permanent


@dataclass
class SendReport:
    sent: int = 0
    delayed: int = 0
    failed: int = 0
    errors: list[str] = field(default_factory=list)


def retry_wait(attempts: int) -> datetime.timedelta:
    """The wait before the next try after ``attempts`` faults in a row."""
    first, most = settings.NOTIFY_RETRY_FIRST_SECONDS, settings.NOTIFY_RETRY_MAX_SECONDS
    return datetime.timedelta(seconds=min(most, first * 2 ** max(0, attempts - 1)))


# --- the loop ------------------------------------------------------------------------------------------------
def send_due(*, now: datetime.datetime | None = None, waited_or_not: bool = False) -> SendReport:
    """Send every notification due now (``waited_or_not``: also those still waiting after a fault)."""
    now = now or timezone.now()
    due = (
        Notification.objects.pending().filter(in_digest=False)
        if waited_or_not
        else Notification.objects.due(now)
    )
    ids = list(due.order_by("pk").values_list("pk", flat=True))
    report = SendReport()
    with _MailSession() as mail:
        for pk in ids:
            with transaction.atomic():
                row = _claim(Notification.objects.filter(pk=pk, status=Status.PENDING))
                if row is None:
                    continue
                _attempt(row, report, lambda row=row: _send_one(row, mail))
    return report


def send_digests() -> SendReport:
    """Send each person one mail with everything that waits for their digest."""
    addresses = Notification.objects.for_digest().values_list("address", flat=True).distinct()
    report = SendReport()
    with _MailSession() as mail:
        for address in sorted(set(addresses)):
            with transaction.atomic():
                rows = list(
                    Notification.objects.for_digest()
                    .filter(address=address)
                    .select_for_update(skip_locked=True)
                    .order_by("created_at", "pk")
                )
                if rows:
                    _attempt(rows, report, lambda rows=rows: mail.send(_digest_message(rows)))
    return report


def _claim(queryset: Any) -> Notification | None:
    return queryset.select_for_update(skip_locked=True).first()


def _attempt(rows: Notification | list[Notification], report: SendReport, send: Any) -> None:
    rows = rows if isinstance(rows, list) else [rows]
    now = timezone.now()
    try:
        send()
    except DeliveryError as error:
        for row in rows:
            row.attempts += 1
            row.last_error = str(error)[:2000]
            if error.permanent or row.attempts >= settings.NOTIFY_MAX_ATTEMPTS:
                row.status = Status.FAILED
                row.next_attempt_at = None
            else:
                row.next_attempt_at = now + retry_wait(row.attempts)
            row.save(update_fields=["attempts", "last_error", "status", "next_attempt_at"])
        failed = rows[0].status == Status.FAILED
        report.failed += failed * len(rows)
        report.delayed += (not failed) * len(rows)
        report.errors.append(str(error))
        # The address only: never the content, which the log's readers may not be entitled to.
        logger.warning(
            "Notification %s to %s %s: %s",
            [row.pk for row in rows],
            rows[0].address or rows[0].channel,
            "failed for good" if failed else "delayed",
            error,
        )
        return
    for row in rows:
        row.attempts += 1
        row.status, row.sent_at, row.next_attempt_at = Status.SENT, now, None
        row.save(update_fields=["attempts", "status", "sent_at", "next_attempt_at"])
    report.sent += len(rows)


def _send_one(row: Notification, mail: _MailSession) -> None:
    if row.channel == Channel.CHAT:
        post_to_chat(f"{row.subject}\n{row.link}" if row.path else row.subject)
    else:
        mail.send(_message(row))


# --- mail ------------------------------------------------------------------------------------------------------
def _message(row: Notification) -> EmailMultiAlternatives:
    unsubscribe = unsubscribe_link(row.user_id, row.address, row.kind)
    context = {"items": [row], "subject": row.subject, "unsubscribe": unsubscribe, **_common_context()}
    return _mail(row.address, row.subject, context, unsubscribe)


def _digest_message(rows: list[Notification]) -> EmailMultiAlternatives:
    first = rows[0]
    unsubscribe = unsubscribe_link(first.user_id, first.address, DIGEST_KINDS)
    subject = f"[QoS portal] Your digest: {len(rows)} update{'s' if len(rows) != 1 else ''}"
    context = {
        "items": rows,
        "subject": subject,
        "unsubscribe": unsubscribe,
        "digest": True,
        **_common_context(),
    }
    return _mail(first.address, subject, context, unsubscribe)


def _common_context() -> dict[str, str]:
    return {"portal_url": settings.PORTAL_URL, "preferences": portal_link(reverse("iam:account"))}


def _mail(address: str, subject: str, context: dict[str, Any], unsubscribe: str) -> EmailMultiAlternatives:
    message = EmailMultiAlternatives(
        subject=subject,
        body=render_to_string("notifications/mail.txt", context),
        to=[address],
        headers={
            # RFC 2369 and RFC 8058: mail clients offer "unsubscribe", which POSTs to the link.
            "List-Unsubscribe": f"<{unsubscribe}>",
            "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
            "Auto-Submitted": "auto-generated",
        },
    )
    message.attach_alternative(render_to_string("notifications/mail.html", context), "text/html")
    return message


class _MailSession:
    """One connection to the mail server for a batch, opened at the first mail."""

    def __init__(self) -> None:
        self.connection: Any = None

    def __enter__(self) -> _MailSession:
        return self

    def __exit__(self, *exc: Any) -> None:
        # The server may have gone away after the last mail: nothing is lost.
        self._drop()

    def send(self, message: EmailMultiAlternatives) -> None:
        try:
            if self.connection is None:
                self.connection = get_connection(fail_silently=False, timeout=settings.NOTIFY_TIMEOUT_SECONDS)
                self.connection.open()
            message.connection = self.connection
            message.send(fail_silently=False)
        except smtplib.SMTPRecipientsRefused as error:
            codes = [code for code, _ in error.recipients.values()]
            raise DeliveryError(
                f"refused: {error.recipients}", permanent=all(c >= 500 for c in codes)
            ) from error
        except smtplib.SMTPResponseException as error:
            self._drop()
            raise DeliveryError(
                f"{error.smtp_code} {error.smtp_error!r}", permanent=error.smtp_code >= 500
            ) from error
        except (OSError, smtplib.SMTPException) as error:
            # Refused connection, timeout, server gone: try again later, on a fresh connection.
            self._drop()
            raise DeliveryError(
                f"mail server unavailable: {error or type(error).__name__}", permanent=False
            ) from error

    def _drop(self) -> None:
        connection, self.connection = self.connection, None
        if connection is not None:
            with contextlib.suppress(OSError, smtplib.SMTPException):
                connection.close()


# --- chat -----------------------------------------------------------------------------------------------------
def post_to_chat(text: str) -> None:
    """Post ``{"text": ...}`` to CHAT_WEBHOOK_URL (Mattermost's and Rocket.Chat's incoming webhooks)."""
    url = settings.CHAT_WEBHOOK_URL
    if not url:
        raise DeliveryError("CHAT_WEBHOOK_URL is not set", permanent=True)
    request = urllib.request.Request(  # noqa: S310 - the operator's https (or test loopback) address
        url, data=json.dumps({"text": text}).encode(), headers={"Content-Type": "application/json"}
    )
    try:
        with urllib.request.urlopen(request, timeout=settings.NOTIFY_TIMEOUT_SECONDS):  # noqa: S310
            return
    except urllib.error.HTTPError as error:
        # The webhook's own address is a secret (it lets anyone post): the error names only the status.
        retry = error.code >= 500 or error.code == 429
        raise DeliveryError(f"chat webhook answered {error.code}", permanent=not retry) from None
    except (urllib.error.URLError, OSError) as error:
        raise DeliveryError(f"chat webhook unreachable ({type(error).__name__})", permanent=False) from None
