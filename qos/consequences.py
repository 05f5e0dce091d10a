"""What the catalogue's changes do beyond the catalogue, shown on its pages: registries the apps above fill.

The catalogue sits below the apps that depend on it: experiment engagement knows which requirements count on a
class and its RSEs, the catalogue does not. So the apps above register here (engagement does, in its
AppConfig.ready) and the catalogue's pages ask without importing them:

- :func:`of_assignment`, on the plan pages, before RSEs get another class (assignment, approval of a class
  planned on RSEs, retirement), and in the API's assignment plan (``POST /api/v1/rses/plan/``): coverage that
  changes, and a warning when it breaks;
- :func:`of_class`, on a class page: e.g. the volume committed on the class against its RSEs' space;
- :func:`of_proposal`, on a class page and its approval page while a proposal awaits approval: e.g. the
  requirements it would start or stop matching.

Each answer is a :class:`Panel`: the template that shows it (a template of the app that made it) and what
that template reads, so that the catalogue's templates include panels without knowing what they hold.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .models import RSE, StorageQoSClass


@dataclass(frozen=True)
class Panel:
    """Something an app above shows on a catalogue page: ``template`` is included with ``data``. In the API
    (the assignment plan), ``api(serializer context)`` gives the same as JSON under ``key``."""

    template: str
    data: Any
    key: str = ""
    api: Callable[[dict[str, Any]], Any] | None = None


def as_api(panels: Iterable[Panel], context: dict[str, Any]) -> dict[str, Any]:
    """The panels that have an API form, by key (an API response's ``consequences``)."""
    return {panel.key: panel.api(context) for panel in panels if panel.api is not None}


# (the RSEs whose class changes, the class they get or None) -> a panel, or None when there is nothing to say.
AssignmentCheck = Callable[[list["RSE"], "StorageQoSClass | None"], Panel | None]
# (a class) -> a panel, or None.
ClassCheck = Callable[["StorageQoSClass"], Panel | None]

_assignment_checks: list[AssignmentCheck] = []
_class_checks: list[ClassCheck] = []
_proposal_checks: list[ClassCheck] = []


def _register(checks: list, check: Callable) -> None:
    if check not in checks:
        checks.append(check)


def register_assignment_check(check: AssignmentCheck) -> None:
    """Have ``check`` consulted before every assignment, approval, deprecation or retirement (idempotent)."""
    _register(_assignment_checks, check)


def register_class_check(check: ClassCheck) -> None:
    """Have ``check`` add a panel to every class page (idempotent)."""
    _register(_class_checks, check)


def register_proposal_check(check: ClassCheck) -> None:
    """Have ``check`` consulted on a class awaiting approval: its page and its approval page (idempotent)."""
    _register(_proposal_checks, check)


def _panels(found: Iterable[Panel | None]) -> list[Panel]:
    return [panel for panel in found if panel is not None]


def of_assignment(rses: Iterable[RSE], qos_class: StorageQoSClass | None) -> list[Panel]:
    """What every registered check says giving ``rses`` the class ``qos_class`` (None: no class) does."""
    rses = list(rses)
    return _panels(check(rses, qos_class) for check in _assignment_checks)


def of_class(qos_class: StorageQoSClass) -> list[Panel]:
    """The panels of the apps above for a class page."""
    return _panels(check(qos_class) for check in _class_checks)


def of_proposal(qos_class: StorageQoSClass) -> list[Panel]:
    """What approving the proposal awaiting approval on ``qos_class`` would do; nothing when none awaits."""
    if not qos_class.awaits_approval:
        return []
    return _panels(check(qos_class) for check in _proposal_checks)


# Each: a class -> the accounts that count on it beyond the catalogue (the liaisons of the requirements that
# link it), told when it is deprecated or retired (qos/notices.py).
ClassAudience = Callable[["StorageQoSClass"], Iterable[Any]]

_class_audiences: list[ClassAudience] = []


def register_class_audience(audience: ClassAudience) -> None:
    """Have ``audience`` asked who else to tell when a class is deprecated or retired (idempotent)."""
    if audience not in _class_audiences:
        _class_audiences.append(audience)


def audience_of_class(qos_class: StorageQoSClass) -> list[Any]:
    return [who for audience in _class_audiences for who in audience(qos_class)]
