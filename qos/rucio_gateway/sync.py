"""Make Rucio match the portal: send pushes, read RSEs and their attributes back.

Idempotent: a push is written without reading Rucio first when the portal's record of the RSE (what its last
sync or push read, and what it wrote since) says Rucio differs: the write sets the value whatever Rucio holds. It
reads the RSE first when that record says there may be nothing to do (see _must_read), and then writes only
when Rucio differs, so sending a push twice (a redelivered message, the sweeper) changes nothing more. Work is claimed with a conditional UPDATE and
a claim token, so two workers never send the same push at the same time, nor two pushes of one RSE: an older
value can never land after a newer one.
"""

from __future__ import annotations

import logging
import random
import time
import uuid
from collections import defaultdict
from collections.abc import Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Count, Exists, F, OuterRef, Q
from django.utils import timezone

from .. import audit, notices
from ..choices import AttemptOutcome, PushOperation, PushState, SyncState
from ..models import RSE, Push, PushAttempt, RucioInstance
from ..querysets import CAPACITY_FIELDS, chunks, key_chunks
from .client import PermanentRucioError, RucioError, RucioGateway, TransientRucioError

logger = logging.getLogger(__name__)

# Above this many values to set on one instance, write them with one import request (Rucio's import API), and
# read the RSEs that must be read first (see _must_read) concurrently, instead of one request after another.
BULK_THRESHOLD = 10
# A bulk set is sent as imports of a fifth of the server's RSEs, at least IMPORT_CHUNK_MIN and at most
# IMPORT_CHUNK RSEs (see _import_size). Every import also lists all the server's RSEs at its end
# (rucio.core.importer.import_rses), about 0.2 s of server CPU at 10,000 RSEs, and costs a request and a
# transaction: imports of 500 cost 1.5 ms of server CPU per RSE there, of 1,000 or more 1.25, and at 1,000 RSEs
# imports of 200 made the push slower than one of 1,000 (bench/README.md). At most IMPORT_CHUNK: each request,
# and the server's transaction applying it, stays bounded (2,000 RSEs: about 3 s on the bench's Rucio).
IMPORT_CHUNK = 2000
IMPORT_CHUNK_MIN = 1000
# What one more import costs the server (a request, a transaction, the listing of every RSE at its end: about
# 1/8 of a recording per RSE of the server, plus 50), measured in RSEs recorded by the sender, doubled to be
# safe: _import_chunks splits the last import when what it saves recording is larger. Measured on the bench
# (bench/README.md): recording 0.18 ms per RSE, an import's end listing 0.02 ms per RSE of the server.
IMPORT_OVERHEAD_IN_RECORDINGS = 2
# How long one listing of an instance's RSEs serves the imports of a task (seconds). An import restores an RSE
# deleted in Rucio since the listing, so this bounds that window (with the import's own duration); listing
# 10,000 RSEs costs the server about 0.4 s of CPU, which a listing per import of 500 paid 20 times over. 30 s:
# a task of 10,000 pushes (PUSHES_PER_TASK) imports for about 20 s on the bench's Rucio, on one listing; a
# listing every 30 s of imports is at most 1.5 % of the server's time.
LISTING_MAX_AGE_SECONDS = 30.0
# Pushes written one request each between two renewals of the sender's claim lease.
RENEW_EVERY_WRITES = 100
# A bulk set renews its claim lease before an import once this fraction of PUSH_CLAIM_LEASE_SECONDS has passed
# since the claim or the last renewal: an UPDATE of every push still held, not worth making before each import.
RENEW_AFTER_LEASE_FRACTION = 0.25
# A push's wait after a fault is up to this fraction longer than retry_wait() says, at random: pushes given back
# together by different senders then come back at different times. Never shorter: attempts_within() holds.
RETRY_JITTER = 0.25
# The first key of the PostgreSQL advisory locks a claim takes ("qpsh"); the second is the RSE's id modulo
# RSE_LOCKS. A claim holds at most that many locks (PostgreSQL's lock table is small: a claim of every push
# waiting, push_pending's, would fill it otherwise); RSEs sharing one merely wait for each other's claim.
RSE_LOCK_SPACE = 0x71707368
# The first key of the advisory lock that lets one import at a time go to an instance ("qimp"; see _ImportTurn).
IMPORT_LOCK_SPACE = 0x71696D70
RSE_LOCKS = 256
# Usage sources whose figures are the RSE's capacity, the first present wins: what the site reports of its
# storage, else Rucio's own count of its replicas (which knows no free space).
CAPACITY_SOURCES = ("storage", "rucio")
# Threads reading RSEs' capacities at once in a sync (see read_capacities).
CAPACITY_READERS = 8


@dataclass
class DeliveryReport:
    written: list[int] = field(default_factory=list)
    unchanged: list[int] = field(default_factory=list)
    failed: list[int] = field(default_factory=list)
    superseded: list[int] = field(default_factory=list)
    retry: list[int] = field(default_factory=list)
    transient_error: str = ""
    #: When every push of ``retry`` may be tried again.
    retry_at: datetime | None = None
    #: Queued pushes of the same RSEs, due now, that may have waited for these to finish: send them next.
    waiting: list[int] = field(default_factory=list)


