from django.apps import AppConfig
from django.db.models.signals import post_migrate


class PortalConfig(AppConfig):
    name = "portal"
    verbose_name = "Portal"

    def ready(self) -> None:
        from . import lookups, roles, table_cache

        # A text lookup with a NUL character matches nothing, instead of a DataError on PostgreSQL.
        lookups.register()
        # Every write retires what the table cache holds from its table (does nothing while TABLE_CACHE is off).
        table_cache.install()

        # Permissions of models added by later migrations join their roles after every migrate. Not tied to
        # one sender: permissions of an app are only created by its own post_migrate signal.
        post_migrate.connect(roles.sync_roles_after_migrate, dispatch_uid="portal.sync_roles")
        # The task group's streams A, B, C, on a database that has none (a new one, or one just flushed).
        post_migrate.connect(seed_streams_after_migrate, sender=self, dispatch_uid="portal.seed_streams")


def seed_streams_after_migrate(sender: AppConfig, **kwargs) -> None:
    from .models import seed_streams

    seed_streams(kwargs.get("apps"), kwargs.get("using", "default"))
