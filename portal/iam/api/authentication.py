"""IAM access tokens as ``Authorization: Bearer`` for the API: only tokens meant for the portal, briefly cached.

A JWT access token (what IAM issues) is checked against IAM's JWKS (signature, issuer, expiry); an opaque one
is asked about at IAM's introspection endpoint (RFC 7662), which must say it is active. Either way the token
must name one of the portal's audiences (``OIDC_API_AUDIENCES``, as the WLCG token profile asks of resource
servers): a token IAM issued for another service is refused, even though IAM's userinfo would accept it.
IAM's userinfo then says who it is and in which groups; that answer is cached per token.
"""

from __future__ import annotations

import hashlib
import logging
import re
import time
from typing import Any

import jwt
import requests
from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.cache import cache
from django.core.exceptions import SuspiciousOperation
from mozilla_django_oidc.contrib.drf import OIDCAuthentication
from mozilla_django_oidc.utils import import_from_settings, parse_www_authenticate_header
from requests.auth import HTTPBasicAuth
from rest_framework import exceptions, status
from rest_framework.request import Request

from common.api.authentication import session_challenge

from .. import provider
from ..backends import IamBackend
from ..models import LoginRefused

logger = logging.getLogger(__name__)

# Where authenticate() leaves the reason of a refusal for authenticate_header(): DRF asks a new instance.
REFUSAL = "_iam_bearer_refusal"


class IamUnavailable(exceptions.APIException):
    status_code = status.HTTP_503_SERVICE_UNAVAILABLE
    default_detail = "The token could not be checked: IAM did not answer. Try again shortly."
    default_code = "iam_unavailable"


def cache_key(token: str) -> str:
    # The hash, never the token: cache keys end up in Redis listings and logs.
    return "iam:bearer:" + hashlib.sha256(token.encode()).hexdigest()


def unverified_claims(token: str) -> dict[str, Any] | None:
    """The claims of a JWT access token (IAM's are JWTs), unchecked; None for an opaque token.

    Used only to refuse early (expired, another issuer) without asking IAM anything; never to accept a token.
    """
    try:
        claims = jwt.decode(token, options={"verify_signature": False})
    except jwt.InvalidTokenError:
        return None
    return claims if isinstance(claims, dict) else None


def cache_seconds(expires: Any, now: float | None = None) -> int:
    """How long IAM's answer for a token may be reused: ``OIDC_BEARER_CACHE_SECONDS``, and never beyond the
    token's own expiry ``expires`` (its ``exp``, from the JWT or from introspection) when it has one."""
    seconds = int(settings.OIDC_BEARER_CACHE_SECONDS)
    if isinstance(expires, int | float) and not isinstance(expires, bool):
        seconds = min(seconds, int(expires - (now if now is not None else time.time())))
    return max(seconds, 0)


def challenge(realm: str, reason: str | None = None) -> str:
    """A ``WWW-Authenticate`` value; with ``reason``, RFC 6750's ``invalid_token`` error and its description."""
    value = f'Bearer realm="{realm}"'
    if reason:
        # RFC 6750 §3: the description may hold printable ASCII but no quote or backslash.
        description = re.sub(r'[^\x20-\x7e]|["\\]', "'", reason)
        value += f', error="invalid_token", error_description="{description}"'
    return value


