"""Read IAM's discovery document now, keep it in the cache, and show which endpoint comes from where."""

from typing import Any

from django.core.management.base import BaseCommand, CommandError

from ... import provider


class Command(BaseCommand):
    help = "Read IAM's /.well-known/openid-configuration (OIDC_OP_ISSUER) and show the endpoints the portal uses."

    def handle(self, *args: Any, **options: Any) -> None:
        if not provider.is_configured():
            raise CommandError("IAM login is not configured: set OIDC_OP_ISSUER and OIDC_RP_CLIENT_ID.")
        try:
            provider.metadata(refresh=True)
            endpoints = provider.endpoints()
        except provider.ProviderUnavailable as error:
            raise CommandError(str(error)) from None
        self.stdout.write(f"Issuer {provider.issuer()} ({provider.discovery_url()})")
        for name, (value, source) in endpoints.items():
            self.stdout.write(f"  {name:<32} {value or '(none)'}  [{source}]")
