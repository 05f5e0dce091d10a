"""Log lines that say which request (or Celery task) they belong to, as plain text or as JSON (``LOG_FORMAT``).

Every web request gets an id: the load balancer's ``X-Request-ID`` when it is a sane one, else a new one. It is
sent back in the response's ``X-Request-ID`` header and put on every log record of the request by
:class:`RequestIdFilter` (installed on the handler in ``settings.LOGGING``). A Celery task queued during a
request carries the id in a message header, so that the worker's lines of that task carry it too; a task
queued by no request (beat, the sweeper) logs under its own task id.
"""

from __future__ import annotations

import contextvars
import logging
import logging.config
import re
import uuid
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from celery import signals
from pythonjsonlogger.json import JsonFormatter as BaseJsonFormatter

if TYPE_CHECKING:  # this module is loaded with the settings (portal/celery.py), before Django is set up
    from django.http import HttpRequest, HttpResponse

HEADER = "X-Request-ID"
# What a load balancer sends is written into every log line and echoed to the client: bounded, and only
# characters that can not break a log line, a JSON field or a response header. Anything else is replaced.
REQUEST_ID_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:+=/-]{0,127}$")
NO_REQUEST = "-"
TASK_HEADER = "request_id"

_request_id: contextvars.ContextVar[str | None] = contextvars.ContextVar("request_id", default=None)


def current_request_id() -> str | None:
    """The id of the request or task this code runs for; None outside both."""
    return _request_id.get()


def clean_request_id(value: object) -> str | None:
    """``value`` if it is a request id we may log and echo, else None."""
    if isinstance(value, str) and REQUEST_ID_PATTERN.match(value):
        return value
    return None


def new_request_id() -> str:
    return uuid.uuid4().hex


class RequestIdMiddleware:
    """Give each request an id (the load balancer's, when sane), log under it, and echo it to the client."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        request_id = clean_request_id(request.headers.get(HEADER)) or new_request_id()
        request.request_id = request_id
        token = _request_id.set(request_id)
        try:
            response = self.get_response(request)
        finally:
            _request_id.reset(token)
        response[HEADER] = request_id
        return response


class RequestIdFilter(logging.Filter):
    """Put ``request_id`` on every record (``-`` outside a request or task); never drops a record."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not getattr(record, "request_id", None):
            # Django logs a 4xx/5xx response (django.request) after the middleware has returned, with the
            # request on the record.
            record.request_id = (
                _request_id.get()
                or getattr(getattr(record, "request", None), "request_id", None)
                or NO_REQUEST
            )
        return True


class JsonFormatter(BaseJsonFormatter):
    """One JSON object per line: time, level, logger, message, request id, and the record's extra fields."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("fmt", ["levelname", "name", "message", "request_id"])
        kwargs.setdefault("rename_fields", {"levelname": "level", "name": "logger"})
        kwargs.setdefault("timestamp", "time")  # ISO 8601 in UTC, whatever the machine's time zone
        # Django puts the request object on some records (django.request, django.server): its repr holds the
        # query string, which may carry a token. The message already says what went wrong.
        kwargs.setdefault(
            "reserved_attrs",
            [*logging.LogRecord("", 0, "", 0, "", (), None).__dict__, "message", "asctime", "request"],
        )
        super().__init__(*args, **kwargs)


# --- Celery: the same log configuration in workers, and the request id carried into tasks. ------------------
# Each task's token, to restore the id of whatever ran it (an eager task runs inside the request).
_task_tokens: dict[str, contextvars.Token] = {}


@signals.setup_logging.connect
def _use_django_logging(loglevel: int | str | None = None, **kwargs: Any) -> None:
    """Workers and beat log like the web: Django's LOGGING, not Celery's own handlers and format.

    Connecting this signal is what keeps Celery from replacing the root logger's handlers.
    """
    from django.conf import settings

    logging.config.dictConfig(settings.LOGGING)
    if loglevel:
        logging.getLogger().setLevel(loglevel)


@signals.before_task_publish.connect
def _send_request_id(headers: dict | None = None, **kwargs: Any) -> None:
    request_id = _request_id.get()
    if request_id and headers is not None:
        headers.setdefault(TASK_HEADER, request_id)


@signals.task_prerun.connect
def _enter_task(task_id: str | None = None, task: Any = None, **kwargs: Any) -> None:
    request = getattr(task, "request", None)
    sent = clean_request_id(getattr(request, TASK_HEADER, None)) if request is not None else None
    # An eager task runs inside the request that queued it and keeps its id.
    request_id = sent or _request_id.get() or task_id
    if task_id and request_id:
        _task_tokens[task_id] = _request_id.set(request_id)


@signals.task_postrun.connect
def _leave_task(task_id: str | None = None, **kwargs: Any) -> None:
    token = _task_tokens.pop(task_id, None) if task_id else None
    if token is not None:
        _request_id.reset(token)
