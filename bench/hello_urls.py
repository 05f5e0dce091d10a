"""The plain Django reference's URLs (bench/hello_settings.py): ``/bench/hello/`` and the ``/healthz`` that
bench/pages.py waits for."""

from django.http import HttpRequest, HttpResponse
from django.urls import path


def hello(request: HttpRequest) -> HttpResponse:
    """A plain Django view: "hello", nothing else."""
    return HttpResponse(b"hello", content_type="text/plain")


urlpatterns = [
    path("bench/hello/", hello),
    path("healthz", hello),
]
