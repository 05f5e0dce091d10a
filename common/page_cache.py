"""Whole answers of GET pages and API lists from the table cache (common/table_cache.py), checked in one read.

A page that keeps its data in ``{% tablecache %}`` still cost every request four cache round trips (the
session, the user, the permissions, the part) and the rendering of the layout around the part: more than the
bare view (bench/README.md, the profile). :class:`PageCacheMiddleware` keeps the whole answer of a view that
opts in (:func:`page_cache`, or an API list of ``TableCachedListMixin``), and serves it after *one* read of the
cache that fetches together the session (the cache-backed session engines keep it there), the versions of the
view's tables and of the tables of users and permissions, and the entry. It is served only when all of these
hold, else the view runs as usual:

- the entry is this session's (its key holds the session key, the full path, the host, the ``Accept`` header,
  the time zone, the language and today's date) and the session still names the same user, through the same
  backend, with the same password hash (a new password, a logout, a flush: not served);
- none of the tables (the view's, ``auth_user``, groups and permissions: a new role shows at once) was written
  since the versions read *before* the answer was computed; not past its own expiry (an API list whose rows
  change with time alone) nor ``TABLE_CACHE_SECONDS``;
- no message is pending (a messages cookie, messages in the session), no ``Authorization`` header, no
  transaction that wrote.

An answer is kept only if it is a 200 that set no cookie, said nothing about caching, wrote nothing to the
session, and showed no message. Its CSRF tokens are taken out when it is kept and the requester's own put in
when it is served. Served answers go out through every middleware as any other (security headers, CSP,
``Cache-Control: private``, X-Frame-Options, the session's ``Vary: Cookie``); the request's user is the one
kept with the entry (as ``cached_user`` keeps it: no password hash), for whatever reads it after the view.

On only with the table cache and a session engine that keeps sessions in the same cache (``cached_db``, as
``portal/settings.py`` sets it with ``CACHE_URL``); otherwise it does nothing.
"""

from __future__ import annotations

import copy
import functools
import re
from collections.abc import Callable
from typing import Any, TypeVar

from django.conf import settings
from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY
from django.contrib.messages.storage.cookie import CookieStorage
from django.http import HttpRequest, HttpResponse, HttpResponseBase
from django.middleware.csrf import CSRF_TOKEN_LENGTH, _unmask_cipher_token, get_token
from django.utils import timezone, translation
from django.utils.crypto import constant_time_compare

from . import table_cache

V = TypeVar("V", bound=Callable[..., Any])

# Where a CSRF token was: no page holds a NUL byte, so none can be mistaken for it.
TOKEN_PLACEHOLDER = b"\x00csrf-token\x00"
_MASKED_TOKEN = re.compile(rb"(?<![A-Za-z0-9])[A-Za-z0-9]{%d}(?![A-Za-z0-9])" % CSRF_TOKEN_LENGTH)
_CACHE_SESSION_ENGINES = (
    "django.contrib.sessions.backends.cached_db",
    "django.contrib.sessions.backends.cache",
)
# Headers a view may set that say the answer is not the same for the next request.
_NOT_KEPT_WITH = ("Cache-Control", "Expires", "Set-Cookie", "Content-Disposition")
# What every page's answer depends on besides its own tables: who the user is and what they may do.
ALWAYS = ("auth_user", *table_cache.PERMISSION_SOURCES)


def page_cache(tables: str) -> Callable[[V], V]:
    """Keep the whole answer of a GET view until one of ``tables`` (space-separated: every table the page
    reads, as its ``{% tablecache %}`` names them) is written; see the module's docstring."""

    def decorate(view: V) -> V:
        view.page_cache_tables = tuple(tables.split())  # type: ignore[attr-defined]
        return view

    return decorate


def tables_of(view: Any) -> tuple[str, ...] | None:
    """The tables of a view that opted in; None for any other."""
    tables = getattr(view, "page_cache_tables", None)
    if tables is not None:
        return tables
    # A DRF router's view: a list of TableCachedListMixin names the tables of its rows.
    cls, actions = getattr(view, "cls", None), getattr(view, "actions", None) or {}
    if cls is not None and actions.get("get") == "list":
        from .api.cached_lists import TableCachedListMixin

        if issubclass(cls, TableCachedListMixin):
            return tuple(cls.cache_tables)
    return None


def enabled() -> bool:
    return (
        table_cache.enabled()
        and settings.SESSION_ENGINE in _CACHE_SESSION_ENGINES
        and getattr(settings, "SESSION_CACHE_ALIAS", "default") == "default"
    )


