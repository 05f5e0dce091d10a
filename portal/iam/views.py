"""Login, logout and "my account" pages; the OpenID Connect views are mozilla-django-oidc's, made to say why.

``/oidc/authenticate/``, ``/oidc/callback/`` and ``/oidc/logout/`` are the library's URLs (its ``urls.py``
picks these classes through ``OIDC_AUTHENTICATE_CLASS`` and ``OIDC_CALLBACK_CLASS``). They answer 404 while
IAM is not configured, so the same URL configuration serves portals with and without IAM.
"""

from __future__ import annotations

import logging
from typing import Any
from urllib.parse import urlencode

import requests
from django.conf import settings
from django.contrib import auth, messages
from django.contrib.auth import BACKEND_SESSION_KEY
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_not_required
from django.core.exceptions import SuspiciousOperation
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render, resolve_url
from django.urls import reverse
from django.utils.decorators import method_decorator
from django.views.decorators.http import require_http_methods
from django.views.generic import View
from mozilla_django_oidc.utils import import_from_settings
from mozilla_django_oidc.views import (
    OIDCAuthenticationCallbackView,
    OIDCAuthenticationRequestView,
    OIDCLogoutView,
)

from notifications.forms import PreferencesForm

from . import provider
from .backends import IAM_BACKEND
from .models import LoginRefused, account_summary

logger = logging.getLogger(__name__)

# What the library's refusals mean, in words for the person who tried to log in.
LIBRARY_REASONS = {
    "OIDC callback state not found in session `oidc_states`!": (
        "This login answer does not belong to a login started in this browser, or it was already used."
    ),
    "JWT Nonce verification failed.": "The ID token does not answer this login (its nonce differs).",
    "Could not find a valid JWKS.": "The ID token is signed with a key IAM does not publish.",
}
# IAM's answers to a silent session renewal (prompt=none) when the person must log in again.
SESSION_ENDED = {"login_required", "interaction_required", "consent_required", "account_selection_required"}


def login_problem(
    request: HttpRequest, title: str, reason: str, status: int, refusal: LoginRefused | None = None
) -> HttpResponse:
    return render(
        request,
        "iam/login_problem.html",
        {
            "title": title,
            "reason": reason,
            "refusal": refusal,
            "iam_name": settings.OIDC_OP_DISPLAY_NAME,
            "retry_url": reverse("oidc_authentication_init") if provider.is_configured() else None,
        },
        status=status,
    )


def iam_unavailable(request: HttpRequest, error: Exception) -> HttpResponse:
    logger.warning("IAM cannot be reached: %s", error)
    return login_problem(
        request,
        f"{settings.OIDC_OP_DISPLAY_NAME} cannot be reached",
        "The portal could not talk to IAM just now. Try again in a minute; local accounts still work.",
        503,
    )


