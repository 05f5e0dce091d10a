"""RSE expressions (``QOS=SAFE&country=DE``), evaluated two ways: by Rucio, and by the portal over what it knows.

Rucio selects the RSEs of a replication rule with an RSE expression. The portal asks Rucio (through the gateway's
``list_rses``) and also evaluates the expression itself over the attributes it knows of each RSE, to show where
the two differ: a push Rucio still answers from its cache, a push not sent yet or failed, an attribute changed
in Rucio behind the portal's back.

The grammar is Rucio's own, as its server implements it (``rucio/core/rse_expression_parser.py``, rucio 41.5):

* a *term* is ``key=value``, ``key<number``, ``key>number``, a bare ``NAME`` (the RSEs whose attribute ``NAME``
  is true: every RSE carries its own name so), or ``*`` (every RSE); keys are letters, digits, ``.``, ``_`` and
  ``-``, values letters, digits, ``_`` and ``-``; a bare name is words of letters and digits joined by single
  ``_`` or ``-``;
* operators ``&`` (intersection), ``|`` (union) and ``\\`` (complement: ``A\\B`` is A without B), all of one
  precedence and read **left to right**: ``A|B&C`` is ``(A|B)&C``; parentheses group;
* there is no ``!=``, no spaces, no quotes, no decimal point in a value (``key<1.5`` is a syntax error);
* ``key<n`` / ``key>n`` compare the attribute as a number (``float``; ``true`` counts as 1), RSEs whose value is
  no number are left out; ``key=value`` compares text, except that ``true`` and ``false`` match in any case;
* a key that is a column of Rucio's RSE table (``rse_type``, ``country_name``, ``availability_write``, ...)
  compares that property of the RSE, not an attribute: the portal does not read those, so it cannot evaluate
  such an expression (:attr:`Evaluation.unknown_keys`).

Syntax is checked exactly as Rucio checks it (balanced parentheses, then the same regular expression), so both
refuse the same expressions with the same words.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from django.conf import settings

from .choices import SyncState
from .rucio_gateway import PermanentRucioError, RucioError, RucioGateway

if TYPE_CHECKING:
    from .models import RSE, RucioInstance

# Rucio's own patterns (rse_expression_parser.py), so that a syntax error here is one there.
_BARE_NAME = r"([A-Za-z0-9]+([_-][A-Za-z0-9]+)*)"
_COMPARISON = r"([A-Za-z0-9\._-]+[=<>][A-Za-z0-9_-]+)"
_PRIMITIVE = r"(\(*(%s|%s|%s)\)*)" % (_COMPARISON, _BARE_NAME, r"\*")  # noqa: UP031 - as Rucio writes it
_PATTERN = re.compile(r"^%s((\|%s)|(\&%s)|(\\%s))*" % ((_PRIMITIVE,) * 4))
_TERM = re.compile(r"%s|%s|\*" % (_COMPARISON, _BARE_NAME))  # noqa: UP031 - a primitive without parentheses

# Rucio's messages (the ``Details:`` of its InvalidRSEExpression).
PARENTHESES = "Problem with parentheses."
SYNTAX = "Expression does not comply to RSE Expression syntax"
# The Rucio version whose grammar this module follows.
RUCIO_GRAMMAR = "41.5"
# Longest expression the portal sends to Rucio: Rucio has no limit, but a URL has.
MAX_LENGTH = 1000

# Columns of Rucio's RSE table (rucio/db/sqla/models.py, class RSE): a filter on one of these compares the
# property, not an attribute (rucio/core/rse.py, list_rses).
RSE_PROPERTIES = frozenset(
    {
        "id",
        "rse",
        "vo",
        "rse_type",
        "deterministic",
        "volatile",
        "staging_area",
        "city",
        "region_code",
        "country_name",
        "continent",
        "time_zone",
        "ISP",
        "ASN",
        "longitude",
        "latitude",
        "availability",
        "availability_read",
        "availability_write",
        "availability_delete",
        "usage",
        "qos_class",
        "deleted",
        "deleted_at",
        "created_at",
        "updated_at",
    }
)

Attributes = Mapping[str, Mapping[str, str]]  # {RSE name: {key: value as text}}


class InvalidExpression(ValueError):
    """An expression Rucio's grammar refuses; the message is Rucio's. ``by_rucio``: Rucio itself refused it,
    rather than the portal's reading of its grammar (when Rucio could not be asked)."""

    def __init__(self, message: str, *, by_rucio: bool = False) -> None:
        super().__init__(message)
        self.by_rucio = by_rucio

    def explained(self) -> str:
        """The refusal in the users' words, saying whose it is."""
        if self.by_rucio:
            return f"Rucio refused this expression: {self}"
        return f"Not an RSE expression in Rucio's grammar (as the portal reads it; Rucio could not be asked): {self}"


