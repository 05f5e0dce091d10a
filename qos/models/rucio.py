"""What the portal knows of Rucio: instances, their RSEs, and the pushes that make Rucio match the catalogue.

A :class:`Push` is written in the same transaction as the approval or assignment that causes it (a
transactional outbox) and sent after commit by a Celery task. If the broker is down or a message is lost, the
row is still there and the periodic sweeper sends it later: a push can be late, never lost.
"""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import RegexValidator
from django.db import models
from django.utils import timezone

from common.models import optional_link, user_link
from common.urls import object_url

from .. import audit, rucio_config
from ..choices import AttemptOutcome, AuthType, ClassStatus, PushOperation, PushState, SyncState
from ..querysets import PushQuerySet, RSEQuerySet, RucioInstanceQuerySet
from ..rucio_gateway import PermanentRucioError, RucioConnection
from .catalogue import StorageQoSClass

if TYPE_CHECKING:
    from .conformance import Conformance

ENV_PREFIX_PATTERN = r"^[A-Z][A-Z0-9_]*$"


def is_rucio_prefix(prefix: str) -> bool:
    """Whether credentials may be read with this prefix: RUCIO or RUCIO_<SOMETHING> only. Whoever edits an
    instance chooses its server; with a prefix such as POSTGRES they would have the portal send them its other
    secrets (POSTGRES_PASSWORD) on the next sync."""
    return prefix == "RUCIO" or prefix.startswith("RUCIO_")