class LoginView(auth_views.LoginView):
    """The login page: the IAM button first whenever IAM is configured, then local accounts if enabled."""

    redirect_authenticated_user = True

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        context = super().get_context_data(**kwargs)
        iam_login_url = None
        if provider.is_configured():
            next_url = self.get_redirect_url()
            iam_login_url = reverse("oidc_authentication_init")
            if next_url:
                iam_login_url += "?" + urlencode({"next": next_url})
        context.update(
            iam_login_url=iam_login_url,
            iam_name=settings.OIDC_OP_DISPLAY_NAME,
            local_login_enabled=settings.LOCAL_LOGIN_ENABLED,
        )
        return context

    def post(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if not settings.LOCAL_LOGIN_ENABLED:
            messages.error(request, "Local accounts are switched off on this portal: log in with IAM.")
            return self.render_to_response(self.get_context_data(), status=403)
        return super().post(request, *args, **kwargs)


@method_decorator(login_not_required, name="dispatch")
class IamAuthenticateView(OIDCAuthenticationRequestView):
    """Sends the browser to IAM (authorization code flow with PKCE, state and nonce)."""

    get_settings = staticmethod(provider.setting)

    def __init__(self, **kwargs: Any) -> None:
        # The library reads the endpoint here, for every request; it is read in get(), where a failure can
        # be answered with a page.
        View.__init__(self, **kwargs)

    def get(self, request: HttpRequest) -> HttpResponse:
        if not provider.is_configured():
            raise Http404("IAM login is not configured on this portal.")
        try:
            self.OIDC_OP_AUTH_ENDPOINT = self.get_settings("OIDC_OP_AUTHORIZATION_ENDPOINT")
        except provider.ProviderUnavailable as error:
            return iam_unavailable(request, error)
        self.OIDC_RP_CLIENT_ID = settings.OIDC_RP_CLIENT_ID
        return super().get(request)


@method_decorator(login_not_required, name="dispatch")
class IamCallbackView(OIDCAuthenticationCallbackView):
    """Where IAM sends the browser back. Every refusal gets a page that says why; nobody stays logged in."""

    get_settings = staticmethod(provider.setting)

    def get(self, request: HttpRequest) -> HttpResponse:
        if not provider.is_configured():
            raise Http404("IAM login is not configured on this portal.")
        self.user = None
        try:
            return super().get(request)
        except LoginRefused as refusal:
            logger.info("IAM login refused by the portal: %s (groups %s)", refusal.reason, refusal.groups)
            self._end_session()
            return login_problem(request, "You cannot use this portal yet", refusal.reason, 403, refusal)
        except SuspiciousOperation as error:
            # Logged by name only: the messages never contain tokens.
            logger.warning("IAM login rejected: %s", error)
            self._end_session()
            reason = LIBRARY_REASONS.get(str(error), str(error))
            return login_problem(request, "The login could not be verified", reason, 400)
        except provider.ProviderUnavailable as error:
            return iam_unavailable(request, error)
        except requests.HTTPError as error:
            # The token endpoint refused the code (used twice, expired, or a client misconfiguration). The
            # response body is not shown: it is IAM's business, and says nothing the person can act on.
            status = error.response.status_code if error.response is not None else "?"
            logger.warning("IAM's token endpoint answered HTTP %s", status)
            self._end_session()
            return login_problem(
                request,
                "The login could not be completed",
                f"IAM refused to complete the login (HTTP {status}). Start again from the login page.",
                502,
            )
        except requests.RequestException as error:
            return iam_unavailable(request, error)

    def _end_session(self) -> None:
        if self.request.user.is_authenticated:
            auth.logout(self.request)

    def login_failure(self) -> HttpResponse:
        request = self.request
        error = request.GET.get("error")
        if error in SESSION_ENDED:
            # A silent renewal (SessionRefresh) found no IAM session: the library has logged the user out.
            messages.info(request, "Your IAM session has ended: log in again.")
            return redirect(settings.LOGIN_URL)
        if error:
            description = request.GET.get("error_description") or error
            return login_problem(request, "IAM did not log you in", f"IAM answered: {description}.", 400)
        if self.user is not None and not self.user.is_active:
            return login_problem(
                request,
                "Your portal account is disabled",
                "A portal admin has disabled your account. Ask them if you think this is a mistake.",
                403,
            )
        return login_problem(
            request,
            "The login could not be verified",
            "This login answer does not belong to a login started in this browser, or it was already used.",
            400,
        )


class LogoutView(OIDCLogoutView):
    """Ends the portal session; after an IAM login, also sends the browser to IAM's logout (end_session)."""

    get_settings = staticmethod(import_from_settings)

    def post(self, request: HttpRequest) -> HttpResponse:
        response = super().post(request)
        messages.info(request, "You are logged out of the portal.")
        return response


def iam_logout_url(request: HttpRequest) -> str:
    """``OIDC_OP_LOGOUT_URL_METHOD``: IAM's end_session URL for IAM sessions, the login page otherwise."""
    local = resolve_url(settings.LOGOUT_REDIRECT_URL)
    if not provider.is_configured() or request.session.get(BACKEND_SESSION_KEY) != IAM_BACKEND:
        return local
    try:
        end_session = provider.endpoint("OIDC_OP_LOGOUT_ENDPOINT")
    except provider.ProviderUnavailable as error:
        logger.warning("IAM logout skipped: %s", error)
        return local
    if not end_session:
        return local
    params = {
        "client_id": settings.OIDC_RP_CLIENT_ID,
        "post_logout_redirect_uri": request.build_absolute_uri(local),
    }
    id_token = request.session.get("oidc_id_token")
    if id_token:
        params["id_token_hint"] = id_token
    return f"{end_session}{'&' if '?' in end_session else '?'}{urlencode(params)}"


@require_http_methods(["GET", "POST"])
def account(request: HttpRequest) -> HttpResponse:
    """Who I am, my roles, the experiments I speak for, the IAM groups that gave them; and how I hear of what
    happens (notification preferences, which a POST changes)."""
    form = PreferencesForm(request.POST or None, user=request.user)
    if request.method == "POST" and form.is_valid():
        form.save()
        messages.success(request, "Your notification preferences are saved.")
        return redirect("iam:account")
    return render(request, "iam/account.html", {"account": account_summary(request.user), "form": form})
