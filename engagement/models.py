"""Experiments of the data lake, the people who speak for them, and what they ask of it.

A liaison files a :class:`Requirement` for one of their experiments: what storage it needs, as typed properties
that are held against every approved Storage QoS Class (``matching.py``). A QoS admin reviews it, accepts or
rejects it, and may link a class by hand. Every step is an immutable :class:`RequirementEvent` (who, when,
why). :class:`EngagementRecord` and :class:`Document` keep the contacts, meetings and documents awaiting an
experiment's approval that stream B of the fortnightly meeting follows.

Who may write what is decided here and in ``querysets.py`` (``Experiment.can_write_requirements``,
``Requirement.can_edit`` ...); views and the API only call these.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING, Any, ClassVar

from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator, RegexValidator
from django.db import models, transaction
from django.utils import timezone

from common.errors import DomainError
from common.links import validate_https_link
from common.models import Immutable, optional_count, optional_link, user_link
from common.urls import object_url
from qos.choices import AccessLatency, ClassStatus, StorageMedia
from qos.models import StorageQoSClass, durability_field

from . import notices
from .choices import (
    ACTIVE_STATUSES,
    COMMITTED_STATUSES,
    AccessPattern,
    DocumentStatus,
    RecordKind,
    RecordStatus,
    RequirementEventKind,
    RequirementStatus,
)
from .querysets import ExperimentQuerySet, RequirementQuerySet

if TYPE_CHECKING:
    from .coverage import ClassCoverage

# Paths under /experiments/ that are pages, not experiments.
RESERVED_SHORT_NAMES = {"new", "records", "documents", "contacts"}


class EngagementError(DomainError):
    """A step refused by a rule of the requirement lifecycle; nothing was changed."""

    code = "refused"


class IllegalTransition(EngagementError):
    code = "illegal_transition"


class RemembersLoadedValues(models.Model):
    """Keeps the values a row had when it was read, so that ``clean()`` can tell what a change changes."""

    class Meta:
        abstract = True

    @classmethod
    def from_db(cls, db: str | None, field_names: Iterable[str], values: Iterable[Any]) -> Any:
        instance = super().from_db(db, field_names, values)
        instance._loaded = dict(zip(field_names, values, strict=False))
        return instance

    def loaded(self, attname: str) -> Any:
        return getattr(self, "_loaded", {}).get(attname)


class StatusBadge(models.Model):
    """A row whose status the pages show as a coloured badge: ``BADGES`` gives each status its colour, one of
    the site's ``status-*`` classes (``static/css``), which read the same on every page."""

    BADGES: ClassVar[dict[str, str]] = {}

    class Meta:
        abstract = True

    @property
    def badge(self) -> str:
        return self.BADGES[self.status]


# What the experiment's pages call its records, documents and contacts (by model name), in refusals.
ENGAGEMENT_ITEMS = {
    "engagementrecord": "contacts and meetings",
    "document": "documents",
    "contact": "contacts",
}


