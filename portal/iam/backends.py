"""Authentication backends: IAM through mozilla-django-oidc, and local accounts behind a switch."""

from __future__ import annotations

import logging
from typing import Any

import jwt
from django.conf import settings
from django.contrib.auth.backends import ModelBackend
from django.core.exceptions import SuspiciousOperation
from mozilla_django_oidc.auth import OIDCAuthenticationBackend

from common.table_cache import cached_user

from . import provider
from .models import IamIdentity

logger = logging.getLogger(__name__)

IAM_BACKEND = "portal.iam.backends.IamBackend"
LOCAL_BACKEND = "portal.iam.backends.LocalAccountBackend"


class LocalAccountBackend(ModelBackend):
    """Django's user name and password login, switched off by ``LOCAL_LOGIN_ENABLED=0``.

    When it is off, local passwords no longer log anyone in, and sessions opened with one end.
    """

    def authenticate(self, request: Any, username: str | None = None, password: str | None = None, **kwargs):
        if not settings.LOCAL_LOGIN_ENABLED:
            return None
        return super().authenticate(request, username=username, password=password, **kwargs)

    def get_user(self, user_id: Any):
        if not settings.LOCAL_LOGIN_ENABLED:
            return None
        # From the table cache when it is on: the query every request made (bench/README.md, the bare view).
        return cached_user(user_id, lambda: ModelBackend.get_user(self, user_id))


