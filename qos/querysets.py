from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, timedelta
from typing import Any

from django.core.exceptions import ValidationError
from django.db import connection, models, transaction
from django.db.models import Count, F, OuterRef, Q, Subquery
from django.db.models.functions import Coalesce
from django.utils import timezone

from common.bulk import create_alike, update_each

from . import audit
from .choices import ASSIGNABLE_STATUSES, FAILING_VERDICTS, ClassStatus, RevisionKind


class StorageQoSClassQuerySet(models.QuerySet):
    def create_draft(self, *, by: Any, comment: str = "", **content: Any) -> Any:
        """Create a class as a draft, with its first revision. Raises ValidationError on bad content."""
        qos_class = self.model(**content)
        qos_class.full_clean(exclude=["status", "revision"])
        with transaction.atomic():
            qos_class.save()
            qos_class._add_revision(
                by, RevisionKind.CREATED, comment, changed=[name for name, value in content.items() if value]
            )
            qos_class.save(update_fields=["revision"])
        return qos_class

    def awaiting_approval(self) -> StorageQoSClassQuerySet:
        return self.filter(Q(status=ClassStatus.PROPOSED) | Q(pending_revision__isnull=False))

    def approved(self) -> StorageQoSClassQuerySet:
        return self.filter(status=ClassStatus.APPROVED)

    def with_rse_counts(self) -> StorageQoSClassQuerySet:
        """Each class with how many RSEs carry it (``rse_count``) and how many it is planned on, pushed once
        it is approved (``planned_rse_count``): counted in the list's own query, however many rows it has."""
        return self.annotate(rse_count=_rse_count("qos_class"), planned_rse_count=_rse_count("planned_class"))

    def search(self, text: str) -> StorageQoSClassQuerySet:
        text = text.strip()
        if not text:
            return self
        return self.filter(
            Q(label__icontains=text) | Q(title__icontains=text) | Q(description__icontains=text)
        )


def _rse_count(field: str) -> Coalesce:
    """How many RSEs name the outer query's class in ``field``: a subquery, 0 for none."""
    from .models import RSE

    rses = RSE.objects.filter(**{field: OuterRef("pk")}).order_by().values(field)
    return Coalesce(Subquery(rses.annotate(n=Count("pk")).values("n")), 0)


