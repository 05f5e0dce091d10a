"""Local logins locked for a while after repeated failures: django-axes' hooks (see settings.py, ``AXES_*``).

Failures are counted per user name and client address (``LOGIN_FAILURE_LIMIT`` within
``LOGIN_COOLOFF_MINUTES``); only user name and password logins count, IAM rate-limits its own. A refused login
gets the "try again later" page, never a bare error.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from axes.backends import AxesStandaloneBackend
from axes.helpers import get_client_username, get_cool_off
from axes.models import AccessAttempt
from django.conf import settings
from django.db.models import Max
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.utils import timezone

from . import provider

logger = logging.getLogger(__name__)


class LockoutBackend(AxesStandaloneBackend):
    """Refuses a user name and password while that user name is locked out from that address (first backend).

    A login without a request (Django's test client ``login()``, a shell) comes from no address: there is nothing
    to count, so it is left to the other backends, where django-axes would refuse it outright.
    """

    def authenticate(
        self,
        request: HttpRequest | None,
        username: str | None = None,
        password: str | None = None,
        **kwargs: Any,
    ) -> None:
        if request is None:
            return None
        return super().authenticate(request, username, password, **kwargs)


def client_ip(request: HttpRequest) -> str | None:
    """The address a login comes from.

    Without proxies (``TRUSTED_PROXY_COUNT=0``) it is the peer address and X-Forwarded-For is ignored: anyone
    can write that header. Behind N proxies that each append the address they were reached from, the client
    is the N-th address from the right; what stands left of it was written by the client and is ignored. A
    request that did not pass all N proxies (a shorter header) is counted by its peer address.
    """
    peer = request.META.get("REMOTE_ADDR") or None
    count = settings.TRUSTED_PROXY_COUNT
    if count <= 0:
        return peer
    forwarded = [
        hop.strip() for hop in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",") if hop.strip()
    ]
    if len(forwarded) < count:
        return peer
    return forwarded[-count]


def is_not_password_login(request: HttpRequest, credentials: dict[str, Any] | None) -> bool:
    """True for what axes must leave alone: IAM logins (a code from IAM, no password) are IAM's to limit."""
    return (credentials or {}).get("password") is None


def locked_until(username: str | None, ip_address: str | None) -> datetime:
    """When the lockout of this user name from this address ends (failures during it do not extend it)."""
    last = AccessAttempt.objects.filter(username=username, ip_address=ip_address).aggregate(
        last=Max("attempt_time")
    )["last"]
    return (last or timezone.now()) + get_cool_off(None)


def lockout_response(
    request: HttpRequest, original_response: HttpResponse | None, credentials: dict[str, Any] | None
) -> HttpResponse:
    """The login page's layout saying that this login is locked and when to try again (HTTP 429)."""
    username = get_client_username(request, credentials)
    ip_address = getattr(request, "axes_ip_address", None)
    until = locked_until(username, ip_address)
    minutes = max(1, -(-int((until - timezone.now()).total_seconds()) // 60))
    logger.warning(
        "Local login refused: user name %r locked out from %s until %s",
        username,
        ip_address,
        until.isoformat(),
    )
    return render(
        request,
        "registration/login_locked.html",
        {
            "username": username,
            "until": until,
            "minutes": minutes,
            "failure_limit": settings.LOGIN_FAILURE_LIMIT,
            "iam_login_url": reverse("oidc_authentication_init") if provider.is_configured() else None,
            "iam_name": settings.OIDC_OP_DISPLAY_NAME,
        },
        status=429,
    )
