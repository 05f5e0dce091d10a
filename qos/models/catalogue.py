"""The Storage QoS Class catalogue.

A class's row holds the content *in force*: for an approved class that is the approved content, even while a
change to it awaits approval. Such a pending change lives only in a revision (``pending_revision``) until a
second QoS admin approves it. Every change, of content or of status, is an immutable
:class:`StorageQoSClassRevision` holding a full snapshot, so any two revisions can be compared field by field.

We keep our own revision model rather than a generic history library: a pending proposal is content that is
*not* saved on the row, and the four-eyes rule needs to know who authored what since the last approval.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator, RegexValidator
from django.db import models, transaction
from django.utils import timezone
from django.utils.text import capfirst

from common.errors import DomainError
from common.models import Immutable, optional_count, user_link
from common.urls import object_url

from .. import audit, notices
from ..choices import (
    CARRIED_STATUSES,
    AccessLatency,
    ClassStatus,
    CostTier,
    GeographicPlacement,
    Redundancy,
    RevisionKind,
    StorageMedia,
)
from ..querysets import StorageQoSClassQuerySet

LABEL_PATTERN = r"^[A-Z0-9][A-Z0-9_-]{0,63}$"
ERASURE_CODING_PATTERN = r"^[1-9][0-9]?\+[1-9][0-9]?$"

label_validator = RegexValidator(
    LABEL_PATTERN,
    "Use 1 to 64 upper-case letters, digits, '-' or '_', starting with a letter or digit (e.g. SAFE): "
    "the label becomes the value of the RSE attribute in Rucio.",
)

# The fields a revision snapshots and a diff compares, in display order.
CONTENT_FIELDS = (
    "label",
    "title",
    "description",
    "storage_media",
    "access_latency",
    "throughput_mbps",
    "redundancy",
    "copies",
    "erasure_coding",
    "geographic_placement",
    "durability_target",
    "lifetime_days",
    "cost_tier",
)


class CatalogueError(DomainError):
    """A catalogue operation refused by a rule of the lifecycle; nothing was changed."""

    code = "refused"


class IllegalTransition(CatalogueError):
    code = "illegal_transition"


class FourEyesViolation(CatalogueError):
    code = "four_eyes"


class StaleRevision(CatalogueError):
    code = "stale_revision"


def durability_field(verbose_name: str, help_text: str, *messages: str) -> models.DecimalField:
    """A share of files that survive a year, in per cent (up to eleven nines), or empty; ``messages``, if any,
    word the refusals of a value below 0 and above 99.999999999."""
    return models.DecimalField(
        verbose_name,
        max_digits=12,
        decimal_places=9,
        null=True,
        blank=True,
        validators=[
            MinValueValidator(Decimal("0"), *messages[:1]),
            MaxValueValidator(Decimal("99.999999999"), *messages[1:]),
        ],
        help_text=help_text,
    )


class StorageQoSClass(models.Model):
    """A Storage QoS Class: a label Rucio gets as RSE attribute value (``QOS=SAFE``) and what it promises."""

    label = models.CharField(
        max_length=64,
        unique=True,
        validators=[label_validator],
        help_text="Upper case, e.g. SAFE. Becomes the value of the RSE attribute; fixed once approved.",
    )
    title = models.CharField(max_length=200)
    description = models.TextField(blank=True, help_text="Markdown.")
    storage_media = models.CharField(max_length=16, choices=StorageMedia.choices)
    access_latency = models.CharField(max_length=16, choices=AccessLatency.choices)
    throughput_mbps = optional_count(
        "expected throughput (MB/s)", "Sustained throughput a client can expect, in MB/s. Empty: no promise."
    )
    redundancy = models.CharField(max_length=16, choices=Redundancy.choices, default=Redundancy.REPLICAS)
    copies = models.PositiveSmallIntegerField(
        "number of copies",
        default=1,
        validators=[MinValueValidator(1), MaxValueValidator(10)],
        help_text="Replicas kept of each file (1 for erasure-coded storage).",
    )
    erasure_coding = models.CharField(
        "erasure-coding scheme",
        max_length=8,
        blank=True,
        validators=[RegexValidator(ERASURE_CODING_PATTERN, "Write data+parity chunks, e.g. 8+3.")],
        help_text="Data+parity chunks, e.g. 8+3. Only with erasure coding.",
    )
    geographic_placement = models.CharField(
        max_length=16, choices=GeographicPlacement.choices, default=GeographicPlacement.SINGLE_SITE
    )
    durability_target = durability_field(
        "durability target (%)", "Share of files expected to survive a year, e.g. 99.999. Empty: no promise."
    )
    lifetime_days = optional_count(
        "data storage lifetime (days)", "How long data is kept. Empty: until deleted."
    )
    cost_tier = models.CharField(max_length=8, choices=CostTier.choices, default=CostTier.MEDIUM)

    status = models.CharField(max_length=16, choices=ClassStatus.choices, default=ClassStatus.DRAFT)
    revision = models.PositiveIntegerField(default=0, help_text="Number of the latest revision.")
    label_locked = models.BooleanField(
        default=False, help_text="Set at first approval: Rucio knows the label."
    )
    pending_revision = models.OneToOneField(
        "StorageQoSClassRevision",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        help_text="A proposed change to an approved class, not in force until approved.",
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    approved_at = models.DateTimeField(null=True, blank=True)

    objects = StorageQoSClassQuerySet.as_manager()

    class Meta:
        ordering = ["label"]
        verbose_name = "Storage QoS class"
        verbose_name_plural = "Storage QoS classes"
        permissions = [("approve_storageqosclass", "Can approve or reject Storage QoS class proposals")]
        indexes = [models.Index(fields=["status", "label"])]

    def __str__(self) -> str:
        return self.label

    def get_absolute_url(self) -> str:
        return object_url("qos:class-detail", self.label)

    # --- content ----------------------------------------------------------------------------------------
    def clean(self) -> None:
        errors = {}
        if self.redundancy == Redundancy.ERASURE_CODING and not self.erasure_coding:
            errors["erasure_coding"] = "Give the erasure-coding scheme, e.g. 8+3."
        if self.redundancy == Redundancy.REPLICAS and self.erasure_coding:
            errors["erasure_coding"] = (
                "Only erasure-coded storage has a scheme; clear it or choose erasure coding."
            )
        if self.storage_media in (StorageMedia.TAPE,) and self.access_latency == AccessLatency.ONLINE:
            errors["access_latency"] = "Data on tape alone is nearline: it must be staged before it is read."
        if errors:
            raise ValidationError(errors)

    def content(self) -> dict[str, Any]:
        """The content in force, as JSON-ready values."""
        return {name: _to_json(getattr(self, name)) for name in CONTENT_FIELDS}

    def head_content(self) -> dict[str, Any]:
        """The newest content: the pending proposal if there is one, else the content in force."""
        return dict(self.pending_revision.data) if self.pending_revision_id else self.content()

    @classmethod
    def from_content(cls, data: dict[str, Any], **extra: Any) -> StorageQoSClass:
        """An unsaved class holding a snapshot's content (for forms and side-by-side display).

        Given the ``pk`` of an existing class, it validates as that class (its own label is no duplicate).
        """
        instance = cls(**_from_json(data), **extra)
        instance._state.adding = instance.pk is None
        return instance

    def pending_changes(self) -> list[dict[str, Any]]:
        """What the pending proposal would change in the content in force, field by field."""
        if not self.pending_revision_id:
            return []
        return revision_diff(StorageQoSClassRevision(data=self.content()), self.pending_revision)

    @property
    def has_pending_change(self) -> bool:
        return self.pending_revision_id is not None

    @property
    def is_editable(self) -> bool:
        return self.status in (ClassStatus.DRAFT, ClassStatus.PROPOSED, ClassStatus.APPROVED)

    @property
    def edit_is_proposal(self) -> bool:
        """Whether an edit becomes a proposal, the approved content staying in force until it is approved."""
        return self.status == ClassStatus.APPROVED

    @property
    def carried_in_rucio(self) -> bool:
        """Whether RSEs assigned this class carry its label in Rucio (see RSE.desired_value)."""
        return self.status in CARRIED_STATUSES

    @property
    def awaits_approval(self) -> bool:
        return self.status == ClassStatus.PROPOSED or self.has_pending_change

    def proposal_authors(self) -> set[int]:
        """Users who wrote the content awaiting approval: everyone who changed it since the last approval.

        Counting all of them, not only the one who pressed "propose", keeps an author from getting their
        text approved by letting a colleague propose it.
        """
        last_approval = (
            self.revisions.filter(kind=RevisionKind.APPROVED).order_by("-number").values("number").first()
        )
        since = last_approval["number"] if last_approval else 0
        return set(
            self.revisions.filter(
                number__gt=since,
                kind__in=[RevisionKind.CREATED, RevisionKind.EDITED, RevisionKind.PROPOSED],
                author__isnull=False,
            ).values_list("author_id", flat=True)
        )

    def can_be_approved_by(self, user: Any) -> bool:
        return self.awaits_approval and user.pk not in self.proposal_authors()

    def available_transitions(self, user: Any) -> list[Transition]:
        """The lifecycle steps ``user`` may take on this class now, in the order the class page offers them.

        Approval is left out for an approver who wrote part of the proposal (four-eyes).
        """
        return [t for t in TRANSITIONS.values() if user.has_perm(t.permission) and t.applies(self, user)]

    # --- lifecycle: every method locks the row, checks, writes one revision, or raises and changes nothing --
    def edit(self, *, by: Any, changes: dict[str, Any], comment: str = "", base_revision: int | None) -> None:
        """Change the content. On an approved class this records a proposal; the approved content stays."""
        with transaction.atomic():
            locked = self._lock(base_revision)
            if not locked.is_editable:
                raise IllegalTransition(
                    f"A {locked.get_status_display().lower()} class cannot be edited; only draft, proposed "
                    "and approved classes can."
                )
            head = locked.head_content()
            candidate = StorageQoSClass.from_content(head, pk=locked.pk)
            for name, value in changes.items():
                if name not in CONTENT_FIELDS:
                    raise ValueError(f"{name} is not a content field")
                setattr(candidate, name, value)
            if locked.label_locked and candidate.label != locked.label:
                raise ValidationError(
                    {"label": f"The label of an approved class is fixed: Rucio RSEs carry {locked.label}."}
                )
            candidate.full_clean(exclude=["status", "revision"])
            new = candidate.content()
            changed = [name for name in CONTENT_FIELDS if new[name] != head[name]]
            if not changed:
                raise ValidationError("Nothing was changed.")
            if locked.edit_is_proposal:
                revision = locked._add_revision(
                    by, RevisionKind.EDITED, comment, data=new, changed=changed, status=ClassStatus.PROPOSED
                )
                locked.pending_revision = revision
                locked.save()
                notices.class_awaits_approval(locked, by=by)
            else:
                _apply(locked, new)
                locked._add_revision(by, RevisionKind.EDITED, comment, data=new, changed=changed)
            locked.save()
        self.refresh_from_db()

    def propose(self, *, by: Any, comment: str = "", base_revision: int | None = None) -> None:
        """Put a draft up for approval."""
        with transaction.atomic():
            locked = self._lock(base_revision)
            if locked.status != ClassStatus.DRAFT:
                raise IllegalTransition(
                    f"Only a draft can be proposed; this class is {locked.get_status_display().lower()}."
                    + (" Edit it to propose a change." if locked.status == ClassStatus.APPROVED else "")
                )
            locked.status = ClassStatus.PROPOSED
            locked._add_revision(by, RevisionKind.PROPOSED, comment)
            locked.save()
            notices.class_awaits_approval(locked, by=by)
        self.refresh_from_db()

    def approve(self, *, by: Any, comment: str = "", base_revision: int | None = None) -> None:
        """Approve the proposal (a new class, or a change to an approved one). Four-eyes: not by an author."""
        with transaction.atomic():
            locked = self._lock_proposal(base_revision)
            authors = locked.proposal_authors()
            if by.pk in authors:
                raise FourEyesViolation(
                    "You wrote part of this proposal: another QoS admin must approve it (four-eyes rule)."
                )
            if locked.pending_revision_id:
                _apply(locked, locked.pending_revision.data)
                locked.pending_revision = None
            locked.status = ClassStatus.APPROVED
            locked.label_locked = True
            locked.approved_at = timezone.now()
            locked._add_revision(by, RevisionKind.APPROVED, comment)
            locked.save()
            notices.class_decided(locked, by=by, authors=authors)
            # RSEs planned for this class get it now; their pushes leave after this transaction commits.
            locked.planned_rses.all().assign(locked, by=by, reason=f"{locked.label} approved")
        self.refresh_from_db()

    def reject(self, *, by: Any, reason: str, base_revision: int | None = None) -> None:
        """Send a proposal back: a new class returns to draft, a change to an approved class is dropped."""
        if not reason or not reason.strip():
            raise ValidationError({"reason": "Say why the proposal is rejected."})
        with transaction.atomic():
            locked = self._lock_proposal(base_revision)
            authors = locked.proposal_authors()
            if locked.pending_revision_id:
                locked.pending_revision = None
            else:
                locked.status = ClassStatus.DRAFT
            locked._add_revision(by, RevisionKind.REJECTED, reason.strip())
            locked.save()
            notices.class_decided(locked, by=by, authors=authors, reason=reason.strip())
        self.refresh_from_db()

    def deprecate(self, *, by: Any, reason: str = "", base_revision: int | None = None) -> None:
        """Keep an approved class on its RSEs but steer new use away from it."""
        self._change_status(
            by, ClassStatus.APPROVED, ClassStatus.DEPRECATED, RevisionKind.DEPRECATED, reason, base_revision
        )

    def retire(self, *, by: Any, reason: str = "", base_revision: int | None = None) -> None:
        """End a deprecated class for good: the RSEs still carrying it lose the attribute in Rucio."""
        with transaction.atomic():
            self._change_status(
                by, ClassStatus.DEPRECATED, ClassStatus.RETIRED, RevisionKind.RETIRED, reason, base_revision
            )
            self.rses.all().assign(None, by=by, reason=f"{self.label} retired")
            self.planned_rses.all().update(planned_class=None)

    def _change_status(
        self,
        by: Any,
        source: str,
        target: str,
        kind: str,
        comment: str,
        base_revision: int | None,
    ) -> None:
        with transaction.atomic():
            locked = self._lock(base_revision)
            if locked.status != source:
                article = "an" if source == ClassStatus.APPROVED else "a"
                raise IllegalTransition(
                    f"Only {article} {ClassStatus(source).label.lower()} class can be "
                    f"{ClassStatus(target).label.lower()}; this one is {locked.get_status_display().lower()}."
                )
            if locked.pending_revision_id:
                raise IllegalTransition("A change to this class awaits approval: approve or reject it first.")
            locked.status = target
            locked._add_revision(by, kind, comment)
            locked.save()
            notices.class_withdrawn(locked, by=by, reason=comment)
        self.refresh_from_db()

    def _lock(self, base_revision: int | None) -> StorageQoSClass:
        locked = (
            StorageQoSClass.objects.select_for_update(of=("self",))
            .select_related("pending_revision")
            .get(pk=self.pk)
        )
        if base_revision is not None and int(base_revision) != locked.revision:
            raise StaleRevision(
                f"This class changed since you loaded it (you saw revision {base_revision}, it is now at "
                f"revision {locked.revision}). Reload it, check the changes, and try again."
            )
        return locked

    def _lock_proposal(self, base_revision: int | None) -> StorageQoSClass:
        """``_lock``, for a decision on the proposal: refused when none awaits approval."""
        locked = self._lock(base_revision)
        if not locked.awaits_approval:
            raise IllegalTransition(
                f"Nothing awaits approval: this class is {locked.get_status_display().lower()}."
            )
        return locked

    def _add_revision(
        self,
        by: Any,
        kind: str,
        comment: str,
        *,
        data: dict[str, Any] | None = None,
        changed: list[str] | None = None,
        status: str | None = None,
    ) -> StorageQoSClassRevision:
        self.revision += 1
        revision = StorageQoSClassRevision.objects.create(
            qos_class=self,
            number=self.revision,
            kind=kind,
            status=status or self.status,
            author=by if getattr(by, "pk", None) else None,
            comment=comment or "",
            data=data if data is not None else self.head_content(),
            changed_fields=changed or [],
        )
        audit.class_changed(self, kind, by=by, revision=revision.number, status=revision.status)
        return revision


@dataclass(frozen=True)
class Transition:
    """One lifecycle step of a class: the method taking it, who may, when it applies, and its words."""

    name: str
    permission: str
    applies: Callable[[StorageQoSClass, Any], bool]
    link: str  # on the class page
    title: str  # of the page confirming it
    button: str  # confirming it
    done: str
    text_argument: str = "comment"
    reason_required: bool = False
    danger: bool = False


CHANGE_PERMISSION = "qos.change_storageqosclass"
APPROVE_PERMISSION = "qos.approve_storageqosclass"

TRANSITIONS: dict[str, Transition] = {
    t.name: t
    for t in (
        Transition(
            "propose",
            CHANGE_PERMISSION,
            lambda qos_class, user: qos_class.status == ClassStatus.DRAFT,
            "Propose for approval",
            "Propose for approval",
            "Propose",
            "proposed for approval",
        ),
        Transition(
            "approve",
            APPROVE_PERMISSION,
            lambda qos_class, user: qos_class.can_be_approved_by(user),
            "Approve",
            "Approve",
            "Approve",
            "approved",
        ),
        Transition(
            "reject",
            APPROVE_PERMISSION,
            lambda qos_class, user: qos_class.awaits_approval,
            "Reject",
            "Reject the proposal",
            "Reject",
            "sent back",
            text_argument="reason",
            reason_required=True,
            danger=True,
        ),
        Transition(
            "deprecate",
            CHANGE_PERMISSION,
            lambda qos_class, user: (
                qos_class.status == ClassStatus.APPROVED and not qos_class.has_pending_change
            ),
            "Deprecate",
            "Deprecate",
            "Deprecate",
            "deprecated",
            text_argument="reason",
            danger=True,
        ),
        Transition(
            "retire",
            CHANGE_PERMISSION,
            lambda qos_class, user: qos_class.status == ClassStatus.DEPRECATED,
            "Retire",
            "Retire",
            "Retire",
            "retired",
            text_argument="reason",
            danger=True,
        ),
    )
}


class StorageQoSClassRevision(Immutable):
    """One immutable step in a class's history: who did what, when, why, and the content afterwards.

    ``data`` is the class's newest content after this step (a pending proposal's content where there is one),
    so that comparing any two revisions shows what changed between them.
    """

    qos_class = models.ForeignKey(StorageQoSClass, on_delete=models.CASCADE, related_name="revisions")
    number = models.PositiveIntegerField()
    kind = models.CharField(max_length=16, choices=RevisionKind.choices)
    status = models.CharField(
        max_length=16, choices=ClassStatus.choices, help_text="Status of the content after this step."
    )
    author = user_link(related_name="qos_revisions", blank=False)
    created_at = models.DateTimeField(default=timezone.now)
    comment = models.TextField(blank=True)
    data = models.JSONField()
    changed_fields = models.JSONField(default=list)

    class Meta:
        ordering = ["-number"]
        constraints = [
            models.UniqueConstraint(fields=["qos_class", "number"], name="qos_revision_number_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.data.get('label', '?')} r{self.number} ({self.kind})"

    def delete(self, *args: Any, **kwargs: Any) -> Any:
        raise ValueError("Revisions are immutable and are never deleted on their own.")


def field_label(name: str) -> str:
    """A content field's name as users write it, from its verbose name: "Expected throughput (MB/s)"."""
    # capfirst, not str.capitalize: that would lower-case the rest, units included ("mb/s").
    return capfirst(str(StorageQoSClass._meta.get_field(name).verbose_name))


