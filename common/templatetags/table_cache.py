"""``{% tablecache %}``: a part of a page rendered once per version of the tables it shows (common/table_cache.py).

    {% load table_cache %}
    {% tablecache "qos-class-list" "qos_storageqosclass" request.get_full_path %}
      ... the rows of the table ...
    {% endtablecache %}

The first argument names the part, the second lists the tables it reads (separated by spaces), the others are
what else it depends on (the query string, today's date ...). The user, the time zone and the language always
are: one user's copy is never shown to another. The view must hand the part lazy values (querysets,
``table_cache.Lazy``): on a hit nothing inside is evaluated, so none of its queries run. Nothing inside may
carry a CSRF token or a message.
"""

from __future__ import annotations

from typing import Any

from django import template
from django.template.base import FilterExpression, NodeList, Parser, Token
from django.utils import timezone, translation
from django.utils.safestring import SafeString, mark_safe

from common import table_cache

register = template.Library()


class TableCacheNode(template.Node):
    def __init__(
        self, nodelist: NodeList, name: FilterExpression, tables: FilterExpression, vary: list
    ) -> None:
        self.nodelist = nodelist
        self.name = name
        self.tables = tables
        self.vary = vary

    def render(self, context: template.Context) -> SafeString:
        name = str(self.name.resolve(context))
        tables = str(self.tables.resolve(context)).split()
        user = context.get("user") or getattr(context.get("request"), "user", None)
        vary: list[Any] = [
            getattr(user, "pk", None),
            timezone.get_current_timezone_name(),  # times are shown on the viewer's clock
            translation.get_language(),
            *(value.resolve(context) for value in self.vary),
        ]
        return mark_safe(  # noqa: S308 - the output of this template's own nodes, escaped as they render it
            table_cache.cached(f"tpl:{name}", tables, lambda: self.nodelist.render(context), vary=vary)
        )


@register.tag("tablecache")
def do_tablecache(parser: Parser, token: Token) -> TableCacheNode:
    bits = token.split_contents()
    if len(bits) < 3:
        raise template.TemplateSyntaxError(
            f"'{bits[0]}' takes a name, the tables it reads, then what it varies on."
        )
    nodelist = parser.parse(("endtablecache",))
    parser.delete_first_token()
    return TableCacheNode(
        nodelist,
        parser.compile_filter(bits[1]),
        parser.compile_filter(bits[2]),
        [parser.compile_filter(bit) for bit in bits[3:]],
    )