class PushesDeferred(TransientRucioError):
    """A transient fault gave pushes back to the queue: ``report.retry`` are due again at ``report.retry_at``."""

    def __init__(self, report: DeliveryReport) -> None:
        super().__init__(report.transient_error)
        self.report = report

    def wait_seconds(self) -> float:
        """How long from now until every push given back may be tried again."""
        if self.report.retry_at is None:
            return 0.0
        return max(0.0, (self.report.retry_at - timezone.now()).total_seconds())


def retry_wait(attempts: int) -> float:
    """The shortest wait, in seconds, of a push whose ``attempts``-th try met a transient fault: doubling from
    PUSH_RETRY_FIRST_SECONDS, at most PUSH_RETRY_MAX_SECONDS."""
    doublings = min(max(attempts - 1, 0), 32)
    return float(min(settings.PUSH_RETRY_MAX_SECONDS, settings.PUSH_RETRY_FIRST_SECONDS * 2**doublings))


def attempts_within(outage_seconds: float) -> int:
    """The most attempts one push makes while Rucio is unreachable for ``outage_seconds``, the one after it that
    lands included: the tries whose waits (retry_wait, at their shortest) still fit in the outage, plus one.

    A push is never tried before its wait is over: not by its task's retry, not by the sweeper (claim()).
    """
    attempts, elapsed = 1, 0.0
    while True:
        elapsed += retry_wait(attempts)
        if elapsed > outage_seconds:
            return attempts + 1
        attempts += 1


def claim(
    push_ids: list[int], *, token: str = "", reclaim: Sequence[str] = (), waited_or_not: bool = False
) -> list[Push]:
    """Take the pushes no one else holds: queued ones whose wait after a fault is over (all queued ones with
    ``waited_or_not``), those whose sender died (lease expired), and those this sender's own earlier attempts
    still hold under the tokens ``reclaim`` (a database fault cut them short).

    Never a push of an RSE whose other push someone is sending now: two writes of one RSE in flight could land
    in either order. Whoever finishes that one sends the next (DeliveryReport.waiting).
    """
    now = timezone.now()
    token = token or str(uuid.uuid4())
    lease_expired = now - timedelta(seconds=settings.PUSH_CLAIM_LEASE_SECONDS)
    queued = Q(state=PushState.QUEUED)
    if not waited_or_not:
        queued &= Q(next_attempt_at__isnull=True) | Q(next_attempt_at__lte=now)
    free = queued | Q(state=PushState.SENDING, claimed_at__lt=lease_expired)
    sent_by_another = Push.objects.filter(
        rse=OuterRef("rse"), state=PushState.SENDING, claimed_at__gte=lease_expired
    )
    if reclaim:
        free |= Q(state=PushState.SENDING, claim_token__in=list(reclaim))
        sent_by_another = sent_by_another.exclude(claim_token__in=list(reclaim))
    with transaction.atomic():
        _lock_rses(Push.objects.filter(pk__any=push_ids).values_list("rse_id", flat=True))
        Push.objects.filter(pk__any=push_ids).filter(free).filter(~Exists(sent_by_another)).update(
            state=PushState.SENDING, claimed_at=now, claim_token=token, attempts=F("attempts") + 1
        )
    return list(
        # requested_by: the audit lines say who asked for each push.
        Push.objects.filter(claim_token=token, state=PushState.SENDING)
        .select_related("rse")
        .prefetch_related("rse__instance", "requested_by")
    )


def _lock_rses(rse_ids) -> None:
    """Make claims of pushes of the same RSEs wait for each other, until the end of the transaction.

    Without it two senders could each find no other push of an RSE being sent, and both take one. Advisory
    locks, not row locks on the RSEs, which a sync or an assignment holds for a while, in an order of its own.
    Taken in one order, so that claims never wait for each other in a circle. SQLite lets one writer in at a
    time.
    """
    if connection.vendor != "postgresql":
        return
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(pg_advisory_xact_lock(%s, key)) FROM unnest(%s::integer[]) AS key",
            [RSE_LOCK_SPACE, sorted({rse_id % RSE_LOCKS for rse_id in rse_ids})],
        )


def deliver(
    push_ids: list[int], *, token: str = "", reclaim: Sequence[str] = (), waited_or_not: bool = False
) -> DeliveryReport:
    """Send these pushes to Rucio. Raises PushesDeferred, a TransientRucioError, (after recording it) when a
    retry may help.

    ``token`` names this attempt's claim (a fresh one if empty); ``reclaim`` and ``waited_or_not``: see claim().
    """
    report = DeliveryReport()
    with _ListingsAhead(push_ids) as ahead:
        pushes = claim(push_ids, token=token, reclaim=reclaim, waited_or_not=waited_or_not)
        if not pushes:
            return report
        rse_ids = {push.rse_id for push in pushes}
        pushes = _one_per_rse(_drop_superseded(pushes, report))
        by_instance: dict[int, list[Push]] = defaultdict(list)
        for push in pushes:
            by_instance[push.rse.instance_id].append(push)
        for instance_id, group in by_instance.items():
            _deliver_to_instance(group[0].rse.instance, group, report, listed=ahead.get(instance_id))
    report.waiting = _waiting(rse_ids)
    if report.retry:
        raise PushesDeferred(report)
    return report


