"""End to end: a real Celery worker (on a private Redis) sends the mail of a proposal after its commit, to a
real SMTP server; the sweep sends one delayed while the server was down, once."""

from __future__ import annotations

import pytest

from notifications.choices import Status
from notifications.models import Notification
from notifications.tasks import send_due_notifications
from tests.celery_worker import wait_for

pytestmark = [pytest.mark.django_db(transaction=True)]


def test_a_real_worker_sends_the_proposal_mail_after_commit(
    start_worker, mailbox, no_chat, draft_class, admin, admin2
):
    for user in (admin, admin2):
        user.email = f"{user.username}@example.org"
        user.save()
    start_worker(
        EMAIL_BACKEND="django.core.mail.backends.smtp.EmailBackend",
        EMAIL_HOST="127.0.0.1",
        EMAIL_PORT=str(mailbox.port),
        PORTAL_URL="https://qos.escape.example",
        CHAT_WEBHOOK_URL="",
    )
    mailbox.stop()
    draft_class.propose(by=admin)
    wait_for(lambda: Notification.objects.filter(attempts__gte=1).exists(), timeout=30, what="a first try")
    assert Notification.objects.get().status == Status.PENDING  # the server is down: it waits
    mailbox.start()
    Notification.objects.update(next_attempt_at=None)  # its wait is over (beat's next tick would find it)
    send_due_notifications.delay()
    wait_for(lambda: mailbox.recipients() == ["bob-admin@example.org"], timeout=30, what="the mail")
    send_due_notifications.delay()
    wait_for(lambda: Notification.objects.get().status == Status.SENT, timeout=30, what="sent")
    assert mailbox.recipients() == ["bob-admin@example.org"]