class PageCacheMiddleware:
    """Serves a kept answer from ``process_view`` (before the login check and the view), and keeps the answer
    of a view that opted in on the way out. Must come after the session, CSRF, authentication and messages
    middleware's request phases (any place after ``AuthenticationMiddleware``) and before
    ``LoginRequiredMiddleware`` in MIDDLEWARE: its ``process_view`` must run first."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponseBase]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponseBase:
        response = self.get_response(request)
        plan = request.__dict__.pop("_page_cache_plan", None)
        if plan is not None:
            _keep(request, response, *plan)
        return response

    def process_view(
        self, request: HttpRequest, view: Callable, args: Any, kwargs: Any
    ) -> HttpResponseBase | None:
        tables = tables_of(view)
        if tables is None or not _may_serve(request):
            return None
        session = request.session
        key = table_cache.entry_key(
            "page",
            [
                session.session_key,
                table_cache.secret_tag(),  # the session's password hash holds only under this SECRET_KEY
                request.get_full_path(),
                request.build_absolute_uri("/"),
                request.headers.get("Accept", ""),
                timezone.get_current_timezone_name(),
                translation.get_language(),
                timezone.localdate().isoformat(),  # what is overdue, and "today", change at midnight
            ],
        )
        version_keys = {
            table_cache.version_key(table): table
            for table in sorted({*tables, *ALWAYS, *table_cache.PERMISSION_TABLES, table_cache.EVERYTHING})
        }
        try:
            found = table_cache.read([session.cache_key, key, *version_keys])
        except Exception:
            return None  # the cache does not answer: the view runs, and reads what it needs its own way
        data = found.get(session.cache_key)
        if not isinstance(data, dict) or SESSION_KEY not in data or "_messages" in data:
            return None
        if not hasattr(session, "_session_cache"):
            session._session_cache = data  # what SessionBase would load itself: saves it a round trip
        current = {table: found.get(version_key, "") for version_key, table in version_keys.items()}
        entry = found.get(key)
        if entry is not None and _still_holds(entry, data, current):
            return _serve(request, entry)
        request._page_cache_plan = (key, current, data)  # type: ignore[attr-defined]
        return None


def _may_serve(request: HttpRequest) -> bool:
    return (
        request.method == "GET"
        and enabled()
        and "Authorization" not in request.headers
        and getattr(request, "session", None) is not None
        and getattr(request.session, "cache_key", None) is not None
        and request.session.session_key is not None
        and CookieStorage.cookie_name not in request.COOKIES
        and not table_cache.wrote_uncommitted()
    )


def _still_holds(entry: dict[str, Any], data: dict[str, Any], current: dict[str, str]) -> bool:
    return (
        entry["versions"] == current
        and str(data.get(SESSION_KEY)) == entry["user_id"]
        and data.get(BACKEND_SESSION_KEY) == entry["backend"]
        and entry["backend"] in settings.AUTHENTICATION_BACKENDS
        and constant_time_compare(str(data.get(HASH_SESSION_KEY, "")), entry["session_hash"])
        and (entry["until"] is None or timezone.now().timestamp() < entry["until"])
    )


def _serve(request: HttpRequest, entry: dict[str, Any]) -> HttpResponse:
    request.session.accessed = True  # as reading the user would have: the answer varies with the cookie
    user = entry["user"]
    user.get_session_auth_hash = functools.partial(str, entry["session_hash"])
    request._cached_user = user  # type: ignore[attr-defined] # AuthenticationMiddleware's lazy user takes it
    body = entry["body"]
    if TOKEN_PLACEHOLDER in body:
        body = body.replace(TOKEN_PLACEHOLDER, get_token(request).encode())
    response = HttpResponse(body, status=200)
    for name, value in entry["headers"]:
        response.headers[name] = value
    return response


def _keep(
    request: HttpRequest, response: HttpResponseBase, key: str, current: dict[str, str], data: dict[str, Any]
) -> None:
    user = getattr(request, "user", None)
    session_hash = str(data.get(HASH_SESSION_KEY, ""))
    if not _may_keep(request, response) or not _same_user(user, data, session_hash):
        return
    kept_user = copy.copy(getattr(user, "_wrapped", user))
    for name in ("password", "get_session_auth_hash", "_perm_cache", "_user_perm_cache", "_group_perm_cache"):
        kept_user.__dict__.pop(name, None)  # no hash in the cache; lazy permissions are per request
    entry = {
        "versions": current,
        "user_id": str(user.pk),
        "backend": data.get(BACKEND_SESSION_KEY),
        "session_hash": session_hash,
        "user": kept_user,
        "until": getattr(request, "page_cache_until", None),
        "headers": [(name, value) for name, value in response.items() if name.lower() != "content-length"],
        "body": _without_tokens(response.content, request.META.get("CSRF_COOKIE")),
    }
    table_cache.store(key, entry)


def _may_keep(request: HttpRequest, response: HttpResponseBase) -> bool:
    """Whether the answer is the same for the next request of this session: a plain 200 of a request that
    changed nothing."""
    return not (
        response.status_code != 200
        or response.streaming
        or response.cookies
        or any(response.has_header(name) for name in _NOT_KEPT_WITH)
        or request.session.modified
        or _showed_messages(request)
        or table_cache.wrote_uncommitted()
    )


def _same_user(user: Any, data: dict[str, Any], session_hash: str) -> bool:
    """Whether the answer was made for the user the session names, with the session's password hash."""
    return (
        user is not None
        and user.is_authenticated
        and str(user.pk) == str(data.get(SESSION_KEY))
        and constant_time_compare(user.get_session_auth_hash(), session_hash)
    )


def _showed_messages(request: HttpRequest) -> bool:
    storage = getattr(request, "_messages", None)
    return storage is not None and bool(
        getattr(storage, "used", False) or getattr(storage, "_queued_messages", None)
    )


def _without_tokens(body: bytes, secret: str | None) -> bytes:
    """``body`` with every CSRF token of ``secret`` (each masked differently) replaced by the placeholder."""
    if not secret:
        return body

    def replace(match: re.Match[bytes]) -> bytes:
        token = match.group()
        return TOKEN_PLACEHOLDER if _unmask_cipher_token(token.decode()) == secret else token

    return _MASKED_TOKEN.sub(replace, body)
