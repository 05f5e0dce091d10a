"""IAM as the portal sees it: its configuration, read from its discovery document.

mozilla-django-oidc has no discovery: it wants every endpoint as a setting. Operators give only the issuer
(``OIDC_OP_ISSUER``); the first time an endpoint is needed, ``<issuer>/.well-known/openid-configuration`` is
read and kept in Django's cache for ``OIDC_DISCOVERY_CACHE_SECONDS``. An ``OIDC_OP_*_ENDPOINT`` variable set
explicitly wins over what discovery says. ``manage.py iam_discover`` reads it at once (and shows the result).

The portal's subclasses of the library's classes read their settings through :func:`setting`, so the
library itself needs no endpoint in ``settings.py``.
"""

from __future__ import annotations

import hashlib
import logging
from typing import Any

import requests
from django.conf import settings
from django.core.cache import cache
from django.core.exceptions import ImproperlyConfigured
from mozilla_django_oidc.utils import import_from_settings

logger = logging.getLogger(__name__)

# mozilla-django-oidc's setting → the key of the discovery document (OpenID Connect Discovery 1.0, §3).
DISCOVERED = {
    "OIDC_OP_AUTHORIZATION_ENDPOINT": "authorization_endpoint",
    "OIDC_OP_TOKEN_ENDPOINT": "token_endpoint",
    "OIDC_OP_USER_ENDPOINT": "userinfo_endpoint",
    "OIDC_OP_JWKS_ENDPOINT": "jwks_uri",
    "OIDC_OP_LOGOUT_ENDPOINT": "end_session_endpoint",
}
# Without these the login cannot work; the logout endpoint is optional.
REQUIRED = ("authorization_endpoint", "token_endpoint", "userinfo_endpoint", "jwks_uri")


class ProviderUnavailable(Exception):
    """IAM could not be asked (down, unreachable, or its discovery document is unusable)."""


def is_configured() -> bool:
    """True when IAM login is switched on: an issuer and a client ID are set."""
    return bool(getattr(settings, "OIDC_OP_ISSUER", "") and getattr(settings, "OIDC_RP_CLIENT_ID", ""))


def issuer() -> str:
    return settings.OIDC_OP_ISSUER


def same_issuer(a: str, b: str) -> bool:
    # IAM's issuer ends with a slash (https://iam-escape.cloud.cnaf.infn.it/); operators often leave it out.
    return a.rstrip("/") == b.rstrip("/")


def api_audiences() -> list[str]:
    """The audiences a bearer token must name (one of): ``OIDC_API_AUDIENCES``, else the portal's client ID
    and its public URL (the origins of ``CSRF_TRUSTED_ORIGINS``, e.g. ``https://qos.escape.example``)."""
    explicit = getattr(settings, "OIDC_API_AUDIENCES", None) or []
    if isinstance(explicit, str):
        explicit = explicit.split(",")
    audiences = [str(value).strip() for value in explicit]
    if not any(audiences):
        # A wildcard origin (https://*.example.org) is no audience anyone can ask IAM for.
        origins = [origin for origin in getattr(settings, "CSRF_TRUSTED_ORIGINS", []) if "*" not in origin]
        audiences = [getattr(settings, "OIDC_RP_CLIENT_ID", ""), *origins]
    return list(dict.fromkeys(value for value in audiences if value))


def names_audience(aud: Any, audiences: list[str]) -> bool:
    """True when a token's ``aud`` (a string or a list, RFC 7519 §4.1.3) names one of ``audiences``.

    A URL matches with or without its trailing slash: people ask IAM for both spellings of the portal's.
    """
    named = [aud] if isinstance(aud, str) else aud if isinstance(aud, list) else []
    wanted = {value.rstrip("/") for value in audiences}
    return any(isinstance(value, str) and value.rstrip("/") in wanted for value in named)


def introspection_endpoint() -> str:
    """IAM's token introspection endpoint (RFC 7662) from discovery; "" when it offers none."""
    return str(metadata().get("introspection_endpoint") or "")


