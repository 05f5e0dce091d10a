from django.apps import AppConfig


class IamConfig(AppConfig):
    name = "portal.iam"
    label = "iam"
    verbose_name = "IAM login"

    def ready(self) -> None:
        from common import csp

        from . import (
            checks,  # noqa: F401  (registers the system checks)
            provider,
        )
        from .api import schema  # noqa: F401  (describes bearer tokens in the OpenAPI schema)

        # Logging out through IAM is a form whose redirect leads to IAM: allow its origin in form-action.
        csp.register_form_targets(provider.form_targets)
