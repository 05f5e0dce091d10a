"""API lists answered from the table cache until a table their rows read is written (portal/table_cache.py)."""

from __future__ import annotations

import time
from typing import Any

from django.http import HttpResponse
from rest_framework.renderers import JSONRenderer
from rest_framework.request import Request
from rest_framework.response import Response

from .. import table_cache


class TableCachedListMixin:
    """``list()`` in JSON from the table cache, as the bytes of the answer.

    ``cache_tables`` must name every table a row of the list reads (many-to-many tables too); with
    ``cache_minutes`` the answer is also made again every minute, for a field that changes with time alone
    (an RSE's ``expression_may_be_stale``). Each entry is for one user, one full path (filters, ordering,
    page), one host (the links are absolute) and one media type; errors (a bad filter, a page that does not
    exist) are never cached. The browsable API, for people, is rendered every time.
    """

    cache_tables: tuple[str, ...] = ()
    cache_minutes: bool = False

    def list(self, request: Request, *args: Any, **kwargs: Any) -> Response | HttpResponse:
        renderer = request.accepted_renderer
        if not isinstance(renderer, JSONRenderer):
            return super().list(request, *args, **kwargs)  # type: ignore[misc]
        vary = [
            request.user.pk,
            request.get_full_path(),
            request.build_absolute_uri("/"),
            request.accepted_media_type,
        ]
        if self.cache_minutes:
            vary.append(int(time.time() // 60))

        def render() -> bytes:
            data = super(TableCachedListMixin, self).list(request, *args, **kwargs).data  # type: ignore[misc]
            return renderer.render(data, request.accepted_media_type, self.get_renderer_context())  # type: ignore[attr-defined]

        body = table_cache.cached(f"api:{self.basename}", self.cache_tables, render, vary=vary)  # type: ignore[attr-defined]
        return HttpResponse(body, content_type=renderer.media_type)
