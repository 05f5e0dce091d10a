"""The ESCAPE QoS portal site: settings, URLs, roles, Celery app, streams, meetings and actions."""

from .celery import app as celery_app

__all__ = ["celery_app"]
