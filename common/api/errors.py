"""Error pages of the API: JSON under /api/, as the schema documents, wherever the answer comes from."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views import defaults


def not_found(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    """Django's 404 for a URL no route matches (``handler404``): ``{"detail"}`` under /api/, the page elsewhere.

    DRF answers JSON for what reaches a view; a URL that matches no route (``/api/v1/meetings/1.5/``, an id
    the router's pattern refuses) would otherwise get Django's HTML page, which no API client can read.
    """
    if request.path.startswith("/api/"):
        return JsonResponse({"detail": "Not found."}, status=404)
    return defaults.page_not_found(request, exception)
