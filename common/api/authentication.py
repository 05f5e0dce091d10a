"""The API's session authentication: DRF's, which also says how to authenticate, so that a request without
credentials gets 401 (README, "API"), not 403.

DRF answers 401 only when the first authentication class names a challenge for ``WWW-Authenticate``;
``SessionAuthentication`` names none, and DRF then answers 403, as if the caller were known and refused.
IAM bearer tokens, when IAM login is on, come first and challenge for a token (portal/iam/api/).
"""

from __future__ import annotations

from rest_framework import authentication
from rest_framework.request import Request

REALM = "escape-qos-portal"


def session_challenge() -> str:
    """The ``WWW-Authenticate`` value for a session: log in (``/api/auth/login/``) and send its cookie."""
    return f'Session realm="{REALM}"'


class SessionAuthentication(authentication.SessionAuthentication):
    """DRF's session authentication (CSRF checked on changes), which challenges a caller without credentials."""

    def authenticate_header(self, request: Request) -> str:
        return session_challenge()