def _waiting(rse_ids: set[int]) -> list[int]:
    """Pushes of these RSEs that a claim may have refused while this sender held the RSE (see claim())."""
    now = timezone.now()
    return list(
        Push.objects.filter(rse_id__any=list(rse_ids), state=PushState.QUEUED)
        .filter(Q(next_attempt_at__isnull=True) | Q(next_attempt_at__lte=now))
        .order_by("pk")
        .values_list("pk", flat=True)
    )


def _one_per_rse(pushes: list[Push]) -> list[Push]:
    """The oldest push of each RSE; the others (of another attribute: the class's and the conformance
    write-back's) are given back unharmed and sent next (DeliveryReport.waiting). Each write is recorded with
    the RSE's attributes as they stand after it, so two writes of one RSE computed from the same attributes
    would record a stale value of the other's attribute."""
    first: dict[int, Push] = {}
    later: list[int] = []
    for push in sorted(pushes, key=lambda push: push.pk):
        if push.rse_id in first:
            later.append(push.pk)
        else:
            first[push.rse_id] = push
    if later:
        Push.objects.filter(pk__in=later, state=PushState.SENDING).update(
            state=PushState.QUEUED, claim_token="", claimed_at=None, attempts=F("attempts") - 1
        )
    return [push for push in pushes if first[push.rse_id] is push]


def _drop_superseded(pushes: list[Push], report: DeliveryReport) -> list[Push]:
    """Finish, unsent, the pushes a newer push of the same RSE and attribute follows."""
    newer = Push.objects.filter(rse=OuterRef("rse"), key=OuterRef("key"), pk__gt=OuterRef("pk"))
    superseded = set()
    for chunk in key_chunks([push.pk for push in pushes]):
        # Only the pushes after each one are looked at (the index (rse, -id)), not the RSE's whole history.
        superseded.update(
            Push.objects.filter(pk__any=chunk).filter(Exists(newer)).values_list("pk", flat=True)
        )
    keep = []
    for push in pushes:
        if push.pk in superseded:
            _finish(push, PushState.SUPERSEDED, "A newer push for this RSE was written.")
            report.superseded.append(push.pk)
            audit.push_outcome(push, "superseded")
        else:
            keep.append(push)
    return keep


def _deliver_to_instance(
    instance: RucioInstance, pushes: list[Push], report: DeliveryReport, *, listed: _Listed | None = None
) -> None:
    """Send one instance's pushes: write what the portal knows to differ without reading it first; read first
    only the RSEs of pushes that may have nothing to do (see _must_read). ``listed``: the instance's RSEs,
    listed while the pushes were claimed (_ListingsAhead)."""
    started = timezone.now()
    to_read = [push for push in pushes if _must_read(push)]
    try:
        gateway = RucioGateway(instance.connection())
        current = _read_current(gateway, to_read)
    except TransientRucioError as error:
        _give_back(pushes, started, str(error), report)
        return
    except PermanentRucioError as error:
        for push in pushes:
            _fail(push, started, None, str(error), report)
        return

    writes = _settle_read_ones(to_read, current, started, report)
    writes += [
        _Write(push, push.rse.rucio_attributes.get(push.key), dict(push.rse.rucio_attributes), read=False)
        for push in pushes
        if not _must_read(push)
    ]
    sets = [write for write in writes if write.push.operation == PushOperation.SET]
    if len(sets) > BULK_THRESHOLD:
        unsent = _set_in_bulk(gateway, sets, started, report, listed=listed)
        writes = [write for write in writes if write.push.operation != PushOperation.SET] + unsent
    for number, write in enumerate(sorted(writes, key=lambda write: write.push.pk), start=1):
        _write_one(gateway, write, started, report)
        if number % RENEW_EVERY_WRITES == 0:
            # One request each: thousands of them can outlast the claim lease.
            _renew_lease(write.push.claim_token)


@dataclass
class _Write:
    """A push still to write, with what Rucio holds before it: read now (``read``) or as the portal knows it
    (the values last read, and what the portal has written since)."""

    push: Push
    before: str | None
    attributes: dict[str, str]
    read: bool

    def after(self) -> dict[str, str]:
        """The RSE's attributes once the push is written."""
        if self.push.operation == PushOperation.SET:
            return {**self.attributes, self.push.key: self.push.value}
        return {key: value for key, value in self.attributes.items() if key != self.push.key}


