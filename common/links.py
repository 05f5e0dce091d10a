"""Addresses the portal shows as links or sends people back to.

- A link that a user or an import stored (an Indico event, an attached link) is a link only when it is an https
  address: :func:`validate_https_link` refuses anything else where it is typed or imported, and
  :func:`is_https_link` decides, when a page is shown, whether a value stored before that check is a link or
  only text. A ``javascript:`` address would otherwise run in the portal's origin when clicked (only the
  Content-Security-Policy stops it), and a plain http one is readable and changeable on the way.
- Where a form sends the user back to (``next``) is a path of this site, never another site
  (:func:`same_site_target`): otherwise a crafted form posted from elsewhere would bounce a logged-in user to
  any address with the portal's name on the way.
"""

from __future__ import annotations

import re

from django.core.exceptions import ValidationError
from django.http import HttpRequest
from django.utils.http import url_has_allowed_host_and_scheme

# "https://" and a host, with nothing before it (browsers drop leading spaces and control characters, so a
# value like " javascript:" must not pass for anything) and no space or control character anywhere.
HTTPS_LINK = re.compile(r"https://[^/?#\s\x00-\x1f\x7f][^\s\x00-\x1f\x7f]*", re.IGNORECASE)

HTTPS_ONLY_MESSAGE = "Give an https address (https://…): the portal links only to https addresses."


def is_https_link(value: object) -> bool:
    """Whether ``value`` is an https address the portal may show as a link."""
    return isinstance(value, str) and HTTPS_LINK.fullmatch(value) is not None


def validate_https_link(value: str) -> None:
    """Refuse (ValidationError) a non-empty address that is not https."""
    if value and not is_https_link(value):
        raise ValidationError(HTTPS_ONLY_MESSAGE, code="https")


def same_site_target(request: HttpRequest, target: str | None, default: str) -> str:
    """``target`` when it leads to this site (a path, or this host over the request's own scheme), else
    ``default``: where to send the user back to after a form."""
    if target and url_has_allowed_host_and_scheme(target, {request.get_host()}, request.is_secure()):
        return target
    return default
