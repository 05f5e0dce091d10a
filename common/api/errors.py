"""How the API answers errors: the same JSON shapes for every app, as the schema documents them.

``exception_handler`` (DRF's ``EXCEPTION_HANDLER``) turns what the models raise into answers, so that views
call the models and let their errors go: a rule that refuses (a ``DomainError``) is ``409 {"detail", "code"}``,
a model's validation (Django's ``ValidationError``) is ``400 {"field": ["message", ...]}``, the rest is DRF's.
``not_found`` answers the URLs that reach no view.
"""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views import defaults
from rest_framework import status, views
from rest_framework.exceptions import ValidationError
from rest_framework.response import Response
from rest_framework.settings import api_settings

from common.errors import DomainError


def validation_detail(error: DjangoValidationError) -> dict[str, Any]:
    """A model's validation error as DRF words a serializer's: ``{"field": [messages]}``, and the messages of
    no field (``clean()``'s, Django's ``__all__``) under ``non_field_errors``."""
    if hasattr(error, "error_dict"):
        return {
            (api_settings.NON_FIELD_ERRORS_KEY if key == "__all__" else key): messages
            for key, messages in error.message_dict.items()
        }
    return {api_settings.NON_FIELD_ERRORS_KEY: error.messages}


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    """DRF's handler, which also answers a refusal by a rule (409) and a model's validation error (400).

    Without it a view would have to catch both around every call to a model: DRF leaves them to Django,
    which answers 500.
    """
    if isinstance(exc, DomainError):
        # As DRF's handler does for its own errors: under ATOMIC_REQUESTS, nothing of the request is kept.
        views.set_rollback()
        return Response({"detail": exc.message, "code": exc.code}, status=status.HTTP_409_CONFLICT)
    if isinstance(exc, DjangoValidationError):
        exc = ValidationError(validation_detail(exc))
    return views.exception_handler(exc, context)


def not_found(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    """Django's 404 for a URL no route matches (``handler404``): ``{"detail"}`` under /api/, the page elsewhere.

    DRF answers JSON for what reaches a view; a URL that matches no route (``/api/v1/meetings/1.5/``, an id
    the router's pattern refuses) would otherwise get Django's HTML page, which no API client can read.
    """
    if request.path.startswith("/api/"):
        return JsonResponse({"detail": "Not found."}, status=404)
    return defaults.page_not_found(request, exception)
