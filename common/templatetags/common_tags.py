from typing import Any

from django import template
from django.utils.html import format_html
from django.utils.safestring import SafeString

from common.links import is_https_link
from common.markdown import render_markdown

register = template.Library()


@register.filter(name="markdown")
def markdown_filter(text: str) -> SafeString:
    return render_markdown(text)


@register.simple_tag(takes_context=True)
def query_transform(context: dict[str, Any], **kwargs: Any) -> str:
    """The current query string with some parameters replaced (keeps filters across pages)."""
    params = context["request"].GET.copy()
    for key, value in kwargs.items():
        if value in (None, ""):
            params.pop(key, None)
        else:
            params[key] = value
    return params.urlencode()


@register.simple_tag
def https_link(url: str, text: str = "") -> SafeString:
    """A link to ``url`` named ``text`` (default: the address) when it is an https address; otherwise plain
    text, the address after the name, so that a link stored before the portal checked them (``javascript:``,
    plain http) is shown but never followed by a click."""
    text = text or url
    if is_https_link(url):
        return format_html('<a href="{}" rel="noopener noreferrer">{}</a>', url, text)
    if text == url:
        return format_html("{}", url)
    return format_html('{} <span class="muted">{}</span>', text, url)


SI_UNITS = ("B", "kB", "MB", "GB", "TB", "PB", "EB")


@register.filter
def bytes_si(value: int | None) -> str:
    """Bytes in decimal units, as storage is sold and reported (1 TB = 10¹² bytes, where ``filesizeformat``
    says TiB-sized "TB"): "50 TB", "1.5 GB". None is "unknown", never 0."""
    if value is None or value == "":
        return "unknown"
    size = abs(int(value))
    unit = 0
    while size >= 1000 and unit < len(SI_UNITS) - 1:
        size /= 1000
        unit += 1
    number = f"{size:.1f}".removesuffix(".0") if unit and size < 10 else f"{size:.0f}"
    return f"{'-' if int(value) < 0 else ''}{number} {SI_UNITS[unit]}"