class Experiment(models.Model):
    """An experiment using the data lake (ATLAS, CTA, SKA, LOFAR, ...), with its liaisons among the users."""

    short_name = models.CharField(
        max_length=32,
        unique=True,
        validators=[
            RegexValidator(r"^[A-Za-z0-9][A-Za-z0-9_-]*$", "Letters, digits, '-' and '_' only, e.g. CTA.")
        ],
        help_text="How people say it, e.g. CTA. Also its IAM group: escape/<short name in lower case>.",
    )
    name = models.CharField(max_length=200, help_text="Full name, e.g. Cherenkov Telescope Array.")
    description = models.TextField(blank=True, help_text="Markdown.")
    # https only, like every link a user stores (common/links.py).
    website = models.URLField(blank=True, validators=[validate_https_link])
    liaisons = models.ManyToManyField(
        settings.AUTH_USER_MODEL, blank=True, related_name="liaison_experiments"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = ExperimentQuerySet.as_manager()

    class Meta:
        ordering = ["short_name"]
        permissions = [
            (
                "manage_any_experiment",
                "Can keep the records, documents and contacts of every experiment (not its requirements)",
            )
        ]

    def __str__(self) -> str:
        return self.short_name

    def get_absolute_url(self) -> str:
        return object_url("engagement:experiment-detail", self.short_name)

    @property
    def iam_group(self) -> str:
        """The IAM group whose members are this experiment's liaisons (see the IAM login)."""
        return f"escape/{self.short_name.lower()}"

    def clean(self) -> None:
        if self.short_name and self.short_name.lower() in RESERVED_SHORT_NAMES:
            raise ValidationError(
                {"short_name": f"“{self.short_name}” names a page of the portal; choose another short name."}
            )
        # Short names are said and typed in any case (IAM groups are lower case): CTA and cta are one.
        clash = Experiment.objects.filter(short_name__iexact=self.short_name).exclude(pk=self.pk)
        if self.short_name and clash.exists():
            raise ValidationError({"short_name": f"There is already an experiment {clash.first()}."})

    # --- who may write what --------------------------------------------------------------------------
    def has_liaison(self, user: Any) -> bool:
        return Experiment.objects.liaised_by(user).filter(pk=self.pk).exists()

    def can_write_requirements(self, user: Any, action: str = "add") -> bool:
        """Whether the user may file (``add``) or edit (``change``) this experiment's requirements."""
        return Experiment.objects.requirements_writable_by(user, action).filter(pk=self.pk).exists()

    def can_write_engagement(self, user: Any, model_name: str, action: str = "add") -> bool:
        """Whether the user may add or change this experiment's records, documents or contacts."""
        return Experiment.objects.engagement_writable_by(user, model_name, action).filter(pk=self.pk).exists()

    # What a user refused by these rules is told, the same on the pages and in the API, for filing and editing.
    def requirements_refusal(self) -> str:
        """Why a user who is not a liaison of this experiment may not file or edit its requirements."""
        return f"Only liaisons of {self} may file, edit and withdraw its requirements."

    def engagement_refusal(self, model_name: str) -> str:
        """Why a user may not add or change this experiment's records, documents or contacts."""
        return f"Only liaisons of {self} and coordinators may keep its {ENGAGEMENT_ITEMS[model_name]}."


class ExperimentItem(models.Model):
    """A record, document or contact of an experiment, kept by its liaisons and the coordinators: who may
    change it, and what the others are told, is asked of its experiment (``can_write_engagement``)."""

    experiment: Experiment

    class Meta:
        abstract = True

    def can_edit(self, user: Any) -> bool:
        return self.experiment.can_write_engagement(user, self._meta.model_name, "change")

    def edit_refusal(self) -> str:
        """What a user for whom ``can_edit`` is false is told."""
        return self.experiment.engagement_refusal(self._meta.model_name)

    def save_by(self, user: Any) -> None:
        """Save a change ``user`` made (a document notes who changed its status)."""
        self.save()


class Contact(ExperimentItem):
    """Someone at an experiment the QoS group talks to, who has no account on the portal."""

    experiment = models.ForeignKey(Experiment, on_delete=models.CASCADE, related_name="contacts")
    name = models.CharField(max_length=200)
    role = models.CharField(max_length=200, blank=True, help_text="E.g. data manager, computing coordinator.")
    email = models.EmailField(blank=True)
    notes = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return f"{self.name} ({self.experiment})"


# What the model, its forms and the API say when a need is out of range (forms and the API check bounds
# before the model does). Django and DRF both %-format these: a per cent sign is written %%.
NEED_RANGE_MESSAGES = {
    "copies": {"min_value": "At least one copy.", "max_value": "At most 10 copies."},
    "min_durability": {
        "min_value": "A durability is a share between 0 and 100 %%.",
        "max_value": "No storage promises more than 99.999999999 %%.",
    },
    "retention_days": {"min_value": "Keep the data at least one day, or leave empty: until deleted."},
    "min_throughput_mbps": {"min_value": "Give a throughput of at least 1 MB/s, or leave empty."},
}


# Copies wanted in one linked class (forms and the API check the bounds with the same words).
LINK_COPIES_MESSAGES = {
    "invalid": "A whole number of copies, from 1 to 10.",
    "min_value": "At least one copy in the class.",
    "max_value": "At most 10 copies in one class.",
}
# Those bounds and words, as the integer fields of the forms and of the API take them.
LINK_COPIES_BOUNDS = {"min_value": 1, "max_value": 10, "error_messages": LINK_COPIES_MESSAGES}


def _positive_volume(value: Decimal) -> None:
    if value is not None and value <= 0:
        raise ValidationError(
            "The volume must be more than 0 TB (%(value)s TB was given).",
            params={"value": format(value.normalize(), "f")},
        )


@dataclass(frozen=True)
class Transition:
    """One step of the requirement lifecycle: from which statuses, to which, by whom."""

    name: str
    sources: tuple[str, ...]
    target: str
    by_reviewer: bool
    title: str
    button: str
    done: str
    reason_required: bool = False
    danger: bool = False


TRANSITIONS: dict[str, Transition] = {
    t.name: t
    for t in (
        Transition(
            "review",
            (RequirementStatus.FILED,),
            RequirementStatus.UNDER_REVIEW,
            True,
            "Start the review",
            "Start review",
            "is under review",
        ),
        Transition(
            "accept",
            (RequirementStatus.FILED, RequirementStatus.UNDER_REVIEW),
            RequirementStatus.ACCEPTED,
            True,
            "Accept the requirement",
            "Accept",
            "accepted",
        ),
        Transition(
            "reject",
            (RequirementStatus.FILED, RequirementStatus.UNDER_REVIEW),
            RequirementStatus.REJECTED,
            True,
            "Reject the requirement",
            "Reject",
            "rejected",
            reason_required=True,
            danger=True,
        ),
        Transition(
            "satisfy",
            (RequirementStatus.ACCEPTED,),
            RequirementStatus.SATISFIED,
            True,
            "Mark as satisfied",
            "Mark satisfied",
            "marked as satisfied",
        ),
        Transition(
            "withdraw",
            (
                RequirementStatus.FILED,
                RequirementStatus.UNDER_REVIEW,
                RequirementStatus.ACCEPTED,
                RequirementStatus.SATISFIED,
            ),
            RequirementStatus.WITHDRAWN,
            False,
            "Withdraw the requirement",
            "Withdraw",
            "withdrawn",
            danger=True,
        ),
        Transition(
            "refile",
            (RequirementStatus.REJECTED, RequirementStatus.WITHDRAWN),
            RequirementStatus.FILED,
            False,
            "File again",
            "File again",
            "filed again",
        ),
    )
}

# What a user who may not take a reviewer's step (Transition.by_reviewer) is told.
REVIEW_REFUSAL = (
    "Only QoS admins review, accept, reject and mark requirements satisfied, and link classes to them."
)

# Needs can change while the QoS group has not committed to them; after acceptance they are what was agreed.
EDITABLE_STATUSES = (
    RequirementStatus.FILED,
    RequirementStatus.UNDER_REVIEW,
    RequirementStatus.REJECTED,
    RequirementStatus.WITHDRAWN,
)

# The fields a liaison fills in, in form order. Editing any of them is recorded as an event.
NEED_FIELDS = (
    "title",
    "description",
    "storage_media",
    "access_latency",
    "min_durability",
    "copies",
    "volume_tb",
    "retention_days",
    "min_throughput_mbps",
    "access_pattern",
    "sites",
    "needed_by",
)


class Requirement(StatusBadge, RemembersLoadedValues):
    """What storage an experiment needs, filed by one of its liaisons and answered with QoS classes.

    The needs are typed like a class's properties so that they can be matched (``matching.py``). A class may
    also be linked by hand (:class:`ClassLink`), with the number of copies wanted in it; coverage
    (``coverage.py``) says whether enough RSEs in sync advertise each linked class to place them. An active
    requirement that no approved class fits and none is linked to is a gap: ``ApprovedClasses.is_gap``
    (``matching.py``), ``Requirement.objects.gaps()`` in SQL.
    """

    experiment = models.ForeignKey(Experiment, on_delete=models.PROTECT, related_name="requirements")
    title = models.CharField(max_length=200)
    description = models.TextField(blank=True, help_text="Markdown: what the data is and how it is used.")
    storage_media = models.CharField(
        max_length=16,
        choices=StorageMedia.choices,
        blank=True,
        help_text="Empty: any media will do. Disk is also met by SSD and disk+tape; tape by disk+tape.",
        error_messages={
            "invalid_choice": "Unknown storage media %(value)r: use disk, ssd, tape or disk+tape."
        },
    )
    access_latency = models.CharField(
        max_length=16,
        choices=AccessLatency.choices,
        blank=True,
        help_text="Online: readable at once. Nearline: may be staged first (online also fits). Empty: any.",
        error_messages={"invalid_choice": "Unknown access latency %(value)r: use online or nearline."},
    )
    min_durability = durability_field(
        "durability (%) at least",
        "Share of files that must survive a year, e.g. 99.999. Empty: no need stated.",
        NEED_RANGE_MESSAGES["min_durability"]["min_value"],
        NEED_RANGE_MESSAGES["min_durability"]["max_value"],
    )
    copies = models.PositiveSmallIntegerField(
        "copies at least",
        default=1,
        validators=[
            MinValueValidator(1, NEED_RANGE_MESSAGES["copies"]["min_value"]),
            MaxValueValidator(10, NEED_RANGE_MESSAGES["copies"]["max_value"]),
        ],
    )
    volume_tb = models.DecimalField(
        "volume (TB)",
        max_digits=12,
        decimal_places=3,
        validators=[_positive_volume],
        help_text="How much data, in terabytes.",
    )
    retention_days = optional_count(
        "retention (days)",
        "How long the data must be kept. Empty: until the experiment deletes it.",
        MinValueValidator(1, NEED_RANGE_MESSAGES["retention_days"]["min_value"]),
    )
    min_throughput_mbps = optional_count(
        "throughput (MB/s) at least",
        "Sustained throughput the workflow needs. Empty: no need stated.",
        MinValueValidator(1, NEED_RANGE_MESSAGES["min_throughput_mbps"]["min_value"]),
    )
    access_pattern = models.CharField(
        max_length=16,
        choices=AccessPattern.choices,
        default=AccessPattern.ARCHIVE,
        error_messages={"invalid_choice": "Unknown access pattern %(value)r."},
    )
    sites = models.CharField(
        "sites or regions",
        max_length=300,
        blank=True,
        help_text="Where the data must be, if anywhere in particular, e.g. “Europe, two countries”.",
    )
    needed_by = models.DateField(null=True, blank=True, help_text="When the storage must be there.")

    status = models.CharField(
        max_length=16, choices=RequirementStatus.choices, default=RequirementStatus.FILED
    )
    # The colour each status is shown in (StatusBadge).
    BADGES = {
        RequirementStatus.FILED: "status-proposed",
        RequirementStatus.UNDER_REVIEW: "status-proposed",
        RequirementStatus.ACCEPTED: "status-approved",
        RequirementStatus.SATISFIED: "status-approved",
        RequirementStatus.REJECTED: "status-deprecated",
        RequirementStatus.WITHDRAWN: "status-draft",
    }
    filed_by = user_link(related_name="filed_requirements", blank=False)
    linked_classes = models.ManyToManyField(
        StorageQoSClass, through="ClassLink", blank=True, related_name="linked_requirements"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    status_changed_at = models.DateTimeField(default=timezone.now)

    objects = RequirementQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-pk"]
        permissions = [
            (
                "review_requirement",
                "Can review, accept, reject and mark requirements satisfied, and link classes to them",
            )
        ]
        indexes = [
            models.Index(fields=["status", "experiment"]),
            # The order of the lists (newest first), so that a page is read in order, not sorted.
            models.Index(fields=["created_at", "id"], name="engagement_req_created_id"),
        ]

    def __str__(self) -> str:
        return f"{self.experiment}: {self.title}"

    def get_absolute_url(self) -> str:
        return object_url("engagement:requirement-detail", self.pk)

    def clean(self) -> None:
        # A date already stored may have passed since; only a date being set now must lie ahead.
        if (
            self.needed_by
            and self.needed_by < timezone.localdate()
            and self.needed_by != self.loaded("needed_by")
        ):
            raise ValidationError(
                {
                    "needed_by": f"{self.needed_by:%Y-%m-%d} is in the past: give a date from today "
                    f"({timezone.localdate():%Y-%m-%d}) on, or leave it empty."
                }
            )

    # --- state ----------------------------------------------------------------------------------------
    @property
    def is_active(self) -> bool:
        return self.status in ACTIVE_STATUSES

    @property
    def is_editable(self) -> bool:
        return self.status in EDITABLE_STATUSES

    @property
    def is_committed(self) -> bool:
        """Accepted or satisfied: the QoS group answers it, so its coverage must hold."""
        return self.status in COMMITTED_STATUSES

    @property
    def coverage_at_risk(self) -> bool:
        """Committed, and a linked class is short: fewer RSEs in sync than the copies wanted in it, or too few
        of them with usable space for a copy (``coverage.py``). From the flag
        ``Requirement.objects.with_coverage_flag()`` annotates (lists), else computed (one query)."""
        if not self.is_committed:
            return False
        if hasattr(self, "coverage_short"):
            return self.coverage_short
        return any(line.short for line in self.coverage())

    def coverage(self) -> list[ClassCoverage]:
        """Per linked class: copies wanted, the RSEs in sync advertising it and their usable space, covered,
        short or unknown (``coverage.py``)."""
        from .coverage import coverage_of_links

        return coverage_of_links(self.links.select_related("qos_class"))

    @property
    def volume_text(self) -> str:
        return f"{format(self.volume_tb.normalize(), 'f')} TB"

    @property
    def durability_text(self) -> str:
        if self.min_durability is None:
            return "no need stated"
        return f"at least {format(self.min_durability.normalize(), 'f')} %"

    def available_transitions(self) -> list[Transition]:
        return [t for t in TRANSITIONS.values() if self.status in t.sources]

    def needs_summary(self) -> str:
        from .matching import needs_summary

        return needs_summary(self)

    # --- who may do what ------------------------------------------------------------------------------
    def can_edit(self, user: Any) -> bool:
        """Whether the user may change this requirement at all (a liaison of its experiment)."""
        return self.experiment.can_write_requirements(user, "change")

    def can_review(self, user: Any) -> bool:
        return user.has_perm("engagement.review_requirement")

    def can_comment(self, user: Any) -> bool:
        """The thread is between the experiment's liaisons and the QoS admins who review."""
        if not user.has_perm("engagement.add_requirementcomment"):
            return False
        return self.can_review(user) or self.experiment.has_liaison(user)

    def can_take(self, transition: Transition, user: Any) -> bool:
        return self.can_review(user) if transition.by_reviewer else self.can_edit(user)

    def edit_refusal(self) -> str:
        """What a user for whom ``can_edit`` is false is told, on the pages and in the API alike."""
        return self.experiment.requirements_refusal()

    def refusal_of(self, transition: Transition) -> str:
        """What a user for whom ``can_take(transition)`` is false is told."""
        return REVIEW_REFUSAL if transition.by_reviewer else self.edit_refusal()

    def comment_refusal(self) -> str:
        """What a user for whom ``can_comment`` is false is told."""
        return f"Only liaisons of {self.experiment} and QoS admins take part in this thread."

    # --- matching -------------------------------------------------------------------------------------
    def matches(self, classes: Iterable[StorageQoSClass] | None = None) -> list:
        """Every approved class (or those given) held against this requirement, fitting ones first."""
        from .matching import approved_classes, match_all

        return match_all(self, approved_classes() if classes is None else classes)

    # --- lifecycle: every method locks the row, checks, writes one event, or raises and changes nothing ---
    def edit(self, *, by: Any, changes: dict[str, Any], comment: str = "") -> list[str]:
        """Change the needs. Returns the names of the fields changed."""
        if not self.can_edit(by):
            raise PermissionDenied(self.edit_refusal())
        with transaction.atomic():
            locked = self._lock()
            if not locked.is_editable:
                raise IllegalTransition(
                    f"An {locked.get_status_display().lower()} requirement cannot be edited: its needs are "
                    "what was agreed. Withdraw it and file a new one."
                )
            for name, value in changes.items():
                if name not in NEED_FIELDS:
                    raise ValueError(f"{name} is not a need of a requirement")
                setattr(locked, name, value)
            locked.full_clean(exclude=["experiment", "status", "filed_by"])
            changed = [name for name in NEED_FIELDS if getattr(locked, name) != locked.loaded_value(name)]
            if not changed:
                raise ValidationError("Nothing was changed.")
            locked.save()
            locked._record(by, RequirementEventKind.EDITED, comment, changed_fields=changed)
        self.refresh_from_db()
        return changed

    def take(self, transition_name: str, *, by: Any, comment: str = "") -> None:
        """Move the requirement along its lifecycle (``review``, ``accept``, ``reject`` ...)."""
        transition = TRANSITIONS.get(transition_name)
        if transition is None:
            raise ValueError(f"No such step: {transition_name}")
        if not self.can_take(transition, by):
            raise PermissionDenied(self.refusal_of(transition))
        if transition.reason_required and not comment.strip():
            raise ValidationError({"comment": "Say why, for the experiment's liaisons."})
        with transaction.atomic():
            locked = self._lock()
            if locked.status not in transition.sources:
                allowed = " or ".join(RequirementStatus(s).label.lower() for s in transition.sources)
                article = "an" if allowed[0] in "aeiou" else "a"
                raise IllegalTransition(
                    f"This requirement is {locked.get_status_display().lower()}: “{transition.title}” "
                    f"applies only to {article} {allowed} requirement."
                )
            if (
                transition.target == RequirementStatus.SATISFIED
                and not locked.links.filter(qos_class__status=ClassStatus.APPROVED).exists()
            ):
                raise IllegalTransition(
                    "Link the approved class that satisfies it first: a requirement is satisfied by a class."
                )
            previous = locked.status
            locked.status = transition.target
            locked.status_changed_at = timezone.now()
            locked.save(update_fields=["status", "status_changed_at", "updated_at"])
            event = locked._record(by, RequirementEventKind.STATUS, comment.strip(), from_status=previous)
            notices.requirement_event(
                locked, by=by, event_id=event.pk, what=transition.done, comment=comment.strip()
            )
        self.refresh_from_db()

    def link_class(
        self, qos_class: StorageQoSClass, *, by: Any, note: str = "", copies: int = 1
    ) -> ClassLink:
        """Link an approved class by hand: the QoS group says it answers this requirement, with ``copies``
        of the data on RSEs of that class (2 for 2 x SAFE)."""
        if not self.can_review(by):
            raise PermissionDenied(REVIEW_REFUSAL)
        if isinstance(copies, bool) or not isinstance(copies, int):
            raise ValidationError({"copies": LINK_COPIES_MESSAGES["invalid"]})
        if not 1 <= copies <= 10:
            raise ValidationError(
                {"copies": LINK_COPIES_MESSAGES["min_value" if copies < 1 else "max_value"]}
            )
        if qos_class.status != ClassStatus.APPROVED:
            raise ValidationError(
                {
                    "qos_class": f"{qos_class.label} is {qos_class.get_status_display().lower()}: only "
                    "approved classes can be linked."
                }
            )
        with transaction.atomic():
            locked = self._lock()
            if not locked.is_active:
                raise IllegalTransition(
                    f"This requirement is {locked.get_status_display().lower()}: file it again first."
                )
            existing = locked.links.filter(qos_class=qos_class).first()
            if existing is not None:
                raise ValidationError(
                    {
                        "qos_class": f"{qos_class.label} is already linked, with {existing.copies} "
                        f"cop{'y' if existing.copies == 1 else 'ies'}: unlink it first to ask for another number."
                    }
                )
            link = ClassLink.objects.create(
                requirement=locked, qos_class=qos_class, copies=copies, linked_by=by, note=note
            )
            locked._record(by, RequirementEventKind.LINKED, note, qos_class=qos_class)
        return link

    def unlink_class(self, qos_class: StorageQoSClass, *, by: Any, comment: str = "") -> None:
        if not self.can_review(by):
            raise PermissionDenied(REVIEW_REFUSAL)
        with transaction.atomic():
            locked = self._lock()
            deleted, _ = locked.links.filter(qos_class=qos_class).delete()
            if not deleted:
                raise ValidationError({"qos_class": f"{qos_class.label} is not linked."})
            locked._record(by, RequirementEventKind.UNLINKED, comment, qos_class=qos_class)

    def add_comment(self, *, by: Any, text: str) -> RequirementComment:
        if not self.can_comment(by):
            raise PermissionDenied(self.comment_refusal())
        if not text or not text.strip():
            raise ValidationError({"text": "Write something."})
        with transaction.atomic():
            comment = RequirementComment.objects.create(requirement=self, author=by, text=text.strip())
            notices.requirement_commented(self, by=by, comment_id=comment.pk, text=comment.text)
        return comment

    def loaded_value(self, name: str) -> Any:
        return self.loaded(self._meta.get_field(name).attname)

    def _lock(self) -> Requirement:
        return (
            Requirement.objects.select_for_update(of=("self",)).select_related("experiment").get(pk=self.pk)
        )

    def _record(self, by: Any, kind: str, comment: str = "", **extra: Any) -> RequirementEvent:
        return RequirementEvent.objects.create(
            requirement=self,
            kind=kind,
            to_status=self.status,
            author=by if getattr(by, "pk", None) else None,
            comment=comment or "",
            **extra,
        )


class RequirementEvent(Immutable):
    """One immutable step in a requirement's life: filed, edited, a status change, a class (un)linked."""

    requirement = models.ForeignKey(Requirement, on_delete=models.CASCADE, related_name="events")
    kind = models.CharField(max_length=16, choices=RequirementEventKind.choices)
    from_status = models.CharField(max_length=16, choices=RequirementStatus.choices, blank=True)
    to_status = models.CharField(max_length=16, choices=RequirementStatus.choices)
    author = user_link(related_name="requirement_events", blank=False)
    created_at = models.DateTimeField(default=timezone.now)
    comment = models.TextField(blank=True, help_text="Why.")
    changed_fields = models.JSONField(default=list, blank=True)
    qos_class = optional_link(StorageQoSClass, on_delete=models.PROTECT, related_name="+")

    class Meta:
        ordering = ["-created_at", "-pk"]

    def __str__(self) -> str:
        return f"{self.requirement_id} {self.kind} {self.created_at:%Y-%m-%d}"

    @property
    def summary(self) -> str:
        if self.kind == RequirementEventKind.STATUS:
            return f"{self.get_from_status_display().lower()} → {self.get_to_status_display().lower()}"
        if self.kind in (RequirementEventKind.LINKED, RequirementEventKind.UNLINKED):
            label = self.qos_class.label if self.qos_class_id else "?"
            return f"{self.get_kind_display().lower()}: {label}"
        if self.kind == RequirementEventKind.EDITED:
            names = [str(Requirement._meta.get_field(n).verbose_name) for n in self.changed_fields]
            return f"edited {', '.join(names)}"
        return self.get_kind_display().lower()


class ClassLink(models.Model):
    """A QoS class a QoS admin linked by hand to a requirement, saying it answers it, with the number of
    copies wanted in it: FAIR's raw data asks 2 x SAFE + 1 x FAST, two links. Coverage (``coverage.py``)
    holds ``copies`` against the RSEs in sync that advertise the class."""

    requirement = models.ForeignKey(Requirement, on_delete=models.CASCADE, related_name="links")
    qos_class = models.ForeignKey(StorageQoSClass, on_delete=models.PROTECT, related_name="requirement_links")
    copies = models.PositiveSmallIntegerField(
        default=1,
        validators=[
            MinValueValidator(1, LINK_COPIES_MESSAGES["min_value"]),
            MaxValueValidator(10, LINK_COPIES_MESSAGES["max_value"]),
        ],
        help_text="Copies wanted on RSEs of this class, e.g. 2 for two copies on SAFE: as many RSEs in "
        "sync must advertise it.",
    )
    linked_by = user_link(blank=False)
    linked_at = models.DateTimeField(default=timezone.now)
    note = models.CharField(max_length=500, blank=True)

    class Meta:
        ordering = ["qos_class__label"]
        constraints = [
            models.UniqueConstraint(fields=["requirement", "qos_class"], name="engagement_class_link_unique"),
            models.CheckConstraint(
                condition=models.Q(copies__gte=1, copies__lte=10), name="engagement_class_link_copies_range"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.requirement_id} → {self.qos_class_id}"


class RequirementComment(models.Model):
    """A message in a requirement's thread, between the experiment's liaisons and the QoS admins."""

    requirement = models.ForeignKey(Requirement, on_delete=models.CASCADE, related_name="comments")
    author = user_link(related_name="requirement_comments", blank=False)
    created_at = models.DateTimeField(default=timezone.now)
    text = models.TextField(help_text="Markdown.")

    class Meta:
        ordering = ["created_at", "pk"]

    def __str__(self) -> str:
        return f"Comment on {self.requirement_id} by {self.author_id}"


class EngagementRecord(ExperimentItem, StatusBadge):
    """A contact or meeting with an experiment: when, who, what came of it, and the next step."""

    experiment = models.ForeignKey(Experiment, on_delete=models.CASCADE, related_name="records")
    kind = models.CharField(max_length=16, choices=RecordKind.choices, default=RecordKind.CONTACT)
    subject = models.CharField(max_length=200, help_text="E.g. “Contact CTA to organise meetings”.")
    date = models.DateField(help_text="When it happened, or is planned.")
    who = models.CharField(
        max_length=300,
        blank=True,
        help_text="Who from the QoS group takes part or does it, e.g. Aleem Sarwar.",
    )
    contacts = models.ManyToManyField(
        Contact, blank=True, related_name="records", help_text="The experiment's people involved."
    )
    outcome = models.TextField(blank=True, help_text="Markdown: what came of it.")
    next_step = models.CharField(max_length=300, blank=True)
    status = models.CharField(max_length=16, choices=RecordStatus.choices, default=RecordStatus.PENDING)
    # The colour each status is shown in (StatusBadge).
    BADGES = {
        RecordStatus.PENDING: "status-proposed",
        RecordStatus.DONE: "status-approved",
        RecordStatus.CANCELLED: "status-draft",
    }
    created_by = user_link(blank=False)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-date", "-pk"]
        verbose_name = "engagement record"

    def __str__(self) -> str:
        return f"{self.experiment}: {self.subject}"


DOCUMENT_STEPS: dict[str, tuple[str, ...]] = {
    DocumentStatus.DRAFT: (DocumentStatus.SUBMITTED,),
    DocumentStatus.SUBMITTED: (DocumentStatus.APPROVED, DocumentStatus.CHANGES_REQUESTED),
    DocumentStatus.CHANGES_REQUESTED: (DocumentStatus.SUBMITTED, DocumentStatus.DRAFT),
    DocumentStatus.APPROVED: (),
}


class Document(ExperimentItem, StatusBadge, RemembersLoadedValues):
    """A document that needs an experiment's approval, e.g. one run through ATLAS to get it approved."""

    experiment = models.ForeignKey(Experiment, on_delete=models.CASCADE, related_name="documents")
    title = models.CharField(max_length=200)
    # https only, like every link a user stores (common/links.py).
    link = models.URLField(blank=True, max_length=500, validators=[validate_https_link])
    owner = user_link(help_text="Who runs it through the experiment.")
    status = models.CharField(max_length=20, choices=DocumentStatus.choices, default=DocumentStatus.DRAFT)
    # The colour each status is shown in (StatusBadge).
    BADGES = {
        DocumentStatus.DRAFT: "status-draft",
        DocumentStatus.SUBMITTED: "status-proposed",
        DocumentStatus.APPROVED: "status-approved",
        DocumentStatus.CHANGES_REQUESTED: "status-deprecated",
    }
    status_note = models.TextField(blank=True, help_text="E.g. the changes the experiment asked for.")
    status_changed_at = models.DateTimeField(default=timezone.now)
    status_changed_by = user_link()
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-status_changed_at", "-pk"]

    def __str__(self) -> str:
        return f"{self.experiment}: {self.title}"

    def clean(self) -> None:
        before = self.loaded("status")
        if before is None:
            if self.status not in (DocumentStatus.DRAFT, DocumentStatus.SUBMITTED):
                raise ValidationError({"status": "A new document starts as a draft or submitted."})
        elif self.status != before and self.status not in DOCUMENT_STEPS[before]:
            steps = " or ".join(DocumentStatus(s).label.lower() for s in DOCUMENT_STEPS[before])
            raise ValidationError(
                {
                    "status": f"A document that is {DocumentStatus(before).label.lower()} can go to "
                    f"{steps or 'no other status'}, not to {DocumentStatus(self.status).label.lower()}."
                }
            )

    def save_by(self, user: Any) -> None:
        """Save, noting who changed the status and when if it changed."""
        if self.status != self.loaded("status"):
            self.status_changed_at = timezone.now()
            self.status_changed_by = user if getattr(user, "pk", None) else None
        self.save()
        self._loaded = {**getattr(self, "_loaded", {}), "status": self.status}
