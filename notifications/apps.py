from django.apps import AppConfig


class NotificationsConfig(AppConfig):
    """Notifications by mail and chat, written to an outbox by every app and sent by Celery."""

    name = "notifications"
    verbose_name = "Notifications"
