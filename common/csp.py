"""The Content-Security-Policy header: django-csp's middleware, with origins that other apps add as form targets.

Logging out is a form POST to the portal that IAM's end_session endpoint answers with a redirect, and browsers
hold the redirect of a form submission to ``form-action`` too. IAM is configured by settings that tests (and
operators) may change at run time, so its origin is added per response rather than in settings.py. The login
package (above this one) registers where its forms may lead with :func:`register_form_targets`.
"""

from __future__ import annotations

from collections.abc import Callable
from urllib.parse import urlsplit

from csp.middleware import CSPMiddleware as BaseCSPMiddleware
from csp.middleware import PolicyParts
from django.http import HttpRequest, HttpResponseBase

_form_target_sources: list[Callable[[], list[str]]] = []


def register_form_targets(source: Callable[[], list[str]]) -> None:
    """Add ``source``, a callable answering the origins a form may currently be redirected to (idempotent)."""
    if source not in _form_target_sources:
        _form_target_sources.append(source)


def origin(url: str) -> str | None:
    """``https://iam.example:8443`` of a URL, or None when it has no scheme and host."""
    parts = urlsplit(url)
    if parts.scheme not in {"http", "https"} or not parts.netloc:
        return None
    return f"{parts.scheme}://{parts.netloc}"


def form_targets() -> list[str]:
    """Every registered source's origins, sorted and without repeats."""
    return sorted({target for source in _form_target_sources for target in source()})


class CSPMiddleware(BaseCSPMiddleware):
    """django-csp's middleware, adding the registered form targets (IAM's origin while IAM login is on)."""

    def get_policy_parts(
        self, request: HttpRequest, response: HttpResponseBase, report_only: bool = False
    ) -> PolicyParts:
        parts = super().get_policy_parts(request, response, report_only)
        targets = form_targets()
        if targets and not report_only:
            update = dict(parts.update or {})
            update["form-action"] = [*update.get("form-action", []), *targets]
            parts.update = update
        return parts