class RSEQuerySet(models.QuerySet):
    def with_related(self) -> RSEQuerySet:
        return self.select_related(
            "instance", "qos_class", "planned_class", "conformance", "conformance__last_probe"
        )

    def with_usable(self) -> RSEQuerySet:
        """Annotate ``usable``: free space minus MinFreeSpace, NULL when the free space is unknown; the SQL twin
        of ``RSE.usable_bytes`` (``tests/qos/test_rse_capacity.py`` holds them together)."""
        return self.annotate(
            usable=models.F("capacity_free_bytes") - Coalesce("capacity_min_free_bytes", models.Value(0))
        )

    def state_counts(self) -> dict[str, int]:
        """How many RSEs are in each sync state, every state present (one query)."""
        from .choices import SyncState

        counts = dict(self.order_by().values_list("sync_state").annotate(n=models.Count("pk")))
        return {state: counts.get(state, 0) for state in SyncState.values}

    def record_rucio_attributes(
        self, reported: Mapping[int, Mapping[str, Any]], *, pushed: bool = False, read: bool = True
    ) -> dict[int, Any]:
        """Store what Rucio reported of RSEs, ``{RSE pk: its attributes}``: the attributes, the value of the
        instance's key, the time they were read, and the sync state this leaves (see RSE.compute_sync_state).
        ``pushed``: the portal has just written them, which is the time of its last push too. ``read=False``:
        not read from Rucio but known (the values last read, with what the portal has just written), so the
        time they were last read stays as it was.

        Returns the RSEs recorded by pk; one deleted meanwhile is skipped. Four queries whatever their number on
        PostgreSQL (the RSEs, their instances and classes, then one ``UPDATE ... FROM unnest(arrays)`` writes them
        all); elsewhere one UPDATE per RSE: each has attributes of its own, and Django's bulk_update (CASE WHEN
        ...) measured slower than that.
        """
        from .models import Push

        now = timezone.now()
        rses: dict[int, Any] = {}
        # The state of each RSE's latest push of its class attribute: the index (rse, -id) finds it at once,
        # however long the RSE's history.
        latest_state = Subquery(
            Push.objects.filter(rse=OuterRef("pk"), key=OuterRef("instance__attribute_key"))
            .order_by("-pk")
            .values("state")[:1]
        )
        for chunk in key_chunks(list(reported)):
            rses.update(
                (rse.pk, rse)
                for rse in self.prefetch_related("instance", "qos_class")
                .annotate(latest_push_state=latest_state)
                .filter(pk__any=chunk)
            )
        recorded = ["rucio_attributes", "rucio_value", "sync_state", "updated_at"]
        if pushed:
            recorded.append("last_pushed_at")
        if read:
            recorded += ["last_read_at", "missing_in_rucio"]
        from .choices import SyncState

        drifted = []
        rows = []
        for pk, rse in rses.items():
            was = rse.sync_state
            rse.rucio_attributes = {key: str(value) for key, value in reported[pk].items()}
            rse.rucio_value = rse.rucio_attributes.get(rse.instance.attribute_key)
            if pushed:
                rse.last_pushed_at = now
            if read:
                rse.last_read_at = now
                rse.missing_in_rucio = False
            rse.sync_state = rse.sync_state_after(rse.latest_push_state)
            rse.updated_at = now
            rows.append(rse)
            if rse.sync_state == SyncState.DRIFTED and was != SyncState.DRIFTED:
                drifted.append(rse)
        update_each(self.model, rows, recorded)
        if drifted:
            from . import notices

            notices.rses_drifted(drifted, at=now)
        return rses

    def plan(self, qos_class: Any | None) -> list[dict[str, Any]]:
        """What assigning ``qos_class`` (None: unassigning) would change, RSE by RSE, before anything is done."""
        rows = []
        for rse in self.with_related():
            target = (
                qos_class.label
                if qos_class is not None and qos_class.status == ClassStatus.APPROVED
                else None
            )
            rows.append(
                {
                    "rse": rse,
                    "from": rse.desired_value,
                    "rucio": rse.rucio_value,
                    "to": target,
                    "planned": qos_class is not None and qos_class.status != ClassStatus.APPROVED,
                    "changes": target != rse.desired_value or target != (rse.rucio_value or None),
                }
            )
        return rows

    def assign(self, qos_class: Any | None, *, by: Any, reason: str = "") -> list[Any]:
        """Assign an approved class (or plan a proposed one, or unassign with None) and write the pushes.

        Returns the pushes written; they are sent after the surrounding transaction commits.
        """
        from .choices import SyncState
        from .models import Push

        if qos_class is not None and qos_class.status not in ASSIGNABLE_STATUSES:
            raise ValidationError(
                f"{qos_class.label} is {qos_class.get_status_display().lower()}: only approved classes can be "
                "assigned (or draft and proposed ones planned for when they are approved)."
            )
        # A few queries whatever the number of RSEs (one UPDATE or INSERT per kind of change, in chunks).
        with transaction.atomic():
            # By pk: a queryset filtered across a to-many relation may yield an RSE twice. With their instance
            # only, one object per instance: their classes are about to be replaced (a thousand RSEs of one
            # class were a thousand class objects to build, 0.1 s), and 10,000 copies of one instance 0.1 s.
            rses = list(
                {
                    rse.pk: rse for rse in self.prefetch_related("instance").select_for_update(of=("self",))
                }.values()
            )
            if qos_class is not None and qos_class.status != ClassStatus.APPROVED:
                self._set_classes(rses, planned_class=qos_class)
                audit.rses_assigned([rse.name for rse in rses], qos_class, by=by, planned=True)
                return []
            # The sync state the pushes leave, in the same UPDATE: a second one of 10,000 RSEs took 0.15 s.
            self._set_classes(rses, qos_class=qos_class, planned_class=None, sync_state=SyncState.PENDING)
            audit.rses_assigned([rse.name for rse in rses], qos_class, by=by, planned=False)
            action = f"assigned {qos_class.label}" if qos_class else "unassigned"
            pushes = Push.objects.enqueue_many(
                rses,
                qos_class.label if qos_class else None,
                reason or action,
                by=by,
                pending=True,
                dispatch=True,
            )
        return pushes

    def _set_classes(self, rses: list[Any], **classes: Any) -> None:
        """Give these RSEs these classes, in the database (an UPDATE per chunk) and on the objects."""
        changes = {**classes, "updated_at": timezone.now()}
        for chunk in key_chunks([rse.pk for rse in rses]):
            self.model.objects.filter(pk__any=chunk).update(**changes)
        for rse in rses:
            for name, value in changes.items():
                setattr(rse, name, value)


