"""The portal's URLs, plus a page and an API URL that crash: for the 500 answers (test_error_pages.py)."""

from django.http import HttpRequest, HttpResponse
from django.urls import include, path

from portal.urls import handler403, handler404, handler500  # noqa: F401 - the portal's, as in production


def crash(request: HttpRequest) -> HttpResponse:
    raise RuntimeError("secret-internal-detail: the database password is hunter2")


urlpatterns = [
    path("crash/", crash),
    path("api/v1/crash/", crash),
    path("", include("portal.urls")),
]