@dataclass(frozen=True)
class Evaluation:
    """The RSEs an expression selects, and the keys the portal cannot evaluate (Rucio RSE properties)."""

    rses: frozenset[str]
    unknown_keys: frozenset[str] = frozenset()

    @property
    def known(self) -> bool:
        return not self.unknown_keys


def check_syntax(expression: str) -> None:
    """Refuse what Rucio refuses as Rucio does: balanced parentheses first, then its regular expression."""
    depth = 0
    for char in expression:
        depth += {"(": 1, ")": -1}.get(char, 0)
        if depth < 0:
            raise InvalidExpression(PARENTHESES)
    if depth:
        raise InvalidExpression(PARENTHESES)
    match = _PATTERN.match(expression)
    if match is None or match.group() != expression:
        raise InvalidExpression(SYNTAX)


def evaluate(expression: str, attributes: Attributes) -> Evaluation:
    """The RSEs of ``attributes`` that ``expression`` selects, by Rucio's rules (see the module's docstring).

    ``attributes`` maps each RSE's name to its attributes as text (booleans as ``true``/``false``); every RSE
    carries its own name as an attribute in Rucio, and is given it here if missing. Raises InvalidExpression.
    """
    check_syntax(expression)
    rses = {name: {name: "true", **attrs} for name, attrs in attributes.items()}
    parser = _Parser(expression, rses)
    selected = parser.term()
    return Evaluation(frozenset(selected), frozenset(parser.unknown_keys))


class _Parser:
    """Recursive descent over a syntactically valid expression: term := primary (op primary)*, left to right;
    primary := '(' term ')' | primitive. The sets are evaluated as they are read."""

    def __init__(self, expression: str, rses: Mapping[str, Mapping[str, str]]) -> None:
        self.text = expression
        self.pos = 0
        self.rses = rses
        self.unknown_keys: set[str] = set()

    def term(self) -> set[str]:
        left = self.primary()
        operations: dict[str, Callable[[set[str], set[str]], set[str]]] = {
            "&": set.intersection,
            "|": set.union,
            "\\": set.difference,
        }
        while self.pos < len(self.text) and self.text[self.pos] in operations:
            operation = operations[self.text[self.pos]]
            self.pos += 1
            left = operation(left, self.primary())
        return left

    def primary(self) -> set[str]:
        if self.text[self.pos] == "(":
            self.pos += 1
            inner = self.term()
            self.pos += 1  # the ")" (check_syntax found the parentheses balanced)
            return inner
        match = _TERM.match(self.text, self.pos)
        assert match is not None, "check_syntax let through an expression that is not Rucio's"
        self.pos = match.end()
        return self.select(match.group())

    def select(self, primitive: str) -> set[str]:
        """The RSEs one term selects, as Rucio resolves it (``__resolve_primitive_expression``)."""
        if primitive == "*":
            return set(self.rses)
        for operator in "=<>":
            if operator in primitive:
                key, value = primitive.split(operator)[:2]
                break
        else:
            key, operator, value = primitive, "=", "true"
        if key in RSE_PROPERTIES and operator == "=":
            self.unknown_keys.add(key)
            return set()
        if operator == "=":
            wanted = _as_compared(value)
            return {
                name
                for name, attrs in self.rses.items()
                if key in attrs and _as_compared(attrs[key]) == wanted
            }
        return {
            name
            for name, attrs in self.rses.items()
            if key in attrs and _compares(attrs[key], operator, value)
        }


