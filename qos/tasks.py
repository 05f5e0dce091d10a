"""Celery entry points of the qos app: they take primary keys, re-fetch, and call qos.rucio_gateway.sync."""

from __future__ import annotations

import logging
import random
import uuid
from collections.abc import Callable

from celery import shared_task
from django.conf import settings
from django.core.cache import cache
from django.db import InterfaceError, connections
from django.db import OperationalError as DatabaseOperationalError
from kombu.exceptions import OperationalError

from . import probing
from .models import RSE, Probe, RucioInstance
from .querysets import send_after_commit
from .rucio_gateway import sync
from .rucio_gateway.client import PermanentRucioError, TransientRucioError

logger = logging.getLogger(__name__)

MAX_RETRIES = 8
# In the cache while the sweeper cannot reach the database: it says so once per outage, not at every tick.
SWEEPER_DATABASE_DOWN = "qos:sweep-pushes:database-down"


def backoff(retries: int) -> float:
    """Exponential backoff with full jitter: 2, 4, 8 ... seconds, capped at 5 minutes. For faults of the
    database, where a push's own wait (sync.retry_wait) can not be written down."""
    return random.uniform(1, min(300, 2 ** (retries + 1)))  # noqa: S311 - jitter, not cryptography


@shared_task(bind=True, acks_late=True, max_retries=MAX_RETRIES, ignore_result=True)
def send_pushes(self, push_ids: list[int], reclaim: list[str] | None = None) -> None:
    """Send pushes to Rucio. A push a transient fault gave back is retried by this task once its wait is over
    (``next_attempt_at``); when retries run out it stays queued for the sweeper. Permanent faults are recorded
    on the push and not retried. Pushes of the same RSEs that waited for these are sent next, by a task of
    their own.

    A lost database connection (PostgreSQL restarted, a failover) is transient too. The attempt it cut short
    may still hold pushes it had claimed: ``reclaim`` carries that attempt's claim token to the retry, which
    takes them back at once instead of waiting PUSH_CLAIM_LEASE_SECONDS for the lease to expire. A token of
    its own per attempt (not the task id): a message the broker delivers twice never shares a claim.
    """
    token = str(uuid.uuid4())
    try:
        report = sync.deliver(push_ids, token=token, reclaim=reclaim or ())
    except sync.PushesDeferred as deferred:
        _send_waiting(deferred.report.waiting)
        given_back = deferred.report.retry
        if self.request.retries >= MAX_RETRIES:
            logger.warning(
                "Giving pushes %s to the sweeper after %s retries: %s", given_back, MAX_RETRIES, deferred
            )
            return
        # Only the pushes given back, and just after their wait: a retry before it would take none of them,
        # and a push another sender took meanwhile is that sender's to retry.
        raise self.retry(
            args=[given_back], kwargs={}, exc=deferred, countdown=deferred.wait_seconds() + 1
        ) from deferred
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
    else:
        _send_waiting(report.waiting)


def _send_waiting(push_ids: list[int]) -> None:
    for start in range(0, len(push_ids), 500):
        send_after_commit(push_ids[start : start + 500])


@shared_task(ignore_result=True)
def sweep_pushes() -> int:
    """Re-send pushes a lost broker message or a killed worker left behind."""
    # One sweeper at a time, even if beat runs twice by mistake.
    if not cache.add("qos:sweep-pushes", "1", timeout=60):
        return 0
    try:
        try:
            ids = sync.due_for_sweep()
        except (DatabaseOperationalError, InterfaceError) as error:
            # The broken connection would fail the next tick too: that one opens a fresh one.
            connections.close_all()
            if cache.add(SWEEPER_DATABASE_DOWN, "1", timeout=None):
                logger.warning(
                    "The push sweeper cannot reach the database (%s); it tries again at every tick, and "
                    "says when it is back.",
                    str(error).partition("\n")[0] or type(error).__name__,
                )
            return 0
        if cache.delete(SWEEPER_DATABASE_DOWN):
            logger.info("The push sweeper reaches the database again.")
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
    return _queued(lambda: sync_instance.delay(instance.pk), "the sync of Rucio instance", instance.name)


def _queued(send: Callable[[], object], what: str, name: str) -> bool:
    """Send a task (``send``: its ``delay`` or ``apply_async``); False, and a warning logged naming ``what`` of
    ``name``, when the broker cannot take it."""
    try:
        send()
    except OperationalError as error:
        # What Celery raises when it cannot reach the broker after its publish retries.
        logger.warning("Could not queue %s %s: %s", what, name, error)
        return False
    return True


@shared_task(ignore_result=True)
def sync_all_instances() -> None:
    """Periodic: import RSEs and check drift on every enabled instance."""
    RucioInstance.objects.from_environment()
    for instance_id in RucioInstance.objects.filter(enabled=True).values_list("pk", flat=True):
        sync_instance.delay(instance_id)


# --- Conformance probes (qos/probing.py) ---------------------------------------------------------------------


@shared_task(
    ignore_result=True,
    soft_time_limit=settings.QOS_PROBE_TIMEOUT_SECONDS,
    time_limit=settings.QOS_PROBE_TIMEOUT_SECONDS + 30,
)
def probe_rse(rse_id: int) -> None:
    """Probe one RSE through Rucio and judge it against its class (on the probes queue, QOS_PROBE_QUEUE)."""
    rse = RSE.objects.filter(pk=rse_id).first()
    if rse is not None:
        probing.probe_rse(rse)


def queue_probe(rse: RSE) -> bool:
    """Queue a probe of ``rse`` on the probes queue; False (a warning logged) when the broker cannot take it."""
    return _queued(
        lambda: probe_rse.apply_async(args=[rse.pk], queue=settings.QOS_PROBE_QUEUE or None),
        "a probe of RSE",
        rse.name,
    )


@shared_task(ignore_result=True)
def probe_due_rses() -> int:
    """Periodic (QOS_PROBE_TICK_SECONDS): queue the probes now due, spread over QOS_PROBE_INTERVAL_SECONDS."""
    ids = probing.due_for_probe(tick_seconds=settings.QOS_PROBE_TICK_SECONDS)
    for rse in RSE.objects.filter(pk__in=ids):
        queue_probe(rse)
    return len(ids)


@shared_task(ignore_result=True)
def compact_probes() -> int:
    """Daily: fold probes older than QOS_PROBE_RAW_DAYS into daily means per RSE."""
    return Probe.objects.compact(keep_days=settings.QOS_PROBE_RAW_DAYS)