# What Rucio accepts as an RSE attribute's name (the class attribute, the conformance write-back's).
ATTRIBUTE_NAME = RegexValidator(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$", "Letters, digits, '.', '-' and '_' only.")


class RucioInstance(models.Model):
    """A Rucio server the portal reads RSEs from and pushes attributes to (ESCAPE testbed, WLCG DOMA, ...).

    Where it connects and as whom is the deployment's configuration, not the catalogue's: the row mirrors the
    environment variables with its ``env_prefix`` (``<PREFIX>_HOST``, ``<PREFIX>_AUTH_HOST``, ...; see
    :mod:`qos.rucio_config`), which also hold its credentials (``<PREFIX>_USERNAME``, ``<PREFIX>_PASSWORD``,
    ``<PREFIX>_CLIENT_CERT``, ``<PREFIX>_CLIENT_KEY``, ``<PREFIX>_TOKEN``, each also as ``..._FILE``).
    Credentials are never stored here. Only ``attribute_key``, ``conformance_attribute`` and ``enabled`` are the portal's to change.
    """

    name = models.SlugField(max_length=64, unique=True, help_text="Short name, e.g. escape-testbed.")
    host = models.URLField(help_text="Rucio server URL, e.g. https://rucio.escape.example")
    auth_host = models.URLField(blank=True, help_text="Rucio auth server URL; empty: same as the server.")
    account = models.CharField(max_length=64, default="root")
    auth_type = models.CharField(max_length=16, choices=AuthType.choices, default=AuthType.USERPASS)
    attribute_key = models.CharField(
        max_length=64,
        default="QOS",
        validators=[ATTRIBUTE_NAME],
        help_text="The RSE attribute that carries the class label, e.g. QOS.",
    )
    conformance_attribute = models.CharField(
        max_length=64,
        blank=True,
        default="",
        validators=[ATTRIBUTE_NAME],
        help_text="An RSE attribute the portal sets to true or false when an RSE's conformance verdict "
        "changes (e.g. QOS_OK), so a rule can ask for QOS=FAST&QOS_OK=true; empty: not written back.",
    )
    ca_bundle = models.CharField(
        max_length=500, blank=True, help_text="Path of a CA bundle; empty: system CAs."
    )
    env_prefix = models.CharField(
        "credentials variable prefix",
        max_length=64,
        default="RUCIO",
        validators=[
            RegexValidator(ENV_PREFIX_PATTERN, "Upper case letters, digits and '_', e.g. RUCIO_DOMA.")
        ],
        help_text="Credentials are read from <PREFIX>_USERNAME, <PREFIX>_PASSWORD(_FILE), <PREFIX>_CLIENT_CERT, ...",
    )
    enabled = models.BooleanField(default=True)
    last_synced_at = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True)

    objects = RucioInstanceQuerySet.as_manager()

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    def get_absolute_url(self) -> str:
        return object_url("qos:instance-detail", self.name)

    def connection(self) -> RucioConnection:
        """Connection settings for the Rucio gateway, read from the environment now, secrets included.

        Everything comes from the variables with the instance's prefix, so its credentials can only go to the
        server configured beside them; a row that says otherwise (edited in the database, or left from before
        a change of the environment) is refused rather than believed.
        """
        if not is_rucio_prefix(self.env_prefix):
            raise PermanentRucioError(
                f"The credentials prefix {self.env_prefix!r} is not RUCIO or RUCIO_...: the portal reads "
                "no other variables. Set the instance's prefix to one such as RUCIO_DOMA."
            )
        configured = rucio_config.configured_instance(self.env_prefix)
        if configured is None or not configured.host:
            raise PermanentRucioError(
                f"The deployment configures no Rucio instance with the prefix {self.env_prefix}: set "
                f"{self.env_prefix}_HOST (and, for a prefix other than RUCIO, name it in RUCIO_INSTANCES)."
            )
        problems = configured.problems()
        if problems:
            raise PermanentRucioError(" ".join(problems))
        differing = [
            name
            for name, here, there in (
                ("host", self.host, configured.host),
                ("auth host", self.auth_host or self.host, configured.auth_host),
                ("account", self.account, configured.account),
                ("auth type", self.auth_type, configured.auth_type),
                ("CA bundle", self.ca_bundle, configured.ca_bundle),
            )
            if here != there
        ]
        if differing:
            raise PermanentRucioError(
                f"The settings of {self.name} ({', '.join(differing)}) are not the deployment's "
                f"({self.env_prefix}_* variables): the portal sends {self.env_prefix} credentials only to the "
                "server configured with them. A sync takes the deployment's settings."
            )

        def secret(name: str) -> str:
            return rucio_config.variable(f"{self.env_prefix}_{name}")

        return RucioConnection(
            host=configured.host,
            auth_host=configured.auth_host,
            account=configured.account,
            auth_type=configured.auth_type,
            username=secret("USERNAME"),
            password=secret("PASSWORD"),
            client_cert=secret("CLIENT_CERT"),
            client_key=secret("CLIENT_KEY"),
            token=secret("TOKEN"),
            ca_cert=configured.ca_bundle,
            token_dir=getattr(settings, "RUCIO_TOKEN_DIR", None),
        )

    @staticmethod
    def attributes_refusal(attribute_key: str, conformance_attribute: str) -> str | None:
        """Why this pair of attributes cannot be (None: it can): the class's pushes and the verdict's would
        overwrite each other, and the sync state would mean nothing."""
        if conformance_attribute and conformance_attribute == attribute_key:
            return f"Must differ from the class attribute ({attribute_key})."
        return None

    def clean(self) -> None:
        refusal = self.attributes_refusal(self.attribute_key, self.conformance_attribute)
        if refusal:
            raise ValidationError({"conformance_attribute": refusal})

    def change_settings(
        self, *, attribute_key: str, conformance_attribute: str, enabled: bool, by: Any = None
    ) -> list[Push]:
        """Change what the portal may change of the instance, with what each change does to its RSEs, in one
        transaction; returns the pushes queued (sent after it commits).

        A new ``attribute_key`` writes nothing to Rucio and leaves the former attribute where it is
        (replication rules may still ask for it): each RSE's value in Rucio and sync state are read again at
        once from the attributes the portal last read, so an RSE whose class Rucio does not hold under the new
        key shows as drifted now, for the QoS admins to reconcile, and not only after the next sync.

        A new ``conformance_attribute`` ('' stops the write-back) brings Rucio in line at once rather than at
        each RSE's next change of verdict (see _write_back_everywhere).
        """
        from django.db import transaction

        old_key, old_conformance = self.attribute_key, self.conformance_attribute
        with transaction.atomic():
            self.attribute_key = attribute_key
            self.conformance_attribute = conformance_attribute
            self.enabled = enabled
            self.save(update_fields=["attribute_key", "conformance_attribute", "enabled"])
            if attribute_key != old_key:
                RSE.objects.filter(instance=self).record_rucio_attributes(
                    dict(
                        self.rses.filter(last_read_at__isnull=False, missing_in_rucio=False).values_list(
                            "pk", "rucio_attributes"
                        )
                    ),
                    read=False,
                )
            if conformance_attribute == old_conformance:
                return []
            return self._write_back_everywhere(old_conformance, by=by)

    def _write_back_everywhere(self, old: str, *, by: Any) -> list[Push]:
        """Every RSE gets the conformance attribute set to its verdict (removed where unknown), and the former
        attribute ``old`` is removed from the RSEs that carry it or are about to, so that a renamed or
        switched-off write-back leaves nothing vouching behind. Only what the portal does not already know
        Rucio to hold is pushed."""
        from ..choices import DELIVERING_VERDICTS, Verdict
        from ..querysets import dispatch_after_commit

        key = self.conformance_attribute
        pushes: list[Push] = []
        rses = list(self.rses.select_related("instance", "conformance").order_by("pk"))
        if old:
            about_to = set(
                Push.objects.unsent().filter(rse__instance=self, key=old).values_list("rse", flat=True)
            )
            stale = [rse for rse in rses if old in rse.rucio_attributes or rse.pk in about_to]
            pushes += Push.objects.enqueue_many(
                stale, None, f"conformance write-back moved from {old} to {key or 'nothing'}", by=by, key=old
            )
        if key:
            wanted: dict[str | None, list[RSE]] = {"true": [], "false": [], None: []}
            for rse in rses:
                verdict = getattr(getattr(rse, "conformance", None), "verdict", Verdict.UNKNOWN)
                value = None if verdict == Verdict.UNKNOWN else str(verdict in DELIVERING_VERDICTS).lower()
                held = rse.rucio_attributes.get(key)
                if (str(held).lower() if held is not None else None) != value:
                    wanted[value].append(rse)
            for value, group in wanted.items():
                pushes += Push.objects.enqueue_many(
                    group, value, f"conformance write-back turned on as {key}", by=by, key=key
                )
        dispatch_after_commit(pushes)
        return pushes


