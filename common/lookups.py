"""Lookups of the project: text lookups that match nothing for a value with a NUL character instead of failing
on PostgreSQL, and ``__any``, a list of keys as one parameter.

PostgreSQL cannot hold NUL (``\\x00``) in text, and psycopg refuses to send it: a query such as
``Experiment.objects.get(short_name="CTA\\x00")`` raises ``DataError``, a server error. Django's and DRF's
``CharField`` refuse NUL in what is stored, but a value that is only looked up — an RSE name in a URL, a
class label in a filter or a ``SlugRelatedField`` — reaches the database as it came. No stored text contains
NUL, so such a lookup has no match: it says so (404, "no such object", an empty list) on every database.
"""

from __future__ import annotations

import contextlib
from typing import Any

from django.core.exceptions import EmptyResultSet
from django.db.models import CharField, ForeignKey, IntegerField, TextField, lookups


def _has_nul(value: Any) -> bool:
    return isinstance(value, str) and "\x00" in value


class _NulMatchesNothing:
    def as_sql(self, compiler: Any, connection: Any) -> Any:
        if self.rhs_is_direct_value() and _has_nul(self.rhs):
            raise EmptyResultSet
        return super().as_sql(compiler, connection)


class NulSafeExact(_NulMatchesNothing, lookups.Exact):
    pass


class NulSafeIExact(_NulMatchesNothing, lookups.IExact):
    pass


class NulSafeContains(_NulMatchesNothing, lookups.Contains):
    pass


class NulSafeIContains(_NulMatchesNothing, lookups.IContains):
    pass


class NulSafeStartsWith(_NulMatchesNothing, lookups.StartsWith):
    pass


class NulSafeIStartsWith(_NulMatchesNothing, lookups.IStartsWith):
    pass


class NulSafeEndsWith(_NulMatchesNothing, lookups.EndsWith):
    pass


class NulSafeIEndsWith(_NulMatchesNothing, lookups.IEndsWith):
    pass


class NulSafeIn(lookups.In):
    """``__in``: values with NUL are left out (and no value left is no match, as for an empty list)."""

    def get_prep_lookup(self) -> Any:
        if self.rhs_is_direct_value() and not isinstance(self.rhs, str):
            # Not iterable: left as it is, for Django to say what is wrong.
            with contextlib.suppress(TypeError):
                self.rhs = [value for value in self.rhs if not _has_nul(value)]
        return super().get_prep_lookup()


LOOKUPS = [
    NulSafeExact,
    NulSafeIExact,
    NulSafeContains,
    NulSafeIContains,
    NulSafeStartsWith,
    NulSafeIStartsWith,
    NulSafeEndsWith,
    NulSafeIEndsWith,
    NulSafeIn,
]


class AnyOf(lookups.Lookup):
    """``pk__any=[1, 2, ...]``, ``rse_id__any=...``: the rows whose integer key is one of these.

    As ``__in``, but on PostgreSQL ``= ANY(%s)`` with the list as one array parameter. An ``__in`` of 500 keys
    is a query of 500 placeholders, a text that differs with the count: psycopg splits it anew and Django
    prepares each value, 4-5 ms of CPU for 1,000 keys, paid by every bulk step of a push (the claim, the
    superseding, the recording). One array is one placeholder, and the text, the same for any count, is
    parsed once. Elsewhere (SQLite) an IN list.
    """

    lookup_name = "any"
    prepare_rhs = False

    def get_prep_lookup(self) -> list[int]:
        return [int(getattr(value, "pk", value)) for value in self.rhs]

    def as_sql(self, compiler: Any, connection: Any) -> tuple[str, tuple[Any, ...]]:
        lhs, lhs_params = self._lhs(compiler, connection)
        return f"{lhs} IN ({', '.join(['%s'] * len(self.rhs))})", (*lhs_params, *self.rhs)

    def as_postgresql(self, compiler: Any, connection: Any) -> tuple[str, tuple[Any, ...]]:
        lhs, lhs_params = self._lhs(compiler, connection)
        return f"{lhs} = ANY(%s::bigint[])", (*lhs_params, self.rhs)

    def _lhs(self, compiler: Any, connection: Any) -> tuple[str, Any]:
        if not self.rhs:
            raise EmptyResultSet  # no key, no row: no query at all
        return self.process_lhs(compiler, connection)


def register() -> None:
    """Put the lookups in place of Django's on every text field (CharField covers SlugField, EmailField...),
    and ``__any`` on integer keys (IntegerField covers the auto fields) and foreign keys."""
    for field in (CharField, TextField):
        for lookup in LOOKUPS:
            field.register_lookup(lookup)
    for field in (IntegerField, ForeignKey):
        field.register_lookup(AnyOf)