class IamBackend(OIDCAuthenticationBackend):
    """Logs users in with IAM: RS256 ID tokens checked against IAM's JWKS, users keyed on (issuer, sub).

    The library reads all its settings in ``__init__``; Django builds a backend for every request of a
    logged-in user, so here nothing is read (and IAM is not asked) until a login actually needs it.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        from django.contrib.auth import get_user_model

        self.UserModel = get_user_model()

    get_settings = staticmethod(provider.setting)

    # The attributes the library's methods read, looked up when used.
    OIDC_OP_TOKEN_ENDPOINT = property(lambda self: self.get_settings("OIDC_OP_TOKEN_ENDPOINT"))
    OIDC_OP_USER_ENDPOINT = property(lambda self: self.get_settings("OIDC_OP_USER_ENDPOINT"))
    OIDC_OP_JWKS_ENDPOINT = property(lambda self: self.get_settings("OIDC_OP_JWKS_ENDPOINT"))
    OIDC_RP_CLIENT_ID = property(lambda self: self.get_settings("OIDC_RP_CLIENT_ID"))
    OIDC_RP_CLIENT_SECRET = property(lambda self: self.get_settings("OIDC_RP_CLIENT_SECRET"))
    OIDC_RP_SIGN_ALGO = property(lambda self: self.get_settings("OIDC_RP_SIGN_ALGO", "RS256"))
    OIDC_RP_IDP_SIGN_KEY = property(lambda self: self.get_settings("OIDC_RP_IDP_SIGN_KEY", None))

    def authenticate(self, request: Any, **kwargs: Any):
        if request is None or not provider.is_configured() or "code" not in request.GET:
            return None  # not an IAM callback: leave it to the other backends
        # RFC 9207: an `iss` in the authorization response must be our issuer (mix-up attacks).
        iss = request.GET.get("iss")
        if iss and not provider.same_issuer(iss, provider.issuer()):
            raise SuspiciousOperation(f"The login answer came from {iss!r}, not from this portal's IAM.")
        return super().authenticate(request, **kwargs)

    def _verify_jws(self, payload: str, key: Any) -> dict[str, Any]:
        """Check signature, algorithm, issuer, audience and lifetime; the library checks only the first two."""
        client_id = self.OIDC_RP_CLIENT_ID
        try:
            claims = self._decode(
                payload,
                key,
                what="ID token",
                audience=client_id,
                required=["iss", "sub", "aud", "exp", "iat"],
            )
        except jwt.InvalidAudienceError:
            raise SuspiciousOperation(
                f"The ID token was issued for another client, not {client_id}."
            ) from None
        # OpenID Connect Core §3.1.3.7: with several audiences, the authorised party must be this client.
        if isinstance(claims["aud"], list) and len(claims["aud"]) > 1 and claims.get("azp") != client_id:
            raise SuspiciousOperation("The ID token names several audiences but not this client as its azp.")
        return claims

    def verify_access_token(self, token: str) -> dict[str, Any]:
        """The claims of a JWT access token (IAM's are JWTs) once its signature, algorithm, issuer and lifetime
        are checked against IAM's JWKS, as for ID tokens. Its audience is the caller's to check: a resource
        server's, not this client's. Raises SuspiciousOperation with the reason."""
        what = "bearer token"
        self._check_algorithm(token, what)  # before IAM's keys are fetched for a token that cannot match them
        try:
            key = self.retrieve_matching_jwk(token)
        except (SuspiciousOperation, jwt.InvalidTokenError):
            raise SuspiciousOperation(f"The {what} names no key IAM publishes.") from None
        claims = self._decode(token, key, what=what, audience=None, required=["iss", "sub", "exp"])
        # The portal's own ID tokens (always with a nonce) are signed by the same key and name its client ID
        # as their audience: never bearer tokens.
        if "nonce" in claims or "at_hash" in claims:
            raise SuspiciousOperation("This is an ID token, not an access token.")
        return claims

    def _check_algorithm(self, payload: str, what: str) -> str:
        try:
            header = jwt.get_unverified_header(payload)
        except jwt.InvalidTokenError:
            raise SuspiciousOperation(f"The {what} is not a JWT.") from None
        algorithm = self.OIDC_RP_SIGN_ALGO
        if header.get("alg") != algorithm:
            raise SuspiciousOperation(f"The {what} is signed with {header.get('alg')!r}, not {algorithm}.")
        return algorithm

    def _decode(
        self, payload: str, key: Any, *, what: str, audience: str | None, required: list[str]
    ) -> dict[str, Any]:
        algorithm = self._check_algorithm(payload, what)
        try:
            claims = jwt.decode(
                payload,
                key,
                algorithms=[algorithm],
                audience=audience,
                options={"require": required, "verify_iss": False, "verify_aud": audience is not None},
                leeway=self.get_settings("OIDC_CLOCK_LEEWAY_SECONDS", 30),
            )
        except jwt.InvalidAudienceError:
            raise  # each caller words it: a client's audience is not a resource server's
        except jwt.ExpiredSignatureError:
            raise SuspiciousOperation(f"The {what} has expired.") from None
        except jwt.InvalidSignatureError:
            raise SuspiciousOperation(f"The {what}'s signature does not match IAM's key.") from None
        except jwt.InvalidTokenError as error:
            raise SuspiciousOperation(f"The {what} is invalid: {error}.") from None
        if not provider.same_issuer(str(claims["iss"]), provider.issuer()):
            raise SuspiciousOperation(
                f"The {what} was issued by {claims['iss']!r}, not by this portal's IAM."
            )
        return claims

    def retrieve_matching_jwk(self, token: str) -> Any:
        try:
            return super().retrieve_matching_jwk(token)
        except KeyError:
            raise SuspiciousOperation("The ID token names no key IAM publishes.") from None

    def get_or_create_user(self, access_token: str, id_token: str | None, payload: dict | None):
        """The user for a login (ID token ``payload`` and userinfo) or for a bearer token (userinfo; ``payload``
        holds only the checked token's ``sub``, so that userinfo must be about the token's subject)."""
        userinfo = self.get_userinfo(access_token, id_token, payload)
        if not isinstance(userinfo, dict):
            raise SuspiciousOperation("IAM's userinfo answer is not a JSON object.")
        if payload and userinfo.get("sub") != payload.get("sub"):
            # OpenID Connect Core §5.3.2: otherwise the answer may be about someone else.
            raise SuspiciousOperation(
                f"IAM's userinfo is about another subject than the {'ID' if id_token else 'access'} token."
            )
        # Groups may come in either: IAM puts them in the ID token and at userinfo, the WLCG profile only
        # where asked. The ID token's claims first, then userinfo's (fresher) on top; groups from both.
        claims = {**(payload or {}), **userinfo}
        for name in ("groups", "wlcg.groups", "eduperson_entitlement"):
            values = [*_listed((payload or {}).get(name)), *_listed(userinfo.get(name))]
            if values:
                claims[name] = values
        issuer = str((payload or {}).get("iss") or provider.issuer())
        return IamIdentity.objects.sign_in(issuer=issuer, claims=claims)

    def get_user(self, user_id: Any):
        # The library's get_user ignores is_active; Django's checks it. And without IAM, no IAM session lasts.
        if not provider.is_configured():
            return None
        return cached_user(user_id, lambda: ModelBackend.get_user(self, user_id))

    def filter_users_by_claims(self, claims: dict[str, Any]):
        # Never used for logins (see get_or_create_user), and never by e-mail.
        identity = IamIdentity.objects.filter(
            issuer=provider.issuer().rstrip("/"), subject=claims.get("sub")
        ).first()
        return self.UserModel.objects.filter(pk=identity.user_id if identity else None)

    def verify_claims(self, claims: dict[str, Any]) -> bool:
        return bool(claims.get("sub"))


def _listed(value: Any) -> list[Any]:
    if value is None:
        return []
    return [value] if isinstance(value, str) else list(value) if isinstance(value, list | tuple) else []
