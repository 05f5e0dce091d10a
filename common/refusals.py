"""Pages that refuse say why: the reason of a ``PermissionDenied`` is what the 403 page shows (in the site's
layout, portal/error_pages.py), in the users' words, e.g. "Only QoS admins create classes."."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse

View = Callable[..., HttpResponse]


def refuse_without(permission: str, reason: str) -> Callable[[View], View]:
    """Django's ``permission_required(permission, raise_exception=True)``, whose refusal gives ``reason``
    (Django's gives none, so the page could only say that the user's roles do not allow it)."""

    def decorator(view: View) -> View:
        @functools.wraps(view)
        def checked(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
            if not request.user.has_perm(permission):
                raise PermissionDenied(reason)
            return view(request, *args, **kwargs)

        return checked

    return decorator
