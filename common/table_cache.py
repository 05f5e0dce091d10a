"""A cache that never serves what a write has changed: each entry is stored under the versions of the database
tables it was computed from, and every write to a table gives the table a new version.

Every INSERT, UPDATE and DELETE that Django sends to the database (model saves, bulk operations, queryset
updates, raw SQL through Django's connection, in any process: web, Celery worker, management command) gives
its table a new version in the shared cache, once at once and once more when the transaction commits. The
first makes a transaction read its own writes; the second retires what another process may have cached in
between from the data as it was before the commit. A reader asks :func:`cached` (or the ``{% tablecache %}``
tag, ``common/templatetags/table_cache.py``) with the tables a value is computed from: an entry keeps the
versions they had *before* it was computed, and is served only while they are still current. A transaction
that has written something neither reads nor stores entries (a rollback gives no table a new version). This
relies on PostgreSQL's READ COMMITTED, Django's default: each query sees what was committed before it.

The rule for whoever caches something: name every table it reads, many-to-many tables included (a list of
actions shows their owners: ``portal_action_owners`` and ``portal_person``). Every key also carries the
tables of users' groups and permissions, and the entry for one user is never served to another.

On only with a cache every process shares (``TABLE_CACHE``, on by default when ``CACHE_URL`` names Redis):
with Django's default per-process memory cache, a write in one process could not retire what another cached.
``TABLE_CACHE_SECONDS`` bounds how long an entry lives anyway: a write from outside Django (psql) or a cache
that lost a version is seen after that long at most. When the cache does not answer, values are computed
as if nothing were cached.
"""

from __future__ import annotations

import functools
import hashlib
import logging
import operator
import re
import secrets
import threading
import time
from collections.abc import Callable, Iterable
from typing import Any, TypeVar

from django.conf import settings
from django.core import checks
from django.core.cache import cache
from django.db import DEFAULT_DB_ALIAS, connections
from django.db.backends.signals import connection_created
from django.utils.functional import SimpleLazyObject, new_method_proxy

logger = logging.getLogger(__name__)

T = TypeVar("T")

# The tables behind what a user may see: part of every key, so that a change of roles shows at once.
PERMISSION_TABLES = ("auth_user_groups", "auth_user_user_permissions", "auth_group_permissions")
# A write whose table is not recognised (TRUNCATE of several, say) changes this one, in every key.
EVERYTHING = "*"

_WRITE_VERB = re.compile(r"\s*(?:INSERT|UPDATE|DELETE|TRUNCATE|REPLACE|MERGE)\b", re.IGNORECASE)
_WRITE = re.compile(r'\s*(?:INSERT\s+INTO|UPDATE|DELETE\s+FROM)\s+[`"]?([A-Za-z0-9_]+)', re.IGNORECASE)
_MISSING = object()
_local = threading.local()


def enabled() -> bool:
    return bool(getattr(settings, "TABLE_CACHE", False))


VERSION_PREFIX = "table-version:"


def version_key(table: str) -> str:
    return f"{VERSION_PREFIX}{table}"


def _new_version() -> str:
    # Never the same twice, even if a version is lost and made again (a counter would start over).
    return f"{time.time_ns():x}{secrets.token_hex(4)}"


def read(keys: list[str]) -> dict[str, Any]:
    """The values of ``keys`` (one round trip); a table version missing (new, or lost) is made first."""
    found = cache.get_many(keys)
    missing = [key for key in keys if key not in found and key.startswith(VERSION_PREFIX)]
    if missing:
        for key in missing:
            cache.add(key, _new_version(), timeout=None)  # add: whoever comes first sets it
        found.update(cache.get_many(missing))
    return found


def bump(tables: Iterable[str]) -> None:
    """Give tables new versions: every entry computed from them is retired."""
    if getattr(_local, "bumping", False):
        return  # the cache itself writing to a database (a database cache backend) changes nothing here
    _local.bumping = True
    try:
        cache.set_many({version_key(table): _new_version() for table in tables}, timeout=None)
    except Exception as error:  # the cache is down: then nothing is served from it either
        logger.warning("Could not give tables %s new versions: %s", sorted(tables), type(error).__name__)
    finally:
        _local.bumping = False


def entry_key(name: str, vary: Iterable[Any] = ()) -> str:
    digest = hashlib.sha256(repr([str(value) for value in vary]).encode()).hexdigest()
    return f"table-cache:{name}:{digest[:40]}"


