from django.apps import AppConfig
from django.db.models.signals import post_migrate


class PortalConfig(AppConfig):
    name = "portal"
    verbose_name = "Portal"

    def ready(self) -> None:
        from . import roles

        # Permissions of models added by later migrations join their roles after every migrate. Not tied to
        # one sender: permissions of an app are only created by its own post_migrate signal.
        post_migrate.connect(roles.sync_roles_after_migrate, dispatch_uid="portal.sync_roles")
