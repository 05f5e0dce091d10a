"""What giving RSEs another class would do beyond the catalogue, shown on the plan pages before it is done.

The catalogue sits below the apps that depend on it: experiment engagement knows which accepted requirements
count on an RSE's class, the catalogue does not. So the apps above register a check here (engagement's
coverage does, in its AppConfig.ready) and the plan pages ask :func:`of_assignment` without importing them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .models import RSE, StorageQoSClass

# Each check: (the RSEs whose class changes, the class they get or None) -> what that breaks, for the page.
AssignmentCheck = Callable[[list["RSE"], "StorageQoSClass | None"], list[Any]]

_assignment_checks: list[AssignmentCheck] = []


def register_assignment_check(check: AssignmentCheck) -> None:
    """Have ``check`` consulted before every assignment, approval, deprecation or retirement (idempotent)."""
    if check not in _assignment_checks:
        _assignment_checks.append(check)


def of_assignment(rses: Iterable[RSE], qos_class: StorageQoSClass | None) -> list[Any]:
    """What every registered check says giving ``rses`` the class ``qos_class`` (None: no class) breaks."""
    rses = list(rses)
    return [found for check in _assignment_checks for found in check(rses, qos_class)]


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
