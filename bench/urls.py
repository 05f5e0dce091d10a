"""The portal's URLs plus ``/bench/bare/``, a view that does no work (only for bench/pages.py)."""

from django.http import HttpRequest, HttpResponse
from django.urls import include, path

# The portal's error pages (JSON under /api/), as in production.
from portal.urls import handler403, handler404, handler500  # noqa: F401


def bare(request: HttpRequest) -> HttpResponse:
    """Nothing but a response: what every request costs before a page does anything (the middleware, the
    session and the user, as every page of the portal has them)."""
    return HttpResponse(b"ok", content_type="text/plain")


urlpatterns = [
    path("bench/bare/", bare, name="bench-bare"),
    path("", include("portal.urls")),
]