def revision_diff(old: StorageQoSClassRevision, new: StorageQoSClassRevision) -> list[dict[str, Any]]:
    """Field-by-field difference of two revisions' content, with human labels and display values."""
    rows = []
    for name in CONTENT_FIELDS:
        before, after = old.data.get(name), new.data.get(name)
        if before != after:
            field = StorageQoSClass._meta.get_field(name)
            rows.append(
                {
                    "field": name,
                    "label": field_label(name),
                    "old": _display(field, before),
                    "new": _display(field, after),
                }
            )
    return rows


def default_comparison(
    qos_class: StorageQoSClass, revisions: list[StorageQoSClassRevision]
) -> tuple[StorageQoSClassRevision, StorageQoSClassRevision] | None:
    """The two revisions a history page compares unless told otherwise (``revisions``: newest first), or None
    when no earlier revision has other content.

    What a reader asks is "what changed": a proposal awaiting approval against the approved content (for a
    new class, against what was last sent back), else the approved content against the previous approved
    one, else the newest content against the last that differed. Never two revisions with the same content:
    a reject/propose cycle or a status step leaves the content as it was.
    """
    if not revisions:
        return None
    approvals = [revision for revision in revisions if revision.kind == RevisionKind.APPROVED]
    if qos_class.awaits_approval:
        new = revisions[0]
        bases = approvals or [revision for revision in revisions if revision.kind == RevisionKind.REJECTED]
    elif approvals:
        new, bases = approvals[0], approvals[1:]
    else:
        new, bases = revisions[0], []
    earlier = [revision for revision in revisions if revision.number < new.number]
    old = next((revision for revision in [*bases, *earlier] if revision.data != new.data), None)
    return (old, new) if old is not None else None