def cached(
    name: str,
    tables: Iterable[str],
    compute: Callable[[], T],
    vary: Iterable[Any] = (),
    fresh: Callable[[T], bool] | None = None,
) -> T:
    """``compute()``, or what it returned before if none of ``tables`` was written since.

    ``vary``: everything else the value depends on (the user, the query string, today's date ...). ``fresh``:
    for a value that also changes with time alone, whether a stored one still holds (else it is computed
    again). An entry holds the versions of its tables read *before* it was computed, and is served only while
    they are still the current ones: one round trip to the cache reads both.
    """
    if not enabled() or wrote_uncommitted():
        return compute()
    key = entry_key(name, vary)
    version_keys = {version_key(table): table for table in sorted({*tables, *PERMISSION_TABLES, EVERYTHING})}
    try:
        found = read([key, *version_keys])
    except Exception as error:
        logger.warning("Table cache unavailable (%s): computing %s", type(error).__name__, name)
        return compute()
    current = {table: found.get(version_key, "") for version_key, table in version_keys.items()}
    entry = found.get(key)
    if entry is not None and entry[0] == current and (fresh is None or fresh(entry[1])):
        return entry[1]
    value = compute()
    store(key, (current, value))
    return value


def store(key: str, value: Any) -> None:
    """Keep ``value`` (which holds the versions it was computed from) for ``TABLE_CACHE_SECONDS`` at most."""
    try:
        cache.set(key, value, timeout=settings.TABLE_CACHE_SECONDS)
    except Exception as error:
        logger.warning("Could not store %s in the table cache: %s", key, type(error).__name__)


# --- seeing every write ----------------------------------------------------------------------------------
def written_table(sql: str) -> str | None:
    """The table an INSERT, UPDATE or DELETE writes; ``EVERYTHING`` for another write; None for a read."""
    if not _WRITE_VERB.match(sql):
        return None
    match = _WRITE.match(sql)
    return match.group(1) if match else EVERYTHING


def _on_execute(execute: Callable, sql: str, params: Any, many: bool, context: dict[str, Any]) -> Any:
    result = execute(sql, params, many, context)
    if enabled():
        table = written_table(sql)
        if table is not None:
            bump([table])
            connection = context["connection"]
            if connection.in_atomic_block:
                _bump_on_commit(connection, table)
    return result


def wrote_uncommitted() -> bool:
    """Whether this thread's transaction has written something it has not committed yet. Then nothing is read
    from the cache (an entry made elsewhere lacks those writes) and nothing is stored in it (the writes may
    still be rolled back, and a rollback gives no table a new version)."""
    connection = connections[DEFAULT_DB_ALIAS]
    return connection.in_atomic_block and any(
        getattr(callback, "tables", None) for _savepoints, callback, _robust in connection.run_on_commit
    )


def _bump_on_commit(connection: Any, table: str) -> None:
    """Once per table and transaction: a new version when the transaction commits."""
    for _savepoints, callback, _robust in connection.run_on_commit:
        tables = getattr(callback, "tables", None)
        if tables is not None:
            tables.add(table)
            return

    def after_commit() -> None:
        bump(after_commit.tables)

    after_commit.tables = {table}
    connection.on_commit(after_commit)


def _watch(connection: Any) -> None:
    if _on_execute not in connection.execute_wrappers:
        connection.execute_wrappers.append(_on_execute)


def _on_connection_created(sender: Any, connection: Any, **kwargs: Any) -> None:
    _watch(connection)


def install() -> None:
    """See every write of every database connection of this process (from ``PortalConfig.ready()``)."""
    connection_created.connect(_on_connection_created, dispatch_uid="common.table_cache")
    for connection in connections.all(initialized_only=True):
        _watch(connection)


@checks.register(checks.Tags.caches)
def check_shared_cache(app_configs: Any = None, **kwargs: Any) -> list[checks.CheckMessage]:
    """The table cache is safe only with a cache every process shares."""
    backend = settings.CACHES.get("default", {}).get("BACKEND", "")
    if enabled() and backend.endswith(("LocMemCache", "DummyCache", "FileBasedCache")):
        return [
            checks.Warning(
                "TABLE_CACHE is on with a cache of each process alone: a write in one process would not retire "
                "what another cached.",
                hint="Set CACHE_URL=redis://... for every web and worker process, or TABLE_CACHE=0.",
                id="portal.W101",
            )
        ]
    return []


