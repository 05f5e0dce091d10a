"""The audit trail in the logs: every catalogue decision and every push, with who and what (logger ``qos.audit``).

Each line is a sentence for people reading plain logs, and carries the same facts as fields (``event``,
``user``, ``qos_class``, ``rse``, ``value``, ``push_id`` ...) for JSON logs (``LOG_FORMAT=json``). Changes are
logged when their transaction commits, so a refused or rolled-back change never appears as done. Never pass
a secret here: Rucio's messages reach this log only through the gateway, which keeps credentials out of them.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Any

from django.db import transaction

logger = logging.getLogger("qos.audit")

NOBODY = "-"  # a change no user asked for (the sweeper, a command run without a user)
# An assignment names at most this many RSEs in its line; its pushes' lines name every one.
RSES_NAMED = 10


def username(user: Any) -> str:
    return getattr(user, "username", None) or NOBODY


def log(
    event: str, message: str, *args: Any, by: Any = None, level: int = logging.INFO, **facts: Any
) -> None:
    """Write one audit line now: ``message % args``, with ``event``, ``user`` and ``facts`` as fields."""
    logger.log(level, message, *args, extra={"event": event, "user": username(by), **facts})


def log_on_commit(event: str, message: str, *args: Any, by: Any = None, **facts: Any) -> None:
    """Write the audit line when the current transaction commits (at once outside one)."""
    user = username(by)  # now: the user object may change or go before the commit
    transaction.on_commit(lambda: logger.info(message, *args, extra={"event": event, "user": user, **facts}))


def class_changed(qos_class: Any, kind: str, *, by: Any, revision: int, status: str) -> None:
    """A step in a class's lifecycle (created, edited, proposed, approved, rejected, deprecated, retired)."""
    log_on_commit(
        f"class.{kind}",
        "%s %s %s (revision %s: %s)",
        username(by),
        kind,
        qos_class.label,
        revision,
        status,
        by=by,
        qos_class=qos_class.label,
        revision=revision,
        status=status,
    )


def rses_assigned(rse_names: list[str], qos_class: Any | None, *, by: Any, planned: bool) -> None:
    """An assignment (or plan, or unassignment) of RSEs; each resulting push has its own line."""
    if not rse_names:
        return  # an approval or retirement that concerned no RSE
    label = qos_class.label if qos_class is not None else None
    if planned:
        event, verb = "rses.planned", f"planned {label} on"
    elif label:
        event, verb = "rses.assigned", f"assigned {label} to"
    else:
        event, verb = "rses.unassigned", "unassigned the class of"
    named = ", ".join(rse_names[:RSES_NAMED]) + (
        f" and {len(rse_names) - RSES_NAMED} more" if len(rse_names) > RSES_NAMED else ""
    )
    log_on_commit(
        event,
        "%s %s %s RSE(s): %s",
        username(by),
        verb,
        len(rse_names),
        named,
        by=by,
        qos_class=label,
        rse_count=len(rse_names),
    )


def pushes_queued(pushes: Iterable[Any], *, by: Any, reason: str) -> None:
    """Pushes written to the outbox; logged once they are committed, one line each."""
    facts = [
        {"push_id": push.pk, "rse": push.rse.name, "key": push.key, "value": push.value} for push in pushes
    ]
    user = username(by)

    def write() -> None:
        for fact in facts:
            logger.info(
                "push %s queued by %s: %s %s=%s (%s)",
                fact["push_id"],
                user,
                fact["rse"],
                fact["key"],
                fact["value"] if fact["value"] is not None else "(remove)",
                reason,
                extra={"event": "push.queued", "user": user, "reason": reason, **fact},
            )

    transaction.on_commit(write)


def push_outcome(push: Any, outcome: str, *, error: str = "", level: int = logging.INFO) -> None:
    """What became of a push: written, unchanged (already so in Rucio), superseded, failed, retry."""
    log(
        f"push.{outcome}",
        "push %s %s: %s %s=%s, requested by %s%s",
        push.pk,
        outcome,
        push.rse.name,
        push.key,
        push.value if push.value is not None else "(remove)",
        username(push.requested_by),
        f": {error}" if error else "",
        by=push.requested_by,
        level=level,
        push_id=push.pk,
        rse=push.rse.name,
        key=push.key,
        value=push.value,
        **({"error": error} if error else {}),
    )
