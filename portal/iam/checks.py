"""System checks of the IAM settings: mistakes show at start-up (``manage.py check``), not at first login."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.checks import Error, Tags, Warning, register
from django.core.exceptions import ImproperlyConfigured

from .claims import GroupRoleMapping


@register(Tags.security)
def check_iam_settings(app_configs: Any = None, **kwargs: Any) -> list:
    problems = []
    issuer = settings.OIDC_OP_ISSUER
    client_id = settings.OIDC_RP_CLIENT_ID
    if bool(issuer) != bool(client_id):
        problems.append(
            Error(
                "IAM login is half configured: set both OIDC_OP_ISSUER and OIDC_RP_CLIENT_ID, or neither.",
                id="iam.E001",
            )
        )
    if issuer and client_id and not settings.OIDC_RP_CLIENT_SECRET:
        problems.append(
            Error("OIDC_RP_CLIENT_SECRET (or OIDC_RP_CLIENT_SECRET_FILE) is not set.", id="iam.E002")
        )
    if not settings.LOCAL_LOGIN_ENABLED and not (issuer and client_id):
        problems.append(
            Error(
                "Nobody can log in: LOCAL_LOGIN_ENABLED is off and IAM is not configured.",
                hint="Set OIDC_OP_ISSUER and OIDC_RP_CLIENT_ID, or LOCAL_LOGIN_ENABLED=1.",
                id="iam.E003",
            )
        )
    try:
        GroupRoleMapping.from_settings()
    except ImproperlyConfigured as error:
        problems.append(Error(str(error), id="iam.E004"))
    problems += _check_api_audiences()
    if issuer and not settings.DEBUG and not issuer.startswith("https://"):
        problems.append(
            Warning("OIDC_OP_ISSUER is not an https:// URL: tokens would travel in clear.", id="iam.W001")
        )
    if issuer and client_id and not settings.OIDC_ENTITLEMENT_NAMESPACE:
        problems.append(
            Warning(
                "OIDC_ENTITLEMENT_NAMESPACE is not set: eduperson_entitlement claims (IAM's AARC profile) are "
                "ignored, and only groups and wlcg.groups give roles.",
                hint="To use entitlements, set OIDC_ENTITLEMENT_NAMESPACE to the URN namespace of the portal's "
                "IAM, e.g. urn:geant:escape.eu; entitlements of any other namespace will still be ignored.",
                id="iam.W002",
            )
        )
    return problems


# The WLCG token profile's audience for "any service": a token asked with it is meant for every service.
WLCG_ANY_AUDIENCE = "https://wlcg.cern.ch/jwt/v1/any"


def _check_api_audiences() -> list:
    audiences = getattr(settings, "OIDC_API_AUDIENCES", None) or []
    if isinstance(audiences, str):
        audiences = audiences.split(",")
    problems = []
    unusable = [value for value in audiences if "*" in value or any(c.isspace() for c in value.strip())]
    if unusable:
        problems.append(
            Error(
                f"OIDC_API_AUDIENCES holds {', '.join(repr(value) for value in unusable)}: audiences are compared "
                "exactly (no wildcards), and IAM separates the audiences of a token request by spaces.",
                hint="List each audience in full, comma-separated, e.g. "
                "OIDC_API_AUDIENCES=qos-portal,https://qos.escape.example",
                id="iam.E005",
            )
        )
    if any(value.strip().rstrip("/") == WLCG_ANY_AUDIENCE for value in audiences):
        problems.append(
            Warning(
                f"OIDC_API_AUDIENCES accepts {WLCG_ANY_AUDIENCE}: a token meant for any service, stolen from any "
                "of them, then works on the portal's API too.",
                id="iam.W003",
            )
        )
    return problems
