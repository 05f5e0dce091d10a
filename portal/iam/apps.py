from django.apps import AppConfig


class IamConfig(AppConfig):
    name = "portal.iam"
    label = "iam"
    verbose_name = "IAM login"

    def ready(self) -> None:
        from . import checks  # noqa: F401  (registers the system checks)
        from .api import schema  # noqa: F401  (describes bearer tokens in the OpenAPI schema)
