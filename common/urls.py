"""URL patterns that every app lays out the same way, and the URLs of objects' pages."""

from __future__ import annotations

import functools
from types import ModuleType
from typing import Any
from urllib.parse import quote

from django.urls import URLPattern, get_resolver, get_script_prefix, get_urlconf, path, reverse
from django.utils.http import RFC3986_SUBDELIMS


def model_paths(prefix: str, key: str, views: ModuleType, name: str) -> list[URLPattern]:
    """The four pages of one kind of row, the same in every app: its list (``<prefix>``), a form to add one
    (``<prefix>new/``), one row (``<prefix><key>/``) and its form (``<prefix><key>/edit/``). They are the
    ``views`` ``<name>_list``, ``<name>_create``, ``<name>_detail`` and ``<name>_edit``, and are named like
    them: ``<name>-list``, ``<name>-create``, ``<name>-detail``, ``<name>-edit``. Paths of the app that the
    ``key`` would also match (``experiments/records/``) go before these."""
    return [
        path(prefix, getattr(views, f"{name}_list"), name=f"{name}-list"),
        path(f"{prefix}new/", getattr(views, f"{name}_create"), name=f"{name}-create"),
        path(f"{prefix}{key}/", getattr(views, f"{name}_detail"), name=f"{name}-detail"),
        path(f"{prefix}{key}/edit/", getattr(views, f"{name}_edit"), name=f"{name}-edit"),
    ]


# Marks where the value goes in a URL reversed once: digits only, so that every converter the portal's object
# URLs use (int, slug, str, a class label) takes it.
_MARKER = "90817263544536271809"
_SAFE = RFC3986_SUBDELIMS + "/~:@"  # what reverse() leaves unquoted


def object_url(viewname: str, value: Any) -> str:
    """``reverse(viewname, args=[value])`` for a URL of one value (an object's page), from the URL reversed once
    per URL configuration and script prefix: a list page links every row two or three times, and reverse()
    (namespaces, candidate patterns, a regex check, quoting) cost about 30 µs a link (bench/README.md). The same
    URL, quoted as reverse() quotes it; unlike reverse(), a value its converter would refuse is not checked
    (values come from rows that were validated when saved)."""
    urlconf = get_urlconf()
    before, after = _around_value(viewname, urlconf, get_resolver(urlconf), get_script_prefix())
    return f"{before}{quote(str(value), safe=_SAFE)}{after}"


@functools.lru_cache(maxsize=256)
def _around_value(viewname: str, urlconf: str | None, resolver: object, prefix: str) -> tuple[str, str]:
    # ``resolver``: only part of the key, so that a new URL configuration (clear_url_caches()) is reversed anew.
    url = reverse(viewname, urlconf=urlconf, args=[_MARKER])
    before, marker, after = url.partition(_MARKER)
    if not marker or _MARKER in after or not before.rstrip("/"):
        raise ValueError(f"{viewname}: not a URL of one value after a fixed path")
    return before, after