def discovery_url(issuer_url: str | None = None) -> str:
    return f"{(issuer_url or issuer()).rstrip('/')}/.well-known/openid-configuration"


def _cache_key(issuer_url: str) -> str:
    return "iam:discovery:" + hashlib.sha256(issuer_url.encode()).hexdigest()[:32]


def metadata(refresh: bool = False) -> dict[str, Any]:
    """IAM's discovery document (cached). Raises ProviderUnavailable with the reason if it cannot be read."""
    issuer_url = issuer()
    if not issuer_url:
        raise ImproperlyConfigured("OIDC_OP_ISSUER is not set: IAM login is not configured.")
    key = _cache_key(issuer_url)
    if not refresh:
        cached = cache.get(key)
        if cached is not None:
            return cached
    url = discovery_url(issuer_url)
    try:
        response = requests.get(
            url,
            timeout=import_from_settings("OIDC_TIMEOUT", 10),
            verify=import_from_settings("OIDC_VERIFY_SSL", True),
            headers={"Accept": "application/json"},
        )
        response.raise_for_status()
        document = response.json()
    except requests.RequestException as error:
        raise ProviderUnavailable(f"IAM's discovery document {url} could not be read: {error}") from error
    except ValueError:
        raise ProviderUnavailable(f"IAM's discovery document {url} is not JSON.") from None
    if not isinstance(document, dict):
        raise ProviderUnavailable(f"IAM's discovery document {url} is not a JSON object.")
    # OpenID Connect Discovery §4.3: the issuer in the document must be the one it was fetched for, or a
    # look-alike provider could hand out another provider's endpoints.
    if not same_issuer(str(document.get("issuer", "")), issuer_url):
        raise ProviderUnavailable(
            f"IAM's discovery document names the issuer {document.get('issuer')!r}, not {issuer_url!r} "
            "(OIDC_OP_ISSUER): check the variable."
        )
    missing = [name for name in REQUIRED if not document.get(name)]
    if missing:
        raise ProviderUnavailable(f"IAM's discovery document {url} lacks {', '.join(missing)}.")
    cache.set(key, document, import_from_settings("OIDC_DISCOVERY_CACHE_SECONDS", 3600))
    logger.info("Read IAM's discovery document from %s", url)
    return document


def forget_metadata() -> None:
    if issuer():
        cache.delete(_cache_key(issuer()))


def endpoint(name: str) -> str:
    """The endpoint for a mozilla-django-oidc setting name: the explicit setting, else the discovered one.

    Returns "" for an optional endpoint IAM does not offer (the logout endpoint).
    """
    explicit = getattr(settings, name, "")
    if explicit:
        return explicit
    return str(metadata().get(DISCOVERED[name]) or "")


def endpoints() -> dict[str, tuple[str, str]]:
    """Every endpoint setting with its value and where it came from ("environment" or "discovery")."""
    found = {}
    for name in DISCOVERED:
        explicit = getattr(settings, name, "")
        found[name] = (explicit, "environment") if explicit else (endpoint(name), "discovery")
    return found


def setting(name: str, *default: Any) -> Any:
    """mozilla-django-oidc's ``get_settings``, with the endpoints filled in from discovery."""
    if name in DISCOVERED:
        value = endpoint(name)
        if value:
            return value
        if default:
            return default[0]
        raise ImproperlyConfigured(f"IAM offers no {DISCOVERED[name]} and {name} is not set.")
    return import_from_settings(name, *default)


def form_targets() -> list[str]:
    """The origins IAM's logout may redirect a form submission to: the issuer's, and an explicitly set
    end_session endpoint's (never the discovery document's: asking IAM for every response is out of question,
    and IAM serves end_session from its issuer). Registered with the CSP middleware (common/csp.py)."""
    from common.csp import origin

    if not is_configured():
        return []
    urls = [settings.OIDC_OP_ISSUER, getattr(settings, "OIDC_OP_LOGOUT_ENDPOINT", "")]
    return sorted({found for url in urls if url and (found := origin(url))})
