"""The replication rule a liaison would write for each class linked to a requirement, and what it selects now.

A requirement answered by 2 x SAFE is placed in Rucio with a rule such as
``rucio rule add --copies 2 --rses "QOS=SAFE" <scope>:<name>``. Its page shows that rule for each linked class,
with the RSEs its expression selects now by the portal's knowledge (``qos.rse_expressions``: the attributes
read at the last sync, with the class the portal pushed or is pushing), each with its sync state and whether it
has room for a copy: Rucio puts every copy of a dataset whole on one RSE, so each RSE needs the requirement's
whole volume in usable space (free minus Rucio's MinFreeSpace). An unknown capacity is shown as unknown.

No Rucio call: the page is drawn from the database (two queries whatever the number of links and RSEs); the
RSE expression page (``/qos/rse-expression/``) asks Rucio itself.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING

from qos.choices import CARRIED_STATUSES, SyncState
from qos.models import RSE, RucioInstance, StorageQoSClass
from qos.rse_expressions import select_from

if TYPE_CHECKING:
    from .models import ClassLink

TB = 10**12  # decimal, as storage is sold and as the requirement's volume is given


@dataclass(frozen=True)
class SelectedRSE:
    """An RSE a rule's expression selects, and whether it has room for one copy (None: capacity unknown)."""

    rse: RSE
    room: bool | None

    @property
    def in_sync(self) -> bool:
        return self.rse.sync_state == SyncState.IN_SYNC


@dataclass(frozen=True)
class RuleSuggestion:
    """The rule for one linked class on one Rucio instance, and the RSEs it would select now."""

    qos_class: StorageQoSClass
    copies: int
    instance: RucioInstance
    selected: tuple[SelectedRSE, ...]

    @property
    def expression(self) -> str:
        return f"{self.instance.attribute_key}={self.qos_class.label}"

    @property
    def command(self) -> str:
        """The rucio-clients command (``rucio rule add``, rucio 41), the dataset left for the liaison to name."""
        return f'rucio rule add --copies {self.copies} --rses "{self.expression}" <scope>:<name>'

    @property
    def with_room(self) -> int:
        """Selected RSEs in sync (Rucio advertises the class there now) with room for a copy."""
        return sum(1 for line in self.selected if line.in_sync and line.room)

    @property
    def room_unknown(self) -> int:
        return sum(1 for line in self.selected if line.in_sync and line.room is None)

    @property
    def placeable(self) -> bool | None:
        """Whether the rule can place every copy now: enough RSEs in sync with room; None when that turns on
        capacities the portal does not know."""
        if self.with_room >= self.copies:
            return True
        if self.with_room + self.room_unknown >= self.copies:
            return None
        return False


def has_room(rse: RSE, volume_bytes: int) -> bool | None:
    """Whether ``rse``'s usable space holds ``volume_bytes``; None when its capacity is unknown."""
    usable = rse.usable_bytes
    return None if usable is None else usable >= volume_bytes


def suggest_rules(volume_tb: Decimal, links: Iterable[ClassLink]) -> list[RuleSuggestion]:
    """A rule per linked class (with ``qos_class`` loaded) and per enabled Rucio instance, in link order.

    Two queries: the instances, and the RSEs that may carry a linked class. Only an RSE whose class the portal
    puts in Rucio can match ``QOS=<label>`` by the portal's knowledge, so the expression is evaluated over those.
    """
    links = list(links)
    if not links:
        return []
    instances = list(RucioInstance.objects.filter(enabled=True).order_by("name"))
    rses = RSE.objects.with_related().filter(
        qos_class_id__in={link.qos_class_id for link in links},
        qos_class__status__in=CARRIED_STATUSES,
        missing_in_rucio=False,
        instance__in=instances,
    )
    by_instance: dict[int, list[RSE]] = defaultdict(list)
    for rse in rses:
        by_instance[rse.instance_id].append(rse)
    volume_bytes = int(volume_tb * TB)
    suggestions = []
    for link in links:
        for instance in instances:
            expression = f"{instance.attribute_key}={link.qos_class.label}"
            selected = tuple(
                SelectedRSE(rse, has_room(rse, volume_bytes))
                for rse in select_from(expression, by_instance[instance.pk])
            )
            suggestions.append(RuleSuggestion(link.qos_class, link.copies, instance, selected))
    return suggestions
