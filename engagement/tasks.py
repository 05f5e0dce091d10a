"""Celery entry points of the engagement app."""

from __future__ import annotations

from celery import shared_task

from . import notices


@shared_task(ignore_result=True)
def tell_coverage_short() -> int:
    """After each RSE sync's hour: accepted requirements too few RSEs in sync can place (QoS admins)."""
    return notices.tell_coverage_short()
