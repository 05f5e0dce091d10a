"""Vocabularies of experiment engagement: requirement lifecycle, access patterns, records and documents."""

from django.db import models


class RequirementStatus(models.TextChoices):
    """Filed → under review → accepted → satisfied, or rejected / withdrawn (see ``Requirement.TRANSITIONS``)."""

    FILED = "filed", "Filed"
    UNDER_REVIEW = "under-review", "Under review"
    ACCEPTED = "accepted", "Accepted"
    SATISFIED = "satisfied", "Satisfied"
    REJECTED = "rejected", "Rejected"
    WITHDRAWN = "withdrawn", "Withdrawn"


# Requirements the data lake still has to answer (or answers): only these can be gaps.
ACTIVE_STATUSES = (
    RequirementStatus.FILED,
    RequirementStatus.UNDER_REVIEW,
    RequirementStatus.ACCEPTED,
    RequirementStatus.SATISFIED,
)


# Requirements the QoS group has committed to: a linked class losing RSEs breaks what was agreed.
COMMITTED_STATUSES = (RequirementStatus.ACCEPTED, RequirementStatus.SATISFIED)


class AccessPattern(models.TextChoices):
    """How the experiment uses the data; tells the QoS group what the numbers are for (not matched)."""

    ARCHIVE = "archive", "Archive: written once, read rarely"
    BULK_READ = "bulk-read", "Bulk reads: whole files, e.g. reprocessing"
    ANALYSIS = "analysis", "Analysis: many reads, some random access"
    SCRATCH = "scratch", "Scratch: short-lived, heavy I/O"


class RequirementEventKind(models.TextChoices):
    FILED = "filed", "Filed"
    EDITED = "edited", "Edited"
    STATUS = "status", "Status changed"
    LINKED = "linked", "Class linked"
    UNLINKED = "unlinked", "Class unlinked"


class RecordKind(models.TextChoices):
    CONTACT = "contact", "Contact"
    MEETING = "meeting", "Meeting"
    DEMONSTRATION = "demonstration", "Demonstration or test"


class RecordStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    DONE = "done", "Done"
    CANCELLED = "cancelled", "Cancelled"


class DocumentStatus(models.TextChoices):
    """Draft → submitted → approved / changes requested (→ submitted again)."""

    DRAFT = "draft", "Draft"
    SUBMITTED = "submitted", "Submitted for approval"
    APPROVED = "approved", "Approved"
    CHANGES_REQUESTED = "changes-requested", "Changes requested"
