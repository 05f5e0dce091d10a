"""How /api/schema/ describes the API: drf-spectacular's AutoSchema, plus the errors every endpoint answers.

drf-spectacular documents only the success of an operation (and what ``@extend_schema`` adds). But DRF
answers every endpoint with errors of its own: 401/403 for a caller who may not (``{"detail"}``), 404 for an
object or a page that is not there (``{"detail"}``), 400 for a body or a filter that does not validate
(``{"field": ["message", ...]}``). A client generated from the schema, or schemathesis, must find them there.
The 409 of a rule's refusal (``{"detail", "code"}``, common/api/errors.py) is documented by the views that
can answer it, with ``CONFLICT``.
"""

from __future__ import annotations

from typing import Any

from drf_spectacular import authentication
from drf_spectacular.openapi import AutoSchema
from drf_spectacular.utils import OpenApiResponse, inline_serializer
from rest_framework import serializers

# One component for every ``{"detail": "..."}`` answer (DRF's exceptions: NotAuthenticated, PermissionDenied,
# NotFound, ...), so that it is named once in the schema.
ERROR_DETAIL = inline_serializer("ErrorDetail", {"detail": serializers.CharField()})
# A validation error: each field (or ``non_field_errors``, or ``detail``) with its messages; nested
# serializers nest, so the values are left open.
VALIDATION_ERROR: dict[str, Any] = {
    "type": "object",
    "additionalProperties": {},
    "description": 'Each field that does not validate with its messages, e.g. {"label": ["This field is required."]}.',
}

# A refusal by a rule of the lifecycle (``common.errors.DomainError``), the same in every app. Not added to
# every operation: a view names it (``409: CONFLICT``) where its model may refuse.
CONFLICT = OpenApiResponse(
    inline_serializer("Conflict", {"detail": serializers.CharField(), "code": serializers.CharField()}),
    description="Refused by a rule (``code`` says which, e.g. ``illegal_transition``); nothing was changed.",
)

ERRORS = {
    "400": OpenApiResponse(
        VALIDATION_ERROR, description="The request body or a query parameter is not valid."
    ),
    "401": OpenApiResponse(
        ERROR_DETAIL,
        description="No credentials (neither a session nor a bearer token), or a bad or expired bearer token.",
    ),
    "403": OpenApiResponse(ERROR_DETAIL, description="The caller's roles do not allow this."),
    "404": OpenApiResponse(ERROR_DETAIL, description="No such object, or no such page."),
}


class PortalAutoSchema(AutoSchema):
    """drf-spectacular's AutoSchema; each operation also lists the errors DRF may answer it with."""

    def get_operation(self, *args: Any, **kwargs: Any) -> dict[str, Any] | None:
        operation = super().get_operation(*args, **kwargs)
        if operation is None:
            return None
        parameters = operation.get("parameters", [])
        codes = ["401", "403"]
        if "requestBody" in operation or any(parameter["in"] == "query" for parameter in parameters):
            codes.append("400")
        # A lookup that matches nothing, or a page number past the end of a list.
        if any(parameter["in"] in ("path", "query") for parameter in parameters):
            codes.append("404")
        responses = operation["responses"]
        for code in codes:
            # What a view documents itself (e.g. a 400 with its own meaning) stays as it is.
            if code not in responses:
                responses[code] = self._get_response_for_code(ERRORS[code], code)
        operation["responses"] = dict(sorted(responses.items()))
        return operation


class SessionScheme(authentication.SessionScheme):
    """The session cookie, as drf-spectacular describes DRF's session authentication, for the portal's own
    (common/api/authentication.py), which drf-spectacular would not recognise as a subclass."""

    target_class = "common.api.authentication.SessionAuthentication"