class PushQuerySet(models.QuerySet):
    def enqueue(
        self,
        rse: Any,
        value: str | None,
        reason: str,
        *,
        by: Any = None,
        dispatch: bool = True,
        key: str = "",
    ) -> Any:
        """Write a push (outbox row) for one RSE; older unsent pushes of the RSE (of the same attribute: see
        enqueue_many) are superseded.

        The task that sends it is queued when the transaction commits: never before, so a worker can not see
        a push that a rollback is about to remove.
        """
        (push,) = self.enqueue_many([rse], value, reason, by=by, key=key, dispatch=dispatch)
        return push

    def enqueue_many(
        self,
        rses: list[Any],
        value: str | None,
        reason: str,
        *,
        by: Any = None,
        key: str = "",
        pending: bool = False,
        dispatch: bool = False,
    ) -> list[Any]:
        """Write one push per RSE (in the order given), superseding their older unsent pushes of the same
        attribute; sends them once the transaction commits if ``dispatch``, else nothing.

        ``key``: the attribute, the RSEs' class attribute (``instance.attribute_key``) unless told; a push of
        another one (the conformance write-back) neither supersedes nor is superseded by a push of the class,
        and leaves the RSE's sync state (which is about its class) as it is. ``pending``: the caller has already
        set the RSEs' sync state to pending, in the database and on the objects.

        A few queries whatever the number of RSEs: one UPDATE, INSERT and UPDATE per chunk of RSEs.
        """
        from .choices import PushState, SyncState
        from .models import RSE

        if not rses:
            return []
        now = timezone.now()
        pks = [rse.pk for rse in rses]
        with transaction.atomic():
            superseded = 0
            for chunk in key_chunks(pks):
                superseded += self.filter(
                    Q(key=key) if key else Q(key=F("rse__instance__attribute_key")),
                    rse_id__any=chunk,
                    state=PushState.QUEUED,
                ).update(
                    state=PushState.SUPERSEDED,
                    finished_at=now,
                    last_error="A newer push for this RSE was written.",
                )
            pushes = create_alike(
                self,
                self._new(rses, value, reason, by=by, key=key, at=now),
                varying=["rse_id", "key"],
                batch_size=CHUNK,
            )
            if dispatch:
                # Before the audit lines: the callbacks run in the order they were registered, and the worker
                # need not wait for 10,000 lines to be written (0.15-0.2 s).
                dispatch_after_commit(pushes)
            if not key and not pending:
                for chunk in key_chunks(pks):
                    RSE.objects.filter(pk__any=chunk).update(sync_state=SyncState.PENDING)
            if superseded:
                audit.log_on_commit(
                    "push.superseded",
                    "%s queued push(es) superseded by newer ones for the same RSEs",
                    superseded,
                    by=by,
                    push_count=superseded,
                )
            audit.pushes_queued(pushes, by=by, reason=reason[:255])
        if not key:
            for rse in rses:
                rse.sync_state = SyncState.PENDING
        return pushes

    def _new(
        self, rses: list[Any], value: str | None, reason: str, *, by: Any, key: str, at: Any
    ) -> list[Any]:
        """One unsaved push per RSE, alike but for the RSE and (with no ``key``) the instance's attribute."""
        from .choices import PushOperation

        operation = PushOperation.SET if value else PushOperation.DELETE
        requested_by = by if getattr(by, "pk", None) else None
        return [
            self.model(
                rse=rse,
                key=key or rse.instance.attribute_key,
                value=value,
                operation=operation,
                reason=reason[:255],
                requested_by=requested_by,
                created_at=at,
            )
            for rse in rses
        ]

    def of_class_attribute(self) -> PushQuerySet:
        """Pushes of their RSE's class attribute (``instance.attribute_key``): the ones its sync state is
        about, not a conformance write-back."""
        return self.filter(key=F("rse__instance__attribute_key"))

    def unsent(self) -> PushQuerySet:
        from .choices import PushState

        return self.filter(state__in=[PushState.QUEUED, PushState.SENDING])


