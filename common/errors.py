"""The one kind of error a rule of the portal refuses an operation with, whatever the app.

Each app names its own (``CatalogueError``, ``EngagementError``, ``MeetingError``) and its kinds (a ``code``
such as ``four_eyes``); pages show the message as a form error, and the API answers ``409 {"detail",
"code"}`` for any of them (``common.api.errors.exception_handler``), so a new rule needs no plumbing.
"""

from __future__ import annotations


class DomainError(Exception):
    """An operation refused by a rule; nothing was changed. ``message`` is for people, ``code`` for programs."""

    code: str = "refused"

    def __init__(self, message: str, code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        # Most kinds of refusal are subclasses with their own ``code``; a one-off may give it here.
        if code is not None:
            self.code = code