class BearerTokenAuthentication(OIDCAuthentication):
    """mozilla-django-oidc's DRF authentication, with tokens checked for the portal and clear refusals.

    The library only asks IAM's userinfo, which answers for any token IAM issued, whoever it was meant for.
    Here a token must first prove it is meant for the portal (see the module's docstring); then IAM's
    userinfo answer (the user it maps to, roles synced from its groups) is cached for :func:`cache_seconds`,
    so that scripts do not hammer IAM. A bad, expired or foreign token gets 401 with the reason (in the body
    and in ``WWW-Authenticate``); a good token of someone with no role here gets 403.
    """

    www_authenticate_realm = "escape-qos-portal"

    def __init__(self, backend: IamBackend | None = None) -> None:
        # Built for every request: no settings are read and IAM is not asked until a token comes.
        self._backend = backend

    @property
    def backend(self) -> IamBackend:
        if self._backend is None:
            self._backend = IamBackend()
        return self._backend

    def authenticate(self, request: Request) -> tuple[Any, str] | None:
        token = self.get_access_token(request)
        if not token:
            return None
        if not provider.is_configured():
            raise exceptions.AuthenticationFailed(
                "This portal does not accept bearer tokens: IAM login is off."
            )
        try:
            return self._authenticate(token)
        except exceptions.AuthenticationFailed as refusal:
            setattr(request, REFUSAL, str(refusal.detail))
            raise

    def _authenticate(self, token: str) -> tuple[Any, str]:
        self._refuse_early(token)
        key = cache_key(token)
        user_id = cache.get(key)
        if user_id is not None:
            user = get_user_model().objects.filter(pk=user_id, is_active=True).first()
            if user is not None:
                return user, token
        try:
            claims = self._claims_for_the_portal(token)
            subject = claims.get("sub")
            user = self.backend.get_or_create_user(token, None, {"sub": subject} if subject else None)
        except LoginRefused as refusal:
            raise exceptions.PermissionDenied(refusal.reason) from None
        except SuspiciousOperation as error:
            logger.info("Bearer token refused: %s", error)
            raise exceptions.AuthenticationFailed(str(error)) from None
        except provider.ProviderUnavailable as error:
            logger.warning("Bearer token not checked: %s", error)
            raise IamUnavailable() from None
        except requests.HTTPError as error:
            raise self._refusal_of(error.response) from None
        except requests.RequestException as error:
            logger.warning("IAM cannot be reached to check a bearer token: %s", type(error).__name__)
            raise IamUnavailable() from None
        if not user.is_active:
            raise exceptions.AuthenticationFailed("This account is disabled on the portal.")
        seconds = cache_seconds(claims.get("exp"))
        if seconds > 0:
            cache.set(key, user.pk, seconds)
        return user, token

    def _claims_for_the_portal(self, token: str) -> dict[str, Any]:
        """The token's checked claims (the JWT's, or IAM's introspection answer), if it is meant for the
        portal; SuspiciousOperation with the reason otherwise."""
        # A JWS has three parts (header.payload.signature); anything else is opaque to the portal.
        is_jwt = token.count(".") == 2
        claims = self.backend.verify_access_token(token) if is_jwt else self._introspect(token)
        audiences = provider.api_audiences()
        aud = claims.get("aud")
        if not aud:
            raise SuspiciousOperation(
                f"The bearer token names no audience: ask IAM for a token with the audience {audiences[0]}."
            )
        if not provider.names_audience(aud, audiences):
            named = aud if isinstance(aud, str) else ", ".join(str(value) for value in aud)
            raise SuspiciousOperation(
                f"The bearer token is meant for {named}, not for this portal ({', '.join(audiences)})."
            )
        return claims

    def _introspect(self, token: str) -> dict[str, Any]:
        """IAM's introspection answer (RFC 7662) about an opaque token, asked as the portal's client."""
        endpoint = provider.introspection_endpoint()
        if not endpoint:
            raise SuspiciousOperation(
                "The bearer token is opaque and IAM offers no introspection to check it: "
                "use a JWT access token."
            )
        data = {"token": token, "token_type_hint": "access_token"}
        client_id, secret = self.backend.OIDC_RP_CLIENT_ID, self.backend.OIDC_RP_CLIENT_SECRET
        auth = None
        if import_from_settings("OIDC_TOKEN_USE_BASIC_AUTH", False):
            auth = HTTPBasicAuth(client_id, secret)
        else:
            data.update(client_id=client_id, client_secret=secret)
        response = requests.post(
            endpoint,
            data=data,
            auth=auth,
            headers={"Accept": "application/json"},
            timeout=import_from_settings("OIDC_TIMEOUT", 10),
            verify=import_from_settings("OIDC_VERIFY_SSL", True),
        )
        if response.status_code == 400:
            raise SuspiciousOperation(
                f"IAM cannot introspect the bearer token (HTTP {response.status_code})."
            )
        if not response.ok:
            # About the portal's own client (its credentials, its right to introspect), not the token.
            raise provider.ProviderUnavailable(
                f"IAM's introspection endpoint answered HTTP {response.status_code}: check OIDC_RP_CLIENT_ID "
                "and OIDC_RP_CLIENT_SECRET, and that IAM lets this client introspect tokens."
            )
        try:
            claims = response.json()
        except ValueError:
            raise provider.ProviderUnavailable("IAM's introspection answer is not JSON.") from None
        if not isinstance(claims, dict) or claims.get("active") is not True:
            raise SuspiciousOperation(
                "IAM says the bearer token is not active (expired, revoked or unknown)."
            )
        iss = claims.get("iss")
        if isinstance(iss, str) and not provider.same_issuer(iss, provider.issuer()):
            raise SuspiciousOperation(f"The bearer token was issued by {iss}, not by this portal's IAM.")
        return claims

    def _refusal_of(self, response: requests.Response | None) -> exceptions.APIException:
        code = response.status_code if response is not None else None
        if code == 401 and "www-authenticate" in response.headers:
            # IAM's own reason, as the library gives it.
            reason = parse_www_authenticate_header(response.headers["www-authenticate"]).get(
                "error_description", "IAM refused the token."
            )
            return exceptions.AuthenticationFailed(reason)
        if code is not None and code < 500:
            # Anything else IAM says about the token (403 insufficient_scope, 400) still means it does not do.
            return exceptions.AuthenticationFailed(f"IAM refused the token (HTTP {code}).")
        logger.warning("IAM answered HTTP %s while a bearer token was checked", code)
        return IamUnavailable()

    def _refuse_early(self, token: str) -> None:
        # Without asking IAM anything (neither its keys nor its userinfo).
        claims = unverified_claims(token)
        if not claims:
            return
        if isinstance(claims.get("exp"), int | float) and claims["exp"] <= time.time():
            raise exceptions.AuthenticationFailed("The bearer token has expired.")
        iss = claims.get("iss")
        if isinstance(iss, str) and not provider.same_issuer(iss, provider.issuer()):
            raise exceptions.AuthenticationFailed(
                f"The bearer token was issued by {iss}, not by this portal's IAM."
            )

    def authenticate_header(self, request: Request) -> str:
        # Without IAM no token is accepted: the challenge is the session's, as when this class is not installed.
        if not provider.is_configured():
            return session_challenge()
        return challenge(self.www_authenticate_realm, getattr(request, REFUSAL, None))