# An RSE's capacity, as the sync reads it (qos.rucio_gateway.sync.read_capacity).
CAPACITY_FIELDS = [
    "capacity_total_bytes",
    "capacity_used_bytes",
    "capacity_free_bytes",
    "capacity_min_free_bytes",
    "capacity_source",
    "capacity_read_at",
    "capacity_error",
]

# One task carries many pushes: the sender reads and writes them in a few Rucio requests, not one each. A
# task of a bulk assignment lists the instance's RSEs once for all its imports (of IMPORT_CHUNK RSEs each, see
# qos.rucio_gateway.sync): at 500 a task, 10,000 RSEs cost the server 20 listings of 10,000 RSEs; at 5,000, two
# listings and a pause between the tasks with Rucio idle (the last import recorded, the next task's claim and
# listing). Imports go one at a time to an instance anyway (sync._ImportTurn), so two tasks gain no overlap.
PUSHES_PER_TASK = 10000
# Rows per bulk UPDATE / INSERT: keeps a statement's parameters well below SQLite's limit.
CHUNK = 500


def chunks(items: list[Any], size: int = CHUNK) -> list[list[Any]]:
    """``items`` in lists of at most ``size``, for statements that take them all (IN lists, bulk writes)."""
    return [items[start : start + size] for start in range(0, len(items), size)]


def key_chunks(keys: list[int]) -> list[list[int]]:
    """``keys`` for ``__any`` lookups (common.lookups.AnyOf): all at once on PostgreSQL, where they are one
    array parameter whatever their number; in lists of CHUNK elsewhere (an IN list each, within SQLite's
    limit of parameters)."""
    if connection.vendor == "postgresql":
        return [keys] if keys else []
    return chunks(keys)


def dispatch_after_commit(pushes: list[Any]) -> None:
    ids = [push.pk for push in pushes]
    for start in range(0, len(ids), PUSHES_PER_TASK):
        chunk = ids[start : start + PUSHES_PER_TASK]
        transaction.on_commit(lambda chunk=chunk: send_after_commit(chunk))


def send_after_commit(push_ids: list[int]) -> None:
    """Queue the sending task. A broker that is down must not undo or break the committed change: the
    sweeper sends the pushes later."""
    import logging

    from . import tasks

    try:
        tasks.send_pushes.apply_async(
            args=[push_ids],
            retry=True,
            retry_policy={"max_retries": 2, "interval_start": 0.2, "interval_step": 0.5},
        )
    except Exception as error:
        logging.getLogger(__name__).warning(
            "Could not queue pushes %s (%s); the sweeper will send them.", push_ids, type(error).__name__
        )


class RucioInstanceQuerySet(models.QuerySet):
    def from_environment(self) -> list[Any]:
        """The instances the deployment's environment describes (RUCIO_HOST, RUCIO_INSTANCES; see
        qos.rucio_config), created or updated to match it, matched by name. Other rows, and instances the
        environment describes wrongly, are left alone: they cannot connect, and say why when they try."""
        from .rucio_config import configured_instances

        instances = []
        for configured in configured_instances():
            if not configured.host or configured.problems():
                continue
            instance, _ = self.update_or_create(
                name=configured.name,
                defaults={
                    "host": configured.host,
                    "auth_host": configured.auth_host,
                    "account": configured.account,
                    "auth_type": configured.auth_type,
                    "ca_bundle": configured.ca_bundle,
                    "env_prefix": configured.env_prefix,
                },
            )
            instances.append(instance)
        return instances


