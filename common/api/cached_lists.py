"""API lists answered from the table cache until a table their rows read is written (common/table_cache.py)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from django.http import HttpResponse
from django.utils import timezone
from rest_framework.renderers import JSONRenderer
from rest_framework.request import Request
from rest_framework.response import Response

from .. import table_cache


class TableCachedListMixin:
    """``list()`` in JSON from the table cache, as the bytes of the answer.

    ``cache_tables`` must name every table a row of the list reads (many-to-many tables too). A list with a
    field that changes with time alone (an RSE's ``expression_may_be_stale``) says until when a page holds in
    ``cache_valid_until()``. Each entry is for one user, one full path (filters, ordering, page), one host
    (the links are absolute) and one media type; errors (a bad filter, a page that does not exist) are never
    cached. The browsable API, for people, is rendered every time.
    """

    cache_tables: tuple[str, ...] = ()

    def cache_valid_until(self, rows: Sequence[Any]) -> float | None:
        """When (a Unix time) the answer for these rows changes with no write; None: only with a write."""
        return None

    def list(self, request: Request, *args: Any, **kwargs: Any) -> Response | HttpResponse:
        renderer = request.accepted_renderer
        if not isinstance(renderer, JSONRenderer):
            return super().list(request, *args, **kwargs)  # type: ignore[misc]

        def render() -> tuple[bytes, float | None]:
            data = super(TableCachedListMixin, self).list(request, *args, **kwargs).data  # type: ignore[misc]
            page = getattr(getattr(self, "paginator", None), "page", None)
            until = self.cache_valid_until(page.object_list if page is not None else [])
            return renderer.render(data, request.accepted_media_type, self.get_renderer_context()), until  # type: ignore[attr-defined]

        body, until = table_cache.cached(
            f"api:{self.basename}",  # type: ignore[attr-defined]
            self.cache_tables,
            render,
            vary=[
                request.user.pk,
                request.get_full_path(),
                request.build_absolute_uri("/"),
                request.accepted_media_type,
                timezone.get_current_timezone_name(),  # times are given on the active clock
            ],
            fresh=lambda value: value[1] is None or timezone.now().timestamp() < value[1],
        )
        request._request.page_cache_until = until  # the whole answer is kept no longer (common/page_cache.py)
        return HttpResponse(body, content_type=renderer.media_type)
