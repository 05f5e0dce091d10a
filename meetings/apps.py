from django.apps import AppConfig
from django.db.models.signals import post_migrate


class MeetingsConfig(AppConfig):
    name = "meetings"
    verbose_name = "Stream coordination"

    def ready(self) -> None:
        # The task group's streams A, B, C, on a database that has none (a new one, or one just flushed).
        post_migrate.connect(seed_streams_after_migrate, sender=self, dispatch_uid="meetings.seed_streams")


def seed_streams_after_migrate(sender: AppConfig, **kwargs) -> None:
    from .models import seed_streams

    seed_streams(kwargs.get("apps"), kwargs.get("using", "default"))