# --- permissions -------------------------------------------------------------------------------------------
# What ModelBackend reads to find a user's permissions.
PERMISSION_SOURCES = (
    "auth_user",
    "auth_group",
    "auth_permission",
    "django_content_type",
    *PERMISSION_TABLES,
)


class PermissionCacheMiddleware:
    """A logged-in user's permissions from the table cache, not from two queries on every request.

    Fills the per-request caches Django's ModelBackend keeps on the user object (``_perm_cache`` ...) with
    lazy values: nothing is read until a permission is asked for, and then one cache lookup. Does nothing
    while the table cache is off.
    """

    def __init__(self, get_response: Callable) -> None:
        self.get_response = get_response

    def __call__(self, request: Any) -> Any:
        user = getattr(request, "user", None)
        if enabled() and user is not None:
            # Lazily: a page served whole from the cache (common/page_cache.py) never loads the user.
            request.user = SimpleLazyObject(lambda: _with_permissions(user))
        return self.get_response(request)


def _with_permissions(user: Any) -> Any:
    user = getattr(user, "_wrapped", user) if user.is_authenticated else user  # evaluates a lazy user
    if user.is_authenticated and not hasattr(user, "_perm_cache"):
        both = SimpleLazyObject(lambda: _permissions(user))
        user._user_perm_cache = SimpleLazyObject(lambda: both[0])
        user._group_perm_cache = SimpleLazyObject(lambda: both[1])
        user._perm_cache = SimpleLazyObject(lambda: both[0] | both[1])
    return user


def _permissions(user: Any) -> tuple[set[str], set[str]]:
    from django.contrib.auth import get_user_model
    from django.contrib.auth.backends import ModelBackend

    def load() -> tuple[set[str], set[str]]:
        # Read for a fresh copy of the user: the one of the request already holds the lazy values.
        fresh = get_user_model()._default_manager.get(pk=user.pk)
        backend = ModelBackend()
        return set(backend.get_user_permissions(fresh)), set(backend.get_group_permissions(fresh))

    return cached("permissions", PERMISSION_SOURCES, load, vary=[user.pk])


# The user of a session: the rows whose writes retire it (PERMISSION_TABLES are in every key anyway).
USER_SOURCES = ("auth_user",)


def cached_user(user_id: Any, load: Callable[[], Any]) -> Any:
    """The user of a session from the table cache, instead of a query on every request; ``load``: the
    authentication backend's own lookup (a user, or None when there is none or it may not log in), run when no
    entry is kept or auth_user was written since (a deactivation, a new password: they show at once).

    The entry holds no password hash: the user served has ``password`` as a deferred field (read from the
    database should anything ask for it, and never written back by its ``save()``), and answers
    ``get_session_auth_hash()``, the session's check, with the value computed when it was loaded. The key
    varies with SECRET_KEY, which that value depends on.
    """
    if not enabled():
        return load()

    def compute() -> tuple[Any, str] | None:
        user = load()
        if user is None:
            return None
        session_hash = user.get_session_auth_hash()
        user.__dict__.pop("password", None)  # deferred from now on
        return user, session_hash

    found = cached("user", USER_SOURCES, compute, vary=[user_id, secret_tag()])
    if found is None:
        return None
    user, session_hash = found
    # An instance attribute, picklable, in front of the method that would read the password.
    user.get_session_auth_hash = functools.partial(str, session_hash)
    return user


@functools.lru_cache(maxsize=4)
def _tag_of(secret_key: str) -> str:
    return hashlib.sha256(f"common.table_cache.cached_user:{secret_key}".encode()).hexdigest()[:16]


def secret_tag() -> str:
    """A tag of SECRET_KEY, for the keys of what is valid only under it (sessions' password hashes)."""
    return _tag_of(settings.SECRET_KEY)


class Lazy(SimpleLazyObject):
    """A value computed when first used, then kept: for what a view hands a ``{% tablecache %}`` part, which a
    hit never evaluates. Unlike ``SimpleLazyObject`` it also passes for a number (``|pluralize``, ``>=``)."""

    __float__ = new_method_proxy(float)
    __int__ = new_method_proxy(int)
    __index__ = new_method_proxy(operator.index)
    __ge__ = new_method_proxy(operator.ge)
    __le__ = new_method_proxy(operator.le)