def _must_read(push: Push) -> bool:
    """Whether to read the RSE's attributes before writing this push.

    Not when the portal's record of the RSE (the values its last sync or push read, and what it has written
    since) says that Rucio differs from the push: writing is idempotent, so the push is written without
    asking, whatever Rucio holds now, which also repairs a change made in Rucio behind the portal's back.
    Only when the portal has never read the RSE, has found it missing, or believes Rucio already holds the
    push's value: then Rucio may have changed behind its back since, and only reading tells whether there is
    anything to write (a push redelivered after its write, a reconcile, a class assigned back). Drift on RSEs
    no push touches is found by the periodic sync (sync_rses), which reads every RSE.
    """
    rse = push.rse
    if rse.last_read_at is None or rse.missing_in_rucio:
        return True
    return (rse.rucio_attributes.get(push.key) or None) == (push.value or None)


def _settle_read_ones(
    pushes: list[Push], current: dict[str, dict[str, str]], started, report: DeliveryReport
) -> list[_Write]:
    """Settle the pushes whose RSE was read first: fail those whose RSE Rucio does not have, record those
    Rucio already matches. Returns the others, still to write."""
    writes: list[_Write] = []
    unchanged: list[tuple[Push, str | None, dict[str, str]]] = []
    for push in pushes:
        attributes = current.get(push.rse.name)
        if attributes is None:
            _fail(push, started, None, _no_such_rse(push), report)
            continue
        before = attributes.get(push.key)
        if (before or None) == (push.value or None):
            unchanged.append((push, before, attributes))
        else:
            writes.append(_Write(push, before, attributes, read=True))
    _succeed(unchanged, started, AttemptOutcome.UNCHANGED, report)
    return writes


def _no_such_rse(push: Push) -> str:
    return f"Rucio has no RSE named {push.rse.name}."


def _set_in_bulk(
    gateway: RucioGateway,
    sets: list[_Write],
    started,
    report: DeliveryReport,
    *,
    listed: _Listed | None = None,
) -> list[_Write]:
    """Set the values with imports of up to IMPORT_CHUNK RSEs (see _import_size and _import_chunks), after
    listing the RSEs (an import must never create or restore one: those Rucio does not have fail). Returns the
    writes still to send one request each: those of an import Rucio refused (one bad RSE fails a whole import:
    one request each finds it). ``listed``: a listing already under way (_ListingsAhead), used as the first.

    One listing serves the imports that start within LISTING_MAX_AGE_SECONDS of it. Each import runs in a
    thread with a client of its own while this thread records the one before (the database work stays here);
    one import is in flight per instance at a time, whichever sender sends it (_ImportTurn). Before an import
    the task's claim lease is renewed once a quarter of it has passed, so a task of thousands of pushes never
    loses them to another sender's claim.
    """
    if not sets:
        return []
    lister = _Listing(gateway, listed)
    try:
        rses_on_server = len(lister.names())
    except TransientRucioError as error:
        _give_back([write.push for write in sets], started, str(error), report)
        return []
    except PermanentRucioError as error:
        logger.warning("Listing RSEs before a bulk import refused (%s); pushing one RSE at a time.", error)
        return sets
    return _import_in_chunks(lister, _import_chunks(sets, rses_on_server), started, report)


def _import_in_chunks(
    lister: _Listing, chunked: list[list[_Write]], started, report: DeliveryReport
) -> list[_Write]:
    """The imports of _set_in_bulk, one chunk each, the listing taken again when too old; returns the writes
    still to send one request each."""
    gateway = lister.gateway
    unsent: list[_Write] = []
    token = chunked[0][0].push.claim_token
    renewed = time.monotonic()  # the claim, shortly before
    turn = _ImportTurn(chunked[0][0].push.rse.instance_id)
    with (
        ThreadPoolExecutor(1, thread_name_prefix="rucio-import") as pool,
        RucioGateway(gateway.conn) as importer,
        turn,
    ):
        flying: tuple[Future, list[_Write]] | None = None
        for number, chunk in enumerate(chunked):
            rest = [write for later in chunked[number:] for write in later]
            try:
                existing = lister.names()
            except TransientRucioError as error:
                _settle_import(flying, started, report, unsent)
                _give_back([write.push for write in rest], started, str(error), report)
                return unsent
            except PermanentRucioError as error:
                logger.warning(
                    "Listing RSEs before a bulk import refused (%s); pushing one RSE at a time.", error
                )
                _settle_import(flying, started, report, unsent)
                return unsent + rest
            present = _present(chunk, existing, started, report)
            # Wait for the import in flight (one at a time); a transient fault there stops the rest too.
            fault = flying[0].exception() if flying is not None else None
            turn.release()
            if isinstance(fault, TransientRucioError):
                _settle_import(flying, started, report, unsent)
                later = [write.push for write in rest[len(chunk) :]]
                _give_back([write.push for write in present] + later, started, str(fault), report)
                return unsent
            renewed = _renew_lease_if_due(token, renewed)
            submitted = None
            if present and not turn.take(wait=False):
                # Another sender's import to this instance is in flight: record ours while waiting for it.
                _settle_import(flying, started, report, unsent)
                flying = None
                turn.take(wait=True)
            if present:
                values = {write.push.rse.name: {write.push.key: write.push.value} for write in present}
                submitted = (
                    pool.submit(importer.set_rse_attributes_bulk, values, existing=existing),
                    present,
                )
            # Recorded while the next import is in flight.
            _settle_import(flying, started, report, unsent)
            flying = submitted
        _settle_import(flying, started, report, unsent)
    return unsent


