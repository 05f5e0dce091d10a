"""The site's URL configuration: the order of its entries never changes what a path resolves to.

portal/urls.py puts the API before the includes with an empty prefix (they are tried pattern by pattern, which
made the API's URLs slow to resolve). That is safe only while no such include holds a URL that a prefixed entry
could answer too, and while each of its URLs starts with a word of its own.
"""

import re

import pytest
from django.urls import URLPattern, URLResolver, get_resolver, resolve

from portal import urls


def routes(patterns: list, prefix: str = "") -> list[str]:
    """Every leaf route under ``patterns``, from the site's root."""
    found = []
    for pattern in patterns:
        if isinstance(pattern, URLResolver):
            found += routes(pattern.url_patterns, prefix + str(pattern.pattern))
        elif isinstance(pattern, URLPattern):
            found.append(prefix + str(pattern.pattern))
    return found


def first_word(route: str) -> str:
    """The literal text a route starts with, up to its first slash or converter ("" when it has none)."""
    return re.match(r"[^/<^(\\]*", route.lstrip("^")).group()


def test_the_includes_without_a_prefix_hold_no_url_a_prefixed_entry_answers():
    entries = get_resolver(urls).url_patterns
    prefixed = {first_word(str(entry.pattern)) for entry in entries if str(entry.pattern)}
    unprefixed = [
        route
        for entry in entries
        if isinstance(entry, URLResolver) and not str(entry.pattern)
        for route in routes(entry.url_patterns)
    ]
    assert "actions/" in unprefixed and "experiments/" in unprefixed  # meetings and engagement are among them
    # Only the dashboard's route is empty: anything else starts with a word, which no prefixed entry uses.
    assert [route for route in unprefixed if not first_word(route)] == [""]
    assert not {first_word(route) for route in unprefixed if first_word(route)} & prefixed


@pytest.mark.parametrize(
    ("path", "view_name"),
    [
        ("/", "portal:dashboard"),
        ("/qos/", "qos:class-list"),
        ("/actions/", "meetings:action-list"),
        ("/requirements/", "engagement:requirement-list"),
        ("/account/", "iam:account"),
        ("/api/v1/", "api-root"),
        ("/api/v1/actions/", "action-list"),
        ("/api/v1/requirements/", "requirement-list"),
        ("/api/v1/rses/", "rse-list"),
        ("/api/schema/", "api-schema"),
        ("/accounts/login/", "login"),
    ],
)
def test_pages_and_api_lists_resolve_to_their_own_views(path, view_name):
    assert resolve(path).view_name == view_name
