import functools

from django.http import HttpRequest
from django.urls import NoReverseMatch, get_script_prefix, get_urlconf, reverse

# (label, URL name) of the main navigation. An entry whose page is not installed yet is left out, so the
# menu never links to a 404.
# Pages whose address is under no entry's but belong to one: the entry they count as.
BELONGS_TO = {"qos:rse-expression": "qos:rse-list"}
NAVIGATION = [
    ("Dashboard", "portal:dashboard"),
    ("QoS catalogue", "qos:class-list"),
    ("RSEs", "qos:rse-list"),
    ("Experiments", "engagement:experiment-list"),
    ("Requirements", "engagement:requirement-list"),
    ("Meetings", "meetings:meeting-list"),
    ("Actions", "meetings:action-list"),
    ("API", "api-docs"),
]


@functools.lru_cache(maxsize=16)
def _navigation_links(urlconf: str | None = None, prefix: str = "/") -> tuple[tuple[str, str], ...]:
    # Computed once per URL configuration and script prefix: reversing them cost every page eight lookups.
    links = []
    for label, name in NAVIGATION:
        try:
            links.append((label, reverse(name)))
        except NoReverseMatch:
            continue
    return tuple(links)


@functools.lru_cache(maxsize=16)
def _belonging(urlconf: str | None = None, prefix: str = "/") -> tuple[tuple[str, str], ...]:
    """(the page's path, its entry's path) for each page of BELONGS_TO that is installed."""
    pairs = []
    for page, entry in BELONGS_TO.items():
        try:
            pairs.append((reverse(page), reverse(entry)))
        except NoReverseMatch:
            continue
    return tuple(pairs)


def navigation(request: HttpRequest) -> dict:
    links = _navigation_links(get_urlconf(), get_script_prefix())
    path = request.path
    path = next(
        (entry for page, entry in _belonging(get_urlconf(), get_script_prefix()) if path == page), path
    )
    # "/" is the dashboard only, not the prefix of every page outside the menu (e.g. /account/).
    current = max(
        (url for _, url in links if path == url or (url != "/" and path.startswith(url))),
        key=len,
        default=None,
    )
    return {"navigation": [(label, url, url == current) for label, url in links]}
