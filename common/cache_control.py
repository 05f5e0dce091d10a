"""``Cache-Control: private`` on every answer to a logged-in user, pages and API alike.

What a logged-in user is shown is theirs: what their roles let them see, their CSRF token, their secret
calendar address. A shared cache between the portal and its users (a proxy, a CDN) must never keep it and hand
it to the next person who asks for the same URL. A response that already says how it may be cached
(``never_cache``'s ``no-store``, a download's own ``private``) is left as its view made it.
"""

from __future__ import annotations

from collections.abc import Callable

from django.http import HttpRequest, HttpResponseBase
from django.utils.cache import patch_cache_control


class PrivateCacheControlMiddleware:
    """Adds ``Cache-Control: private`` to responses to logged-in users that say nothing about caching."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponseBase]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponseBase:
        response = self.get_response(request)
        if not response.has_header("Cache-Control") and _logged_in(request):
            patch_cache_control(response, private=True)
        return response


def _logged_in(request: HttpRequest) -> bool:
    # Read after the view: a DRF view puts the user of a bearer token on the request only then, and a login
    # or logout in the view has changed who the answer is for.
    user = getattr(request, "user", None)
    return user is not None and user.is_authenticated
