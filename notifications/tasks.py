"""Celery entry points of the notifications app: send what is due, the daily digests, and the reminders."""

from __future__ import annotations

import logging

from celery import shared_task
from django.core.cache import cache

from . import delivery

logger = logging.getLogger(__name__)


@shared_task(ignore_result=True, acks_late=True)
def send_due_notifications() -> int:
    """Send every notification due now. Runs after each change that wrote some, and from beat every
    NOTIFY_SWEEP_INTERVAL_SECONDS, which is how one delayed by a fault is tried again after its wait."""
    report = delivery.send_due()
    if report.sent or report.delayed or report.failed:
        logger.info(
            "Notifications: %s sent, %s delayed, %s failed for good",
            report.sent,
            report.delayed,
            report.failed,
        )
    return report.sent


@shared_task(ignore_result=True)
def send_digests() -> int:
    """Each person's daily digest (beat, once a day at NOTIFY_DIGEST_HOUR UTC)."""
    # One run at a time, even if beat runs twice by mistake: row locks already keep a mail from going twice.
    if not cache.add("notifications:digests", "1", timeout=600):
        return 0
    try:
        return delivery.send_digests().sent
    finally:
        cache.delete("notifications:digests")


def queue_sending() -> None:
    """Queue the sending task after a commit. A broker that is down must not break the committed change: beat
    sends the notifications at its next tick (and ``manage.py send_notifications`` at once)."""
    try:
        send_due_notifications.apply_async(
            retry=True, retry_policy={"max_retries": 2, "interval_start": 0.2, "interval_step": 0.5}
        )
    except Exception as error:
        logger.warning(
            "Could not queue the sending of notifications (%s); beat will send them.", type(error).__name__
        )