class ProbeQuerySet(models.QuerySet):
    def record(
        self, rse: Any, *, started_at: Any, duration_seconds: float, timings: Any = None, error: Any = None
    ) -> Any:
        """Store one probe of ``rse``: what it measured (``timings``, a gateway ProbeTimings) or how it failed
        (``error``, a RucioError; ProbeNotPossible for an RSE that cannot be probed)."""
        from .choices import ProbeFault
        from .rucio_gateway.probe import ProbeNotPossible

        values: dict[str, Any] = {"ok": timings is not None}
        if timings is not None:
            values.update(
                size_bytes=timings.size_bytes,
                write_mbps=timings.write_mbps,
                read_mbps=timings.read_mbps,
                latency_seconds=timings.latency_seconds,
            )
        else:
            values.update(
                error=str(error),
                fault=ProbeFault.NOT_PROBEABLE
                if isinstance(error, ProbeNotPossible)
                else ProbeFault.PERMANENT
                if getattr(error, "permanent", True)
                else ProbeFault.TRANSIENT,
            )
        return self.create(
            rse=rse,
            started_at=started_at,
            duration_seconds=duration_seconds,
            qos_class_label=rse.qos_class.label if rse.qos_class_id else "",
            **values,
        )

    def compact(self, *, keep_days: int, now: Any = None) -> int:
        """Fold probes older than ``keep_days`` into one ProbeDay per RSE and day (means of the successful
        ones, counts of all), then delete them; returns how many raw probes went. Whole days only: the
        cut-off is a midnight (UTC), so a day is never folded twice."""
        from django.db.models import Avg
        from django.db.models.functions import TruncDate

        from .models import ProbeDay

        now = now or timezone.now()
        cutoff = (now - timedelta(days=keep_days)).astimezone(UTC)
        cutoff = cutoff.replace(hour=0, minute=0, second=0, microsecond=0)
        old = self.filter(started_at__lt=cutoff)
        days = (
            old.annotate(day=TruncDate("started_at", tzinfo=UTC))
            .values("rse", "day")
            .annotate(
                n=Count("pk"),
                failed=Count("pk", filter=Q(ok=False)),
                write=Avg("write_mbps", filter=Q(ok=True)),
                read=Avg("read_mbps", filter=Q(ok=True)),
                latency=Avg("latency_seconds", filter=Q(ok=True)),
            )
            .order_by()
        )
        with transaction.atomic():
            for row in days:
                ProbeDay.objects.update_or_create(
                    rse_id=row["rse"],
                    day=row["day"],
                    defaults={
                        "probes": row["n"],
                        "failures": row["failed"],
                        "write_mbps": row["write"],
                        "read_mbps": row["read"],
                        "latency_seconds": row["latency"],
                    },
                )
            deleted, _ = old.delete()
        return deleted


class ConformanceQuerySet(models.QuerySet):
    def judge(self, rse: Any, probe: Any = None, *, reason: str = "") -> tuple[Any, bool]:
        """Hold ``probe`` (None: judge without one, e.g. no class) against ``rse``'s class and record the
        observation on its Conformance; returns it and whether its verdict changed."""
        from .conformance import assess

        qos_class = rse.qos_class if rse.qos_class_id else None
        assessment = assess(qos_class, probe, probeable_reason=reason)
        with transaction.atomic():
            conformance, _ = self.select_for_update().get_or_create(rse=rse)
            changed = conformance.observe(
                assessment.verdict,
                assessment.reasons,
                qos_class_label=qos_class.label if qos_class else "",
                probe=probe,
            )
            conformance.save()
            if changed:
                self._write_back(rse, conformance.verdict)
            if changed and conformance.verdict in FAILING_VERDICTS:
                from .notices import rse_not_conforming

                # Written with the verdict, so the QoS admins hear of it exactly when it is confirmed.
                rse_not_conforming(
                    rse,
                    probe_key=f"{conformance.verdict}:{conformance.changed_at.isoformat()}",
                    finding="; ".join(conformance.reasons),
                )
        return conformance, changed

    @staticmethod
    def _write_back(rse: Any, verdict: str) -> None:
        """Push the new verdict to Rucio as the instance's conformance attribute, when it has one: ``true``
        (conforming, degraded: it delivers), ``false`` (violating, unreachable), and the attribute removed
        when unknown (a verdict about a former class must not vouch for a new one). Through the outbox, in the
        transaction that records the verdict."""
        from .choices import DELIVERING_VERDICTS, Verdict
        from .models import Push

        key = rse.instance.conformance_attribute
        if not key:
            return
        value = None if verdict == Verdict.UNKNOWN else str(verdict in DELIVERING_VERDICTS).lower()
        Push.objects.enqueue(rse, value, f"conformance verdict: {verdict}", key=key)

    def verdict_counts(self) -> dict[str, int]:
        """How many RSEs have each verdict, every verdict present; RSEs never judged count as unknown."""
        from .choices import Verdict
        from .models import RSE

        counts = dict(self.order_by().values_list("verdict").annotate(n=Count("pk")))
        counts[Verdict.UNKNOWN] = (
            counts.get(Verdict.UNKNOWN, 0) + RSE.objects.filter(conformance__isnull=True).count()
        )
        return {verdict: counts.get(verdict, 0) for verdict in Verdict.values}
