"""Celery entry points of the meetings app: reminders before meetings and of overdue actions (beat)."""

from __future__ import annotations

from celery import shared_task

from . import notices


@shared_task(ignore_result=True)
def remind_before_meetings() -> int:
    """Hourly: owners of open actions on the agenda of a meeting within a day (each once per meeting)."""
    return notices.remind_before_meetings()


@shared_task(ignore_result=True)
def tell_overdue_actions() -> int:
    """Daily: owners of overdue actions (each action at most once a week)."""
    return notices.tell_overdue_actions()
