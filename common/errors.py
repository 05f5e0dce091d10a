"""The one kind of error a rule of the portal refuses an operation with, whatever the app.

Each app names its own (``CatalogueError``, ``EngagementError``, ``MeetingError``) and its kinds (a ``code``
such as ``four_eyes``); pages show the message as a form error, and the API answers ``409 {"detail",
"code"}`` for any of them (``common.api.errors.exception_handler``), so a new rule needs no plumbing.
Pages run what they ask of a model in ``refusal_shown_on(form)``.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from django.core.exceptions import ValidationError
from django.forms import BaseForm


class DomainError(Exception):
    """An operation refused by a rule; nothing was changed. ``message`` is for people, ``code`` for programs."""

    code: str = "refused"

    def __init__(self, message: str, code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        # Most kinds of refusal are subclasses with their own ``code``; a one-off may give it here.
        if code is not None:
            self.code = code


@contextmanager
def refusal_shown_on(form: BaseForm) -> Iterator[None]:
    """What a page asks of a model, with the model's refusal (a ``ValidationError`` or a ``DomainError``) put on
    ``form`` as an error of the whole form. A refusal ends the block and the page goes on after it, to show the
    form again; nothing was changed."""
    try:
        yield
    except ValidationError as error:
        form.add_error(None, error)
    except DomainError as error:
        form.add_error(None, error.message)
