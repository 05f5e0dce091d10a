"""Celery entry points of the qos app: they take primary keys, re-fetch, and call qos.rucio_gateway.sync."""

from __future__ import annotations

import logging
import random
import uuid

from celery import shared_task
from django.core.cache import cache
from django.db import InterfaceError, connections
from django.db import OperationalError as DatabaseOperationalError
from kombu.exceptions import OperationalError

from .models import RucioInstance
from .rucio_gateway import sync
from .rucio_gateway.client import PermanentRucioError, TransientRucioError

logger = logging.getLogger(__name__)

MAX_RETRIES = 8


def backoff(retries: int) -> float:
    """Exponential backoff with full jitter: 2, 4, 8 ... seconds, capped at 5 minutes."""
    return random.uniform(1, min(300, 2 ** (retries + 1)))  # noqa: S311 - jitter, not cryptography


@shared_task(bind=True, acks_late=True, max_retries=MAX_RETRIES, ignore_result=True)
def send_pushes(self, push_ids: list[int], reclaim: list[str] | None = None) -> None:
    """Send pushes to Rucio. Transient faults are retried with backoff; when retries run out the pushes stay
    queued for the sweeper. Permanent faults are recorded on the push and not retried.

    A lost database connection (PostgreSQL restarted, a failover) is transient too. The attempt it cut short
    may still hold pushes it had claimed: ``reclaim`` carries that attempt's claim token to the retry, which
    takes them back at once instead of waiting PUSH_CLAIM_LEASE_SECONDS for the lease to expire. A token of
    its own per attempt (not the task id): a message the broker delivers twice never shares a claim.
    """
    token = str(uuid.uuid4())
    try:
        sync.deliver(push_ids, token=token, reclaim=reclaim or ())
    except TransientRucioError as error:
        if self.request.retries >= MAX_RETRIES:
            logger.warning(
                "Giving pushes %s to the sweeper after %s retries: %s", push_ids, MAX_RETRIES, error
            )
            return
        raise self.retry(exc=error, countdown=backoff(self.request.retries)) from error
    except (DatabaseOperationalError, InterfaceError) as error:
        # The broken connection would fail the retry too: the next query opens a fresh one.
        connections.close_all()
        if self.request.retries >= MAX_RETRIES:
            logger.warning(
                "Giving pushes %s to the sweeper after %s retries (database unavailable: %s); claimed ones "
                "are sent again once their claim lease expires.",
                push_ids,
                MAX_RETRIES,
                type(error).__name__,
            )
            return
        logger.warning("Database unavailable while sending pushes %s (%s); retrying.", push_ids, error)
        raise self.retry(
            args=[push_ids],
            kwargs={"reclaim": [*(reclaim or ()), token]},
            exc=error,
            countdown=backoff(self.request.retries),
        ) from error


@shared_task(ignore_result=True)
def sweep_pushes() -> int:
    """Re-send pushes a lost broker message or a killed worker left behind."""
    # One sweeper at a time, even if beat runs twice by mistake.
    if not cache.add("qos:sweep-pushes", "1", timeout=60):
        return 0
    try:
        ids = sync.due_for_sweep()
        for start in range(0, len(ids), 500):
            send_pushes.delay(ids[start : start + 500])
        if ids:
            logger.info("Sweeper re-sent %s pushes", len(ids))
        return len(ids)
    finally:
        cache.delete("qos:sweep-pushes")


@shared_task(bind=True, acks_late=True, ignore_result=True, max_retries=3)
def sync_instance(self, instance_id: int) -> None:
    """Import RSEs of one Rucio instance and check every RSE for drift."""
    # The rows follow the deployment's environment, which may have changed since the last sync.
    RucioInstance.objects.from_environment()
    instance = RucioInstance.objects.filter(pk=instance_id, enabled=True).first()
    if instance is None:
        return
    try:
        sync.sync_rses(instance)
    except TransientRucioError as error:
        RucioInstance.objects.filter(pk=instance_id).update(last_error=str(error))
        raise self.retry(exc=error, countdown=backoff(self.request.retries)) from error
    except PermanentRucioError as error:
        RucioInstance.objects.filter(pk=instance_id).update(last_error=str(error))
        logger.warning("Rucio instance %s refused the sync: %s", instance.name, error)


def queue_sync(instance: RucioInstance) -> bool:
    """Queue ``sync_instance`` for an instance. False (and a warning logged) when the broker cannot take it:
    the caller says so, and nothing is lost, since the periodic ``sync_all_instances`` runs again."""
    try:
        sync_instance.delay(instance.pk)
    except OperationalError as error:
        # What Celery raises when it cannot reach the broker after its publish retries.
        logger.warning("Could not queue the sync of Rucio instance %s: %s", instance.name, error)
        return False
    return True


@shared_task(ignore_result=True)
def sync_all_instances() -> None:
    """Periodic: import RSEs and check drift on every enabled instance."""
    RucioInstance.objects.from_environment()
    for instance_id in RucioInstance.objects.filter(enabled=True).values_list("pk", flat=True):
        sync_instance.delay(instance_id)