class _ImportTurn:
    """One import in flight per Rucio instance, whichever sender sends it: a PostgreSQL advisory lock on the
    instance, held by the sender's connection from before an import is sent until it has landed.

    Rucio's importer applies an import in one transaction and lists every RSE of the server at its end: two at
    once gain nothing on a busy server, and a Rucio on SQLite (the bench's) refuses the second one (a transient
    fault: 15 s lost). A sender waiting for its turn records its own import meanwhile. Not on SQLite (the
    portal's), which has one writer at a time anyway.
    """

    def __init__(self, instance_id: int) -> None:
        self.instance_id = instance_id
        self.held = False

    def take(self, *, wait: bool) -> bool:
        """Take the turn; without ``wait``, only if free. True when this sender holds it."""
        if connection.vendor != "postgresql" or self.held:
            return True
        taken = self._lock("pg_advisory_lock" if wait else "pg_try_advisory_lock")  # the first says nothing
        self.held = wait or bool(taken)
        return self.held

    def release(self) -> None:
        if self.held:
            self._lock("pg_advisory_unlock")
            self.held = False

    def _lock(self, function: str) -> object:
        with connection.cursor() as cursor:
            cursor.execute(f"SELECT {function}(%s, %s)", [IMPORT_LOCK_SPACE, self.instance_id])
            return cursor.fetchone()[0]

    def __enter__(self) -> _ImportTurn:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.release()


