"""The Celery app: configured from Django settings (``CELERY_*``), tasks discovered in every app's tasks.py."""

import os

from celery import Celery

# Connects Celery's signals: workers log like the web (LOG_FORMAT), and a task queued during a request logs
# under that request's id.
from . import logs  # noqa: F401

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")

app = Celery("portal")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