def _as_compared(value: str) -> str:
    # Rucio stores and compares booleans as lower-case text, whatever case the expression used.
    return value.lower() if value.lower() in ("true", "false") else value


def _compares(held: str, operator: str, value: str) -> bool:
    """``held < value`` or ``held > value`` as numbers, as Rucio does (``float``, which reads a boolean as 0 or
    1); False when either is no number."""
    numbers = {"true": 1.0, "false": 0.0}
    try:
        left = numbers.get(held.lower())
        left = float(held) if left is None else left
        right = float(value)
    except ValueError:
        return False
    return left < right if operator == "<" else left > right


# --- The portal's knowledge of RSEs, and the comparison with Rucio ------------------------------------------


def known_attributes(rses: Iterable[RSE]) -> dict[str, dict[str, str]]:
    """What the portal knows of each RSE's attributes in Rucio: those read at the last sync (or written by the
    last push), with the instance's key (``QOS``) as the portal wants it: the class it pushed or is pushing,
    absent when it wants none. RSEs Rucio no longer lists are left out, as Rucio leaves them out."""
    known = {}
    for rse in rses:
        if rse.missing_in_rucio:
            continue
        attrs = dict(rse.rucio_attributes)
        key = rse.instance.attribute_key
        attrs.pop(key, None)
        if rse.desired_value is not None:
            attrs[key] = rse.desired_value
        known[rse.name] = attrs
    return known


@dataclass(frozen=True)
class Difference:
    """An RSE one evaluation selects and the other does not, and why that may be."""

    rse: str
    in_rucio: bool
    in_portal: bool
    reason: str


@dataclass
class Comparison:
    """An expression evaluated by Rucio and by the portal on one instance.

    ``rucio`` is None when Rucio could not be asked (``rucio_error`` says why); ``portal`` is None when the
    expression uses RSE properties the portal does not read (``unknown_keys``), or grammar the portal's reading
    of Rucio's does not know (``portal_error``).
    """

    expression: str
    instance: RucioInstance
    portal: list[str] | None
    portal_error: str = ""
    rucio: list[str] | None = None
    rucio_error: str = ""
    unknown_keys: list[str] = field(default_factory=list)
    differences: list[Difference] = field(default_factory=list)
    #: RSEs pushed so recently that Rucio may answer from its cache.
    recently_pushed: list[str] = field(default_factory=list)

    @property
    def agrees(self) -> bool | None:
        """Whether both selected the same RSEs; None when one of them could not tell."""
        if self.rucio is None or self.portal is None:
            return None
        return not self.differences


class InstanceNotNamed(ValueError):
    """No instance was named, and the portal knows several: the caller must say which."""


def instance_for(name: str | None) -> RucioInstance:
    """The instance an expression is evaluated on: the one named, or the only one when none is named.

    Raises RucioInstance.DoesNotExist for an unknown name (or when the portal knows no instance), and
    InstanceNotNamed when several could be meant.
    """
    from .models import RucioInstance

    if name:
        try:
            return RucioInstance.objects.get(name=name)
        except RucioInstance.DoesNotExist:
            raise RucioInstance.DoesNotExist(f"The portal knows no Rucio instance named {name!r}.") from None
    instances = list(RucioInstance.objects.order_by("name")[:2])
    if len(instances) == 1:
        return instances[0]
    if not instances:
        raise RucioInstance.DoesNotExist("The portal knows no Rucio instance yet: sync one from Rucio first.")
    names = ", ".join(RucioInstance.objects.order_by("name").values_list("name", flat=True))
    raise InstanceNotNamed(f"The portal knows several Rucio instances: name one ({names}).")