def _import_size(rses_on_server: int) -> int:
    """How many RSEs one import carries, on a server of ``rses_on_server`` RSEs (see IMPORT_CHUNK)."""
    return min(max(rses_on_server // 5, IMPORT_CHUNK_MIN), IMPORT_CHUNK)


def _import_chunks(sets: list[_Write], rses_on_server: int) -> list[list[_Write]]:
    """The imports of a bulk set, _import_size() RSEs each, the last one split in two when that pays.

    Each import is recorded while the next one is in flight, but nothing is in flight while the last one is
    recorded: its recording is all the push waits for once Rucio is done. A short import of a fifth of the
    last one's RSEs at the end leaves only that much to record after it, where an import costs the server
    little beyond its RSEs: a server of few RSEs (see IMPORT_OVERHEAD_IN_RECORDINGS).
    """
    chunked = chunks(sets, _import_size(rses_on_server))
    last = chunked[-1]
    tail = max(len(last) // 5, 1)
    overhead = IMPORT_OVERHEAD_IN_RECORDINGS * (rses_on_server // 8 + 50)
    if len(last) - tail > overhead:
        chunked[-1:] = [last[:-tail], last[-tail:]]
    return chunked


def _settle_import(
    flying: tuple[Future, list[_Write]] | None, started, report: DeliveryReport, unsent: list[_Write]
) -> None:
    """Record an import once it has finished: its writes done, given back (a transient fault) or, when Rucio
    refused it, added to ``unsent`` to be sent one request each."""
    if flying is None:
        return
    future, writes = flying
    try:
        future.result()
    except TransientRucioError as error:
        _give_back([write.push for write in writes], started, str(error), report)
    except PermanentRucioError as error:
        logger.warning("Bulk import refused (%s); pushing one RSE at a time.", error)
        unsent.extend(writes)
    else:
        _succeed_writes(writes, started, report)


class _Listing:
    """The names of the instance's RSEs, listed again once older than LISTING_MAX_AGE_SECONDS; the first
    listing may be one already under way (``ahead``)."""

    def __init__(self, gateway: RucioGateway, ahead: _Listed | None = None) -> None:
        self.gateway = gateway
        self.ahead = ahead
        self.listed: set[str] = set()
        self.at: float | None = None

    def names(self) -> set[str]:
        if self.ahead is not None:
            ahead, self.ahead = self.ahead, None
            self.listed = set(ahead.names.result())  # raises what list_rses() raised
            self.at = ahead.at
        if self.at is None or time.monotonic() - self.at > LISTING_MAX_AGE_SECONDS:
            self.at = time.monotonic()
            self.listed = set(self.gateway.list_rses())
        return self.listed


@dataclass
class _Listed:
    """A listing of an instance's RSEs in flight: its names once done, and when it was asked for (its age is
    counted from then, as LISTING_MAX_AGE_SECONDS bounds how long an RSE deleted since may stay listed)."""

    names: Future
    at: float


class _ListingsAhead:
    """The RSEs of the instances a delivery is about to set in bulk, listed in a thread while this one claims
    the pushes: the listing takes about as long as the claim (10,000 RSEs listed, 5,000 pushes claimed: 0.4-0.6
    s each on the bench), and each had waited for the other.

    Only for instances with more than BULK_THRESHOLD values to set (a bulk set lists first anyway); a
    listing a delivery ends up not using (the pushes taken by another sender meanwhile) is waited for and
    dropped. The threads make no database queries: the listing is HTTP only.
    """

    def __init__(self, push_ids: Sequence[int]) -> None:
        self.push_ids = push_ids
        self.listed: dict[int, _Listed] = {}
        self.gateways: list[RucioGateway] = []
        self.pool: ThreadPoolExecutor | None = None

    def __enter__(self) -> _ListingsAhead:
        if len(self.push_ids) <= BULK_THRESHOLD:
            return self
        many = (
            # Only values to set go in imports: removals are sent one request each, unlisted.
            Push.objects.filter(pk__any=self.push_ids, operation=PushOperation.SET)
            .values("rse__instance")
            .annotate(n=Count("pk"))
            .filter(n__gt=BULK_THRESHOLD)
            .values("rse__instance")
        )
        for instance in RucioInstance.objects.filter(pk__in=many):
            try:
                gateway = RucioGateway(instance.connection())
            except RucioError:
                continue  # the delivery meets it again, and records it
            if self.pool is None:
                self.pool = ThreadPoolExecutor(2, thread_name_prefix="rucio-listing")
            self.gateways.append(gateway)
            self.listed[instance.pk] = _Listed(self.pool.submit(gateway.list_rses), time.monotonic())
        return self

    def get(self, instance_id: int) -> _Listed | None:
        return self.listed.pop(instance_id, None)

    def __exit__(self, *exc_info: object) -> None:
        if self.pool is not None:
            self.pool.shutdown(wait=True)  # a listing not used: an HTTP request can not be called back
        for gateway in self.gateways:
            gateway.close()


def _present(writes: list[_Write], existing: set[str], started, report: DeliveryReport) -> list[_Write]:
    """The writes whose RSE Rucio has (``existing``); the others fail, never to be created by an import."""
    present = []
    for write in writes:
        if write.push.rse.name in existing:
            present.append(write)
        else:
            _fail(write.push, started, write.before, _no_such_rse(write.push), report)
    return present


def _renew_lease_if_due(token: str, renewed: float) -> float:
    """Renew the claim lease once RENEW_AFTER_LEASE_FRACTION of it has passed since ``renewed`` (a
    time.monotonic()); returns the time of the last renewal."""
    if time.monotonic() - renewed < settings.PUSH_CLAIM_LEASE_SECONDS * RENEW_AFTER_LEASE_FRACTION:
        return renewed
    _renew_lease(token)
    return time.monotonic()


def _renew_lease(token: str) -> None:
    """Keep the pushes this sender still holds under ``token`` its own for another PUSH_CLAIM_LEASE_SECONDS."""
    if token:
        Push.objects.filter(claim_token=token, state=PushState.SENDING).update(claimed_at=timezone.now())


def _read_current(gateway: RucioGateway, pushes: list[Push]) -> dict[str, dict[str, str]]:
    names = sorted({push.rse.name for push in pushes})
    if len(names) > BULK_THRESHOLD:
        # Only these RSEs, several requests at a time; an unknown one is absent (its push fails below).
        return gateway.get_rse_attributes_many(names)
    current = {}
    for name in names:
        try:
            current[name] = gateway.get_rse_attributes(name)
        except PermanentRucioError as error:
            if error.rucio_class != "RSENotFound":
                raise
    return current


def _write_one(gateway: RucioGateway, write: _Write, started, report: DeliveryReport) -> None:
    push = write.push
    try:
        if push.operation == PushOperation.SET:
            gateway.set_rse_attribute(push.rse.name, push.key, push.value)
        else:
            gateway.delete_rse_attribute(push.rse.name, push.key)
    except TransientRucioError as error:
        _give_back([push], started, str(error), report)
        return
    except PermanentRucioError as error:
        message = _no_such_rse(push) if error.rucio_class == "RSENotFound" else str(error)
        _fail(push, started, write.before, message, report)
        return
    _succeed_writes([write], started, report)


def _succeed_writes(writes: list[_Write], started, report: DeliveryReport) -> None:
    """Record pushes just written: those whose RSE was read first with the time of that read, the others
    with the RSE's last read time kept (see RSEQuerySet.record_rucio_attributes)."""
    for read in (True, False):
        done = [(write.push, write.before, write.after()) for write in writes if write.read == read]
        _succeed(done, started, AttemptOutcome.WRITTEN, report, read=read)


def _succeed(
    done: list[tuple[Push, str | None, dict[str, str]]],
    started,
    outcome: str,
    report: DeliveryReport,
    *,
    read: bool = True,
) -> None:
    """Record pushes that Rucio now matches, each ``(push, value before, the RSE's attributes now)``.

    In one transaction: the attempts, the pushes done, and what Rucio now holds on each RSE (see
    RSEQuerySet.record_rucio_attributes). Four queries plus one UPDATE per RSE, where one push at a time
    took eight.
    """
    if not done:
        return
    now = timezone.now()
    with transaction.atomic():
        PushAttempt.objects.bulk_create(
            PushAttempt(push=push, started_at=started, finished_at=now, outcome=outcome, value_before=before)
            for push, before, _ in done
        )
        for chunk in key_chunks([push.pk for push, _, _ in done]):
            Push.objects.filter(pk__any=chunk).update(
                state=PushState.DONE, finished_at=now, last_error="", claim_token=""
            )
        # An RSE deleted meanwhile (and its pushes with it) is left out.
        rses = RSE.objects.record_rucio_attributes(
            {push.rse_id: attributes for push, _, attributes in done},
            pushed=outcome == AttemptOutcome.WRITTEN,
            read=read,
        )
    for push, _, _ in done:
        push.state = PushState.DONE
        push.rse = rses.get(push.rse_id, push.rse)
        (report.written if outcome == AttemptOutcome.WRITTEN else report.unchanged).append(push.pk)
        audit.push_outcome(push, outcome)


def _fail(push, started, before, error: str, report: DeliveryReport) -> None:
    with transaction.atomic():
        PushAttempt.objects.create(
            push=push,
            started_at=started,
            finished_at=timezone.now(),
            outcome=AttemptOutcome.PERMANENT_ERROR,
            value_before=before,
            error=error,
        )
        _finish(push, PushState.FAILED, error)
        if push.key == push.rse.instance.attribute_key:
            # The sync state is about the class: a failed conformance write-back leaves it (its push shows).
            RSE.objects.filter(pk=push.rse_id).update(sync_state=SyncState.FAILED)
        notices.push_failed(push, error)
    report.failed.append(push.pk)
    audit.push_outcome(push, "failed", error=error, level=logging.WARNING)


def _give_back(pushes: list[Push], started, error: str, report: DeliveryReport) -> None:
    """A transient fault: record it and return the pushes to the queue, each not to be tried again before its
    wait is over (retry_wait: longer after each fault of the push)."""
    now = timezone.now()
    by_attempts: dict[int, list[int]] = defaultdict(list)
    for push in pushes:
        by_attempts[push.attempts].append(push.pk)
    with transaction.atomic():
        PushAttempt.objects.bulk_create(
            PushAttempt(
                push=push,
                started_at=started,
                finished_at=timezone.now(),
                outcome=AttemptOutcome.TRANSIENT_ERROR,
                error=error,
            )
            for push in pushes
        )
        # Pushes given back together mostly share their number of attempts: one UPDATE each such group.
        for attempts, pks in by_attempts.items():
            wait = retry_wait(attempts) * random.uniform(1, 1 + RETRY_JITTER)  # noqa: S311 - not cryptography
            retry_at = now + timedelta(seconds=wait)
            Push.objects.filter(pk__any=pks, state=PushState.SENDING).update(
                state=PushState.QUEUED, claim_token="", last_error=error, next_attempt_at=retry_at
            )
            report.retry_at = max(retry_at, report.retry_at or retry_at)
    report.retry.extend(push.pk for push in pushes)
    report.transient_error = error
    for push in pushes:
        audit.push_outcome(push, "retry", error=error, level=logging.WARNING)


def _finish(push: Push, state: str, error: str) -> None:
    Push.objects.filter(pk=push.pk).update(
        state=state, finished_at=timezone.now(), last_error=error, claim_token=""
    )
    push.state = state


def due_for_sweep() -> list[int]:
    """Pushes a lost message or a dead worker left behind: queued PUSH_SWEEP_AFTER_SECONDS past their creation
    or the end of their wait after a fault, or claimed past the lease.

    Not one whose own task still retries it: that task takes it as soon as its wait is over, long before.
    """
    now = timezone.now()
    stale = now - timedelta(seconds=settings.PUSH_SWEEP_AFTER_SECONDS)
    lease_expired = now - timedelta(seconds=settings.PUSH_CLAIM_LEASE_SECONDS)
    return list(
        Push.objects.filter(
            Q(state=PushState.QUEUED)
            & (Q(next_attempt_at__lt=stale) | Q(next_attempt_at__isnull=True, created_at__lt=stale))
            | Q(state=PushState.SENDING, claimed_at__lt=lease_expired)
        )
        .order_by("pk")
        .values_list("pk", flat=True)[:5000]
    )


@dataclass
class RSESyncReport:
    new: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)


def sync_rses(instance: RucioInstance) -> RSESyncReport:
    """Import the instance's RSEs, their attributes and capacity: new ones appear, vanished ones are flagged,
    not deleted.

    Also the drift check: every RSE's attributes are read back and its sync state recomputed. An RSE whose
    capacity cannot be read gets an unknown capacity and the reason; the others are read all the same.
    """
    gateway = RucioGateway(instance.connection())
    everything = gateway.get_all_rse_attributes()
    # Outside the transaction: Rucio's answers take a while, and a row lock should not wait for them.
    capacities = read_capacities(gateway, list(everything))
    report = RSESyncReport()
    known = dict(instance.rses.values_list("name", "pk"))
    with transaction.atomic():
        reported = {}
        for name, attributes in everything.items():
            if name in known:
                report.updated.append(name)
            else:
                known[name] = RSE.objects.create(instance=instance, name=name).pk
                report.new.append(name)
            reported[known[name]] = attributes
        RSE.objects.record_rucio_attributes(reported)
        RSE.objects.bulk_update(
            [RSE(pk=known[name], **capacity) for name, capacity in capacities.items()],
            CAPACITY_FIELDS,
            batch_size=500,
        )
        gone = [name for name in known if name not in everything]
        RSE.objects.filter(instance=instance, name__in=gone).update(
            missing_in_rucio=True, sync_state=SyncState.UNKNOWN
        )
        report.missing = gone
        RucioInstance.objects.filter(pk=instance.pk).update(last_synced_at=timezone.now(), last_error="")
    return report


def read_capacities(
    gateway: RucioGateway, names: list[str], *, workers: int = CAPACITY_READERS
) -> dict[str, dict[str, object]]:
    """The capacity of each of these RSEs as ``capacity_*`` field values (see read_capacity): above
    BULK_THRESHOLD RSEs ``workers`` threads at a time, each with a client of its own (two requests per RSE, one
    after the other, took most of the 21 minutes of a sync of 10,000 RSEs).

    A permanent fault (the RSE was deleted meanwhile, ...) leaves that RSE's capacity unknown, with the reason.
    After a transient one (the server down or overloaded) the rest are not asked, and are unknown for the same
    reason: a sync of hundreds of RSEs would otherwise wait out every timeout, and load a struggling server.
    """
    faults: list[TransientRucioError] = []

    def read(group: list[str], reader: RucioGateway) -> dict[str, dict[str, object]]:
        capacities: dict[str, dict[str, object]] = {}
        for name in group:
            if faults:
                capacities[name] = _unknown_capacity(f"Not read, after an earlier fault: {faults[0]}")
                continue
            try:
                capacities[name] = read_capacity(reader, name)
            except RucioError as error:
                logger.warning("Capacity of RSE %s unknown: %s", name, error)
                capacities[name] = _unknown_capacity(str(error))
                if isinstance(error, TransientRucioError):
                    faults.append(error)
        return capacities

    if workers <= 1 or len(names) <= BULK_THRESHOLD:
        return read(names, gateway)
    groups = [names[start::workers] for start in range(workers)]
    readers = [RucioGateway(gateway.conn) for _ in groups]
    try:
        with ThreadPoolExecutor(len(groups), thread_name_prefix="rucio-capacity") as pool:
            found: dict[str, dict[str, object]] = {}
            for capacities in pool.map(read, groups, readers):
                found.update(capacities)
    finally:
        for reader in readers:
            reader.close()
    return {name: found[name] for name in names}


def read_capacity(gateway: RucioGateway, rse: str) -> dict[str, object]:
    """An RSE's capacity as Rucio reports it now, as the RSE's ``capacity_*`` field values.

    Two requests (usage, limits): Rucio has no call returning either for many RSEs. Whatever Rucio cannot
    tell stays None, never 0: Rucio's own count (source ``rucio``) knows what its replicas use but not what is
    free, and its ``total`` is then merely the used bytes.
    """
    usage = {entry.get("source"): entry for entry in gateway.get_rse_usage(rse)}
    limits = gateway.get_rse_limits(rse)
    source = next((source for source in CAPACITY_SOURCES if source in usage), None)
    if source is None:
        return _unknown_capacity("Rucio has no usage of this RSE, from storage or its own count.")
    used, free = _bytes(usage[source].get("used")), _bytes(usage[source].get("free"))
    return {
        "capacity_total_bytes": used + free if used is not None and free is not None else None,
        "capacity_used_bytes": used,
        "capacity_free_bytes": free,
        "capacity_min_free_bytes": _bytes(limits.get("MinFreeSpace")),
        "capacity_source": source,
        "capacity_read_at": timezone.now(),
        "capacity_error": "" if free is not None else f"Rucio's usage from {source} tells no free space.",
    }


def _unknown_capacity(reason: str) -> dict[str, object]:
    return {
        "capacity_total_bytes": None,
        "capacity_used_bytes": None,
        "capacity_free_bytes": None,
        "capacity_min_free_bytes": None,
        "capacity_source": "",
        "capacity_read_at": timezone.now(),
        "capacity_error": reason,
    }


def _bytes(value: object) -> int | None:
    """A number of bytes from Rucio's JSON (an int, sometimes a float or a numeric string), or None."""
    try:
        return None if value is None else int(value)
    except (TypeError, ValueError):
        return None