LOOKUP = object()


class RSE(models.Model):
    """A Rucio Storage Element: its class in the portal, the attributes Rucio last reported, its sync state."""

    instance = models.ForeignKey(RucioInstance, on_delete=models.PROTECT, related_name="rses")
    name = models.CharField(max_length=255, unique=True, help_text="The RSE name in Rucio, e.g. CERN-EOS.")
    qos_class = optional_link(
        StorageQoSClass,
        on_delete=models.PROTECT,
        related_name="rses",
        help_text="The approved class this RSE advertises.",
    )
    planned_class = optional_link(
        StorageQoSClass,
        on_delete=models.PROTECT,
        related_name="planned_rses",
        help_text="A class awaiting approval, assigned here once it is approved.",
    )
    rucio_attributes = models.JSONField(default=dict, blank=True)
    rucio_value = models.CharField(
        max_length=255, null=True, blank=True, help_text="The attribute's value in Rucio when last read."
    )
    sync_state = models.CharField(max_length=16, choices=SyncState.choices, default=SyncState.UNKNOWN)
    missing_in_rucio = models.BooleanField(default=False, help_text="Rucio no longer lists this RSE.")
    last_read_at = models.DateTimeField(null=True, blank=True)
    last_pushed_at = models.DateTimeField(
        null=True, blank=True, help_text="Rucio caches attributes up to 15 minutes after this."
    )
    # Capacity as Rucio last reported it (see qos.rucio_gateway.sync.read_capacity); None: unknown.
    capacity_total_bytes = models.BigIntegerField(null=True, blank=True)
    capacity_used_bytes = models.BigIntegerField(null=True, blank=True)
    capacity_free_bytes = models.BigIntegerField(null=True, blank=True)
    capacity_min_free_bytes = models.BigIntegerField(
        null=True, blank=True, help_text="Rucio's MinFreeSpace limit: space its daemons keep free."
    )
    capacity_source = models.CharField(
        max_length=32, blank=True, help_text="The usage source read: storage (the site's report) or rucio."
    )
    capacity_read_at = models.DateTimeField(null=True, blank=True)
    capacity_error = models.TextField(blank=True, help_text="Why the capacity is unknown.")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = RSEQuerySet.as_manager()

    class Meta:
        ordering = ["name"]
        verbose_name = "RSE"
        permissions = [("push_rse", "Can assign classes to RSEs, push, reconcile and adopt")]
        indexes = [models.Index(fields=["sync_state"])]

    def __str__(self) -> str:
        return self.name

    def get_absolute_url(self) -> str:
        return object_url("qos:rse-detail", self.name)

    @property
    def desired_value(self) -> str | None:
        """The value the portal wants Rucio to hold: the label of its class while approved or deprecated."""
        if self.qos_class_id and self.qos_class.carried_in_rucio:
            return self.qos_class.label
        return None

    @property
    def judged_conformance(self) -> Conformance | None:
        """Its conformance row, None while it was never judged (templates: each lookup through a missing row
        raised and was silenced, about 40 µs each, four per row of the RSE list; bench/README.md)."""
        return getattr(self, "conformance", None)

    @property
    def usable_bytes(self) -> int | None:
        """Free space minus what Rucio keeps free (MinFreeSpace): what new data may take. None: unknown."""
        if self.capacity_free_bytes is None:
            return None
        return self.capacity_free_bytes - (self.capacity_min_free_bytes or 0)

    @property
    def expression_may_be_stale(self) -> bool:
        """Rucio caches RSE attributes and expression results for up to 15 minutes after a change."""
        return bool(
            self.last_pushed_at
            and timezone.now() - self.last_pushed_at < timedelta(minutes=settings.RUCIO_CACHE_MINUTES)
        )

    def compute_sync_state(self, latest_push: Push | object | None = LOOKUP) -> str:
        """In sync, pending, drifted, failed or unknown; pass ``latest_push`` (the latest push of the class
        attribute, ``instance.attribute_key``: a conformance write-back says nothing of the class) when it is
        already at hand."""
        if latest_push is LOOKUP:
            latest_push = self.pushes.filter(key=self.instance.attribute_key).order_by("-pk").first()
        return self.sync_state_after(latest_push.state if latest_push is not None else None)

    def sync_state_after(self, latest_push_state: str | None) -> str:
        """compute_sync_state() given only the state of the latest push of the class attribute (None: no
        push): what a bulk recording has at hand without loading the pushes."""
        if latest_push_state in (PushState.QUEUED, PushState.SENDING):
            return SyncState.PENDING
        if latest_push_state == PushState.FAILED:
            return SyncState.FAILED
        if self.last_read_at is None:
            return SyncState.UNKNOWN
        return SyncState.IN_SYNC if (self.rucio_value or None) == self.desired_value else SyncState.DRIFTED

    def refresh_sync_state(self) -> None:
        state = self.compute_sync_state()
        if state != self.sync_state:
            self.sync_state = state
            type(self).objects.filter(pk=self.pk).update(sync_state=state)

    def reconcile(self, *, by: Any) -> Push:
        """Make Rucio hold the portal's value again: push it, or remove a value the portal did not set."""
        if self.sync_state != SyncState.DRIFTED and (self.rucio_value or None) == self.desired_value:
            raise ValidationError(f"{self.name} is not drifted: Rucio already holds what the portal wants.")
        return Push.objects.enqueue(self, self.desired_value, "reconciled: the portal's value", by=by)

    def adopt(self, *, by: Any) -> None:
        """Accept Rucio's value as the portal's, when it is the label of an approved class."""
        label = self.rucio_value
        qos_class = (
            StorageQoSClass.objects.filter(label=label, status=ClassStatus.APPROVED).first()
            if label
            else None
        )
        if qos_class is None:
            raise ValidationError(
                f"Rucio's value {label!r} is not an approved class: it cannot be adopted. Reconcile instead."
                if label
                else "Rucio holds no value to adopt. Reconcile to push the portal's value instead."
            )
        self.qos_class = qos_class
        self.planned_class = None
        self.sync_state = SyncState.IN_SYNC
        self.save(update_fields=["qos_class", "planned_class", "sync_state", "updated_at"])
        audit.log_on_commit(
            "rse.adopted",
            "%s adopted Rucio's %s=%s on %s",
            audit.username(by),
            self.instance.attribute_key,
            label,
            self.name,
            by=by,
            rse=self.name,
            key=self.instance.attribute_key,
            value=label,
            qos_class=label,
        )