def compare(expression: str, instance: RucioInstance) -> Comparison:
    """Evaluate ``expression`` by Rucio (one request) and by the portal (one query), and explain each RSE where
    they differ. Raises InvalidExpression with Rucio's message when Rucio refuses the expression, or, when Rucio
    cannot be asked, when the portal's reading of Rucio's grammar refuses it.
    """
    from .models import RSE

    if not expression:
        # Rucio's list_rses without an expression lists every RSE: never an answer to an empty one.
        raise InvalidExpression("Type an RSE expression, e.g. QOS=SAFE.")
    if len(expression) > MAX_LENGTH:
        raise InvalidExpression(f"An expression of at most {MAX_LENGTH} characters, please.")
    rses = {rse.name: rse for rse in RSE.objects.with_related().filter(instance=instance)}
    try:
        rucio: list[str] | None = _ask_rucio(expression, instance)
        error = ""
    except RucioError as failure:
        rucio, error = None, str(failure)
    own, portal_error = _evaluate_own(expression, rses.values(), rucio_answered=rucio is not None)
    comparison = Comparison(
        expression=expression,
        instance=instance,
        portal=sorted(own.rses) if own is not None and own.known else None,
        portal_error=portal_error,
        rucio=rucio,
        rucio_error=error,
        unknown_keys=sorted(own.unknown_keys) if own is not None else [],
        recently_pushed=sorted(name for name, rse in rses.items() if rse.expression_may_be_stale),
    )
    if rucio is not None and own is not None and own.known:
        comparison.differences = [
            Difference(name, name in rucio, name in own.rses, _why_different(rses.get(name), name in rucio))
            for name in sorted(set(rucio) ^ own.rses)
        ]
    return comparison


def _evaluate_own(
    expression: str, rses: Iterable[RSE], *, rucio_answered: bool
) -> tuple[Evaluation | None, str]:
    """The portal's evaluation, or None and why not when its reading of the grammar refuses an expression
    Rucio took (Rucio's grammar is the one that counts: a newer server may know more than this one's)."""
    try:
        return evaluate(expression, known_attributes(rses)), ""
    except InvalidExpression as refusal:
        if not rucio_answered:
            raise
        return None, f"The portal reads Rucio {RUCIO_GRAMMAR}'s grammar, which refuses it: {refusal}"


def _ask_rucio(expression: str, instance: RucioInstance) -> list[str]:
    """Rucio's answer; its refusal of the expression as InvalidExpression with Rucio's own message."""
    if not instance.enabled:
        raise PermanentRucioError(f"{instance.name} is disabled in the portal: Rucio is not asked.")
    try:
        with RucioGateway(instance.connection()) as gateway:
            return gateway.list_rses(expression)
    except PermanentRucioError as error:
        # InvalidObject: a property compared with a value it cannot have (rse_type=FOO).
        if error.rucio_class in ("InvalidRSEExpression", "InvalidObject"):
            raise InvalidExpression(error.detail, by_rucio=True) from error
        raise


def _why_different(rse: RSE | None, in_rucio: bool) -> str:
    """The likeliest reason why Rucio's answer and the portal's differ on this RSE."""
    if rse is None:
        return "The portal does not know this RSE yet: a sync from Rucio imports it."
    if rse.missing_in_rucio:
        return "Rucio no longer listed this RSE at the last sync."
    if rse.expression_may_be_stale:
        return (
            f"Pushed at {rse.last_pushed_at:%Y-%m-%d %H:%M} UTC: Rucio may still answer from its cache for up to "
            f"{settings.RUCIO_CACHE_MINUTES} minutes after a push."
        )
    if rse.sync_state == SyncState.PENDING:
        return "A push to this RSE is waiting to be sent: Rucio does not hold the portal's value yet."
    if rse.sync_state == SyncState.FAILED:
        return "The last push to this RSE failed: see its page."
    if rse.sync_state == SyncState.DRIFTED:
        return f"Drifted: Rucio holds {rse.rucio_value or 'no value'}, the portal wants {rse.desired_value or 'none'}."
    return (
        "Rucio's attributes changed since the portal last read them"
        f" ({'never' if rse.last_read_at is None else f'{rse.last_read_at:%Y-%m-%d %H:%M} UTC'}): a sync from "
        "Rucio shows what changed."
    )


def select_from(expression: str, rses: Iterable[RSE]) -> list[Any]:
    """The RSEs among ``rses`` that ``expression`` selects by the portal's knowledge, in name order (no query
    beyond loading ``rses`` with their instance and class)."""
    rses = list(rses)
    chosen = evaluate(expression, known_attributes(rses)).rses
    return sorted((rse for rse in rses if rse.name in chosen), key=lambda rse: rse.name)
