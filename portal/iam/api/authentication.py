"""IAM access tokens as ``Authorization: Bearer`` for the API, checked at IAM's userinfo and briefly cached."""

from __future__ import annotations

import hashlib
import logging
import time
from typing import Any

import jwt
import requests
from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.cache import cache
from mozilla_django_oidc.contrib.drf import OIDCAuthentication
from rest_framework import exceptions, status
from rest_framework.request import Request

from .. import provider
from ..backends import IamBackend
from ..models import LoginRefused

logger = logging.getLogger(__name__)


class IamUnavailable(exceptions.APIException):
    status_code = status.HTTP_503_SERVICE_UNAVAILABLE
    default_detail = "The token could not be checked: IAM did not answer. Try again shortly."
    default_code = "iam_unavailable"


def cache_key(token: str) -> str:
    # The hash, never the token: cache keys end up in Redis listings and logs.
    return "iam:bearer:" + hashlib.sha256(token.encode()).hexdigest()


def unverified_claims(token: str) -> dict[str, Any] | None:
    """The claims of a JWT access token (IAM's are JWTs), unchecked; None for an opaque token.

    Used only to refuse early (expired, another issuer) and to bound the cache; never to accept a token:
    that is IAM's userinfo's job.
    """
    try:
        claims = jwt.decode(token, options={"verify_signature": False})
    except jwt.InvalidTokenError:
        return None
    return claims if isinstance(claims, dict) else None


def cache_seconds(token: str, now: float | None = None) -> int:
    """How long IAM's answer for this token may be reused: ``OIDC_BEARER_CACHE_SECONDS``, and never beyond
    the token's own expiry when it says it (a JWT's ``exp``)."""
    seconds = int(settings.OIDC_BEARER_CACHE_SECONDS)
    claims = unverified_claims(token)
    if claims and isinstance(claims.get("exp"), int | float):
        seconds = min(seconds, int(claims["exp"] - (now if now is not None else time.time())))
    return max(seconds, 0)


class BearerTokenAuthentication(OIDCAuthentication):
    """mozilla-django-oidc's DRF authentication, with the portal's users and roles and clear refusals.

    The library asks IAM's userinfo at every request; here the answer (the user it maps to, roles synced
    from its groups) is cached for :func:`cache_seconds`, so that scripts do not hammer IAM. A bad, expired
    or foreign token gets 401 with IAM's reason; a good token of someone with no role here gets 403.
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
        self._refuse_early(token)
        key = cache_key(token)
        user_id = cache.get(key)
        if user_id is not None:
            user = get_user_model().objects.filter(pk=user_id, is_active=True).first()
            if user is not None:
                return user, token
        try:
            user, _ = super().authenticate(request)
        except LoginRefused as refusal:
            raise exceptions.PermissionDenied(refusal.reason) from None
        except provider.ProviderUnavailable as error:
            logger.warning("Bearer token not checked: %s", error)
            raise IamUnavailable() from None
        except requests.HTTPError as error:
            # 401 with a WWW-Authenticate header is handled by the library; anything else IAM says about
            # the token (403 insufficient_scope, 400) still means this token does not do.
            code = error.response.status_code if error.response is not None else None
            if code is not None and code < 500:
                raise exceptions.AuthenticationFailed(f"IAM refused the token (HTTP {code}).") from None
            logger.warning("IAM's userinfo answered HTTP %s", code)
            raise IamUnavailable() from None
        except requests.RequestException as error:
            logger.warning("IAM's userinfo cannot be reached: %s", type(error).__name__)
            raise IamUnavailable() from None
        if not user.is_active:
            raise exceptions.AuthenticationFailed("This account is disabled on the portal.")
        seconds = cache_seconds(token)
        if seconds > 0:
            cache.set(key, user.pk, seconds)
        return user, token

    def _refuse_early(self, token: str) -> None:
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

    def authenticate_header(self, request: Request) -> str | None:
        # Without IAM, no challenge: DRF then answers 403 as it did before, as for session authentication.
        if not provider.is_configured():
            return None
        return super().authenticate_header(request)
