"""Text lookups that match nothing for a value with a NUL character, instead of failing on PostgreSQL.

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
from django.db.models import CharField, TextField, lookups


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


def register() -> None:
    """Put the lookups in place of Django's on every text field (CharField covers SlugField, EmailField...)."""
    for field in (CharField, TextField):
        for lookup in LOOKUPS:
            field.register_lookup(lookup)
