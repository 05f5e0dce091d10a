"""The Content-Security-Policy header: django-csp's middleware, with IAM's origin allowed as a form target.

Logging out is a form POST to the portal that IAM's end_session endpoint answers with a redirect, and browsers
hold the redirect of a form submission to ``form-action`` too. IAM is configured by settings that tests (and
operators) may change at run time, so its origin is added per response rather than in settings.py.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from csp.middleware import CSPMiddleware as BaseCSPMiddleware
from csp.middleware import PolicyParts
from django.conf import settings
from django.http import HttpRequest, HttpResponseBase

from .iam import provider


def origin(url: str) -> str | None:
    """``https://iam.example:8443`` of a URL, or None when it has no scheme and host."""
    parts = urlsplit(url)
    if parts.scheme not in {"http", "https"} or not parts.netloc:
        return None
    return f"{parts.scheme}://{parts.netloc}"


def iam_form_targets() -> list[str]:
    """The origins IAM's logout may redirect a form submission to: the issuer's, and an explicitly set
    end_session endpoint's (never the discovery document's: asking IAM for every response is out of question,
    and IAM serves end_session from its issuer)."""
    if not provider.is_configured():
        return []
    urls = [settings.OIDC_OP_ISSUER, getattr(settings, "OIDC_OP_LOGOUT_ENDPOINT", "")]
    return sorted({found for url in urls if url and (found := origin(url))})


class CSPMiddleware(BaseCSPMiddleware):
    """django-csp's middleware, adding IAM's origin to ``form-action`` while IAM login is on."""

    def get_policy_parts(
        self, request: HttpRequest, response: HttpResponseBase, report_only: bool = False
    ) -> PolicyParts:
        parts = super().get_policy_parts(request, response, report_only)
        targets = iam_form_targets()
        if targets and not report_only:
            update = dict(parts.update or {})
            update["form-action"] = [*update.get("form-action", []), *targets]
            parts.update = update
        return parts
