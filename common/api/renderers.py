"""DRF's browsable API under the portal's Content-Security-Policy."""

from __future__ import annotations

from typing import Any

from rest_framework import renderers


class BrowsableAPIRenderer(renderers.BrowsableAPIRenderer):
    """DRF's browsable API, whose templates style elements inline (``style=`` attributes, a ``<style>`` for code
    highlighting): its pages alone may use inline styles. Scripts stay 'self' only: it has no inline script."""

    def render(self, data: Any, accepted_media_type: str | None = None, renderer_context: Any = None) -> Any:
        response = (renderer_context or {}).get("response")
        if response is not None:
            response._csp_replace = {"style-src": ["'self'", "'unsafe-inline'"]}
        return super().render(data, accepted_media_type, renderer_context)
