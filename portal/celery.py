"""The Celery app: configured from Django settings (``CELERY_*``), tasks discovered in every app's tasks.py."""

import logging
import os

from celery import Celery
from celery.worker.consumer import Consumer as CeleryConsumer

# Connects Celery's signals: workers log like the web (LOG_FORMAT), and a task queued during a request logs
# under that request's id.
from common import logs  # noqa: F401

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")

logger = logging.getLogger(__name__)


class Consumer(CeleryConsumer):
    """Celery's consumer of the broker, which survives losing Redis while it holds unacknowledged messages.

    When the broker connection breaks, Celery 5.7.0 collects the connection and then closes it. With Redis,
    closing gives back the messages the worker holds (a task running with acks_late, a retry waiting out its
    countdown) through a transport that collecting has already detached: AttributeError ("'NoneType' object has
    no attribute 'hostname'"), which Celery takes for unrecoverable, and the worker exits instead of
    reconnecting (tests/qos/test_fault_drills.py, the Redis drill, shows it). Nothing is lost by going on: Redis
    keeps what was not acknowledged and hands it out again after its visibility timeout, and the sweeper
    re-sends any push meanwhile.
    """

    def on_connection_error_after_connected(self, exc: Exception) -> None:
        try:
            super().on_connection_error_after_connected(exc)
        except AttributeError as error:
            logger.warning(
                "Broker connection lost while holding unacknowledged messages (%s); reconnecting.", error
            )


app = Celery("portal")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.conf.worker_consumer = "portal.celery:Consumer"
app.autodiscover_tasks()
