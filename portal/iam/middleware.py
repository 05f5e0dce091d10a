"""Session renewal against IAM: mozilla-django-oidc's SessionRefresh, inert while IAM is not configured."""

from __future__ import annotations

import logging
from typing import Any

from django.http import HttpRequest, HttpResponse
from django.utils.deprecation import MiddlewareMixin
from mozilla_django_oidc.middleware import SessionRefresh as LibrarySessionRefresh

from . import provider

logger = logging.getLogger(__name__)


class SessionRefresh(LibrarySessionRefresh):
    """Every ``OIDC_RENEW_ID_TOKEN_EXPIRY_SECONDS``, sends an IAM user's browser to IAM with ``prompt=none``.

    IAM answers at once: with a new code while its own session lasts (the login is redone silently, roles
    recomputed from the groups it sends), or with ``login_required`` once it has ended, and then the portal
    session ends too. Only sessions opened through IAM are renewed; local accounts never are.

    The library reads IAM's endpoints when the middleware is built, at start-up; here they are read when a
    renewal is due, from discovery, so that the portal starts even while IAM is down.
    """

    def __init__(self, get_response: Any) -> None:
        MiddlewareMixin.__init__(self, get_response)

    get_settings = staticmethod(provider.setting)

    OIDC_EXEMPT_URLS = property(lambda self: self.get_settings("OIDC_EXEMPT_URLS", []))
    OIDC_OP_AUTHORIZATION_ENDPOINT = property(
        lambda self: self.get_settings("OIDC_OP_AUTHORIZATION_ENDPOINT")
    )
    OIDC_RP_CLIENT_ID = property(lambda self: self.get_settings("OIDC_RP_CLIENT_ID"))
    OIDC_STATE_SIZE = property(lambda self: self.get_settings("OIDC_STATE_SIZE", 32))
    OIDC_AUTHENTICATION_CALLBACK_URL = property(
        lambda self: self.get_settings("OIDC_AUTHENTICATION_CALLBACK_URL", "oidc_authentication_callback")
    )
    OIDC_RP_SCOPES = property(lambda self: self.get_settings("OIDC_RP_SCOPES", "openid email"))
    OIDC_USE_NONCE = property(lambda self: self.get_settings("OIDC_USE_NONCE", True))
    OIDC_NONCE_SIZE = property(lambda self: self.get_settings("OIDC_NONCE_SIZE", 32))

    def process_request(self, request: HttpRequest) -> HttpResponse | None:
        if not provider.is_configured():
            return None
        try:
            return super().process_request(request)
        except provider.ProviderUnavailable as error:
            # Better a session that lasts a little longer than a portal that stops while IAM is down.
            logger.warning("IAM session renewal postponed: %s", error)
            return None