def history_steps(revisions: list[StorageQoSClassRevision]) -> list[dict[str, Any]]:
    """Each revision (newest first, as given) with what it changed in users' words: the fields it changed
    and, where the step changed the status, the status before and after."""
    steps = []
    for revision, before in zip(revisions, [*revisions[1:], None], strict=True):
        changed = [field_label(name) for name in revision.changed_fields if name in CONTENT_FIELDS]
        status_before = before.get_status_display() if before is not None else None
        steps.append(
            {
                "revision": revision,
                "changed": changed,
                "status_before": status_before if before and before.status != revision.status else None,
            }
        )
    return steps


def _display(field: models.Field, value: Any) -> str:
    if value in (None, ""):
        return "—"
    if field.choices:
        return str(dict(field.flatchoices).get(value, value))
    return str(value)


def _to_json(value: Any) -> Any:
    if isinstance(value, Decimal):
        # Normalised so that 99.9 and 99.900 are the same content.
        return format(value.normalize(), "f")
    return value


def _from_json(data: dict[str, Any]) -> dict[str, Any]:
    values = {name: data.get(name) for name in CONTENT_FIELDS}
    if values["durability_target"] is not None:
        values["durability_target"] = Decimal(values["durability_target"])
    return values


def _apply(qos_class: StorageQoSClass, data: dict[str, Any]) -> None:
    for name, value in _from_json(data).items():
        setattr(qos_class, name, value)
