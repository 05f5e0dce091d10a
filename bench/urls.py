"""The portal's URLs plus ``/bench/bare/``, a view that does no work (only for bench/pages.py)."""

from django.http import HttpRequest, HttpResponse
from django.urls import include, path

from portal.urls import handler404  # noqa: F401 - the portal's JSON 404 under /api/, as in production


def bare(request: HttpRequest) -> HttpResponse:
    """Nothing but a response: what every request costs before a page does anything (the middleware, the
    session and the user, as every page of the portal has them)."""
    return HttpResponse(b"ok", content_type="text/plain")


urlpatterns = [
    path("bench/bare/", bare, name="bench-bare"),
    path("", include("portal.urls")),
]