class Push(models.Model):
    """One intended change of one RSE attribute in Rucio (set it to a value, or delete it), and its fate.

    Written in the transaction that caused it; sent after commit; retried on transient faults, not before
    ``next_attempt_at``; failed with Rucio's message on permanent ones; superseded when a newer push for the same
    RSE is written first. One push per RSE is sent at a time (see qos.rucio_gateway.sync.claim).
    """

    rse = models.ForeignKey(RSE, on_delete=models.CASCADE, related_name="pushes")
    key = models.CharField(max_length=64)
    # None, not "": a delete, which is not the same as setting an empty value.
    value = models.CharField(max_length=255, null=True, blank=True, help_text="Empty: delete the attribute.")
    operation = models.CharField(max_length=8, choices=PushOperation.choices)
    reason = models.CharField(max_length=255)
    requested_by = user_link()
    state = models.CharField(max_length=16, choices=PushState.choices, default=PushState.QUEUED)
    attempts = models.PositiveIntegerField(default=0)
    last_error = models.TextField(blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    claimed_at = models.DateTimeField(null=True, blank=True)
    claim_token = models.CharField(
        max_length=36, blank=True, help_text="Which sender holds it (see qos.rucio_gateway.sync)."
    )
    next_attempt_at = models.DateTimeField(
        null=True, blank=True, help_text="Not sent again before this: the wait after a transient fault."
    )
    finished_at = models.DateTimeField(null=True, blank=True)

    objects = PushQuerySet.as_manager()

    class Meta:
        ordering = ["-pk"]
        indexes = [
            models.Index(fields=["state", "created_at"]),
            models.Index(fields=["state", "next_attempt_at"]),
            models.Index(fields=["rse", "-id"]),
            # The pushes in flight or waiting, by RSE: what a claim checks for each push it takes (another push
            # of the RSE being sent). Small whatever the history: most pushes are done.
            models.Index(
                fields=["rse", "state"],
                condition=models.Q(state__in=[PushState.QUEUED, PushState.SENDING]),
                name="qos_push_unsent_by_rse",
            ),
        ]

    def __str__(self) -> str:
        target = f"{self.key}={self.value}" if self.operation == PushOperation.SET else f"delete {self.key}"
        return f"{self.rse.name}: {target}"

    @property
    def description(self) -> str:
        return f"{self.key}={self.value}" if self.operation == PushOperation.SET else f"remove {self.key}"


class PushAttempt(models.Model):
    """One try at sending a push, kept with its error text, so the history shows every attempt."""

    push = models.ForeignKey(Push, on_delete=models.CASCADE, related_name="attempt_log")
    started_at = models.DateTimeField(default=timezone.now)
    finished_at = models.DateTimeField(null=True, blank=True)
    outcome = models.CharField(max_length=16, choices=AttemptOutcome.choices)
    value_before = models.CharField(max_length=255, null=True, blank=True)
    error = models.TextField(blank=True)

    class Meta:
        ordering = ["-pk"]

    def __str__(self) -> str:
        return f"{self.push_id} {self.outcome}"
