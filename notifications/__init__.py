"""Notifications by mail and chat (README, "Notifications").

Every app calls :func:`notify` inside the transaction of a change; see ``outbox.py``.
"""

from __future__ import annotations

from typing import Any


def notify(*args: Any, **kwargs: Any) -> Any:
    """Write notifications of an event to the outbox: see :func:`notifications.outbox.notify`."""
    # Imported when called: the models are not loaded when this package is first imported.
    from .outbox import notify as write

    return write(*args, **kwargs)
