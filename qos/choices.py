"""Vocabularies of the Storage QoS Class catalogue, after SNIA CDMI data system metadata and dCache QoS."""

from django.db import models


class ClassStatus(models.TextChoices):
    DRAFT = "draft", "Draft"
    PROPOSED = "proposed", "Proposed"
    APPROVED = "approved", "Approved"
    DEPRECATED = "deprecated", "Deprecated"
    RETIRED = "retired", "Retired"


# Rucio holds a class's label on its RSEs while the class is approved or deprecated; a retired class is removed.
CARRIED_STATUSES = (ClassStatus.APPROVED, ClassStatus.DEPRECATED)
# A class not approved yet can be planned on RSEs, which get it once it is approved.
PLANNED_STATUSES = (ClassStatus.DRAFT, ClassStatus.PROPOSED)
# What can be assigned to RSEs: an approved class (pushed at once) or a planned one.
ASSIGNABLE_STATUSES = (ClassStatus.APPROVED, *PLANNED_STATUSES)


class StorageMedia(models.TextChoices):
    DISK = "disk", "Disk"
    SSD = "ssd", "SSD"
    TAPE = "tape", "Tape"
    DISK_TAPE = "disk+tape", "Disk + tape"


class AccessLatency(models.TextChoices):
    """dCache's access latency: ONLINE is readable at once, NEARLINE must first be staged (e.g. from tape)."""

    ONLINE = "online", "Online"
    NEARLINE = "nearline", "Nearline"


class Redundancy(models.TextChoices):
    """How copies protect the data (CDMI ``cdmi_data_redundancy``)."""

    REPLICAS = "replicas", "Replicas"
    ERASURE_CODING = "erasure-coding", "Erasure coding"


class GeographicPlacement(models.TextChoices):
    """Where the copies are (CDMI ``cdmi_geographic_placement``)."""

    SINGLE_SITE = "single-site", "Single site"
    MULTI_SITE = "multi-site", "Several sites"
    MULTI_COUNTRY = "multi-country", "Several countries"


class CostTier(models.TextChoices):
    LOW = "low", "Low"
    MEDIUM = "medium", "Medium"
    HIGH = "high", "High"


class RevisionKind(models.TextChoices):
    CREATED = "created", "Created"
    EDITED = "edited", "Edited"
    PROPOSED = "proposed", "Proposed"
    APPROVED = "approved", "Approved"
    REJECTED = "rejected", "Rejected"
    DEPRECATED = "deprecated", "Deprecated"
    RETIRED = "retired", "Retired"


class AuthType(models.TextChoices):
    USERPASS = "userpass", "Username and password"
    X509 = "x509", "X.509 client certificate"
    OIDC = "oidc", "OIDC token"


class SyncState(models.TextChoices):
    """How an RSE's attribute in Rucio compares with what the portal wants."""

    IN_SYNC = "in_sync", "In sync"
    PENDING = "pending", "Pending"
    DRIFTED = "drifted", "Drifted"
    FAILED = "failed", "Failed"
    UNKNOWN = "unknown", "Unknown"


class PushState(models.TextChoices):
    QUEUED = "queued", "Queued"
    SENDING = "sending", "Sending"
    DONE = "done", "Done"
    FAILED = "failed", "Failed"
    SUPERSEDED = "superseded", "Superseded"


class PushOperation(models.TextChoices):
    SET = "set", "Set"
    DELETE = "delete", "Delete"


class AttemptOutcome(models.TextChoices):
    WRITTEN = "written", "Written"
    UNCHANGED = "unchanged", "Already so in Rucio"
    TRANSIENT_ERROR = "transient", "Transient error (will retry)"
    PERMANENT_ERROR = "permanent", "Permanent error"


class Verdict(models.TextChoices):
    """How an RSE delivers the class it advertises, as its probes measured it (qos/conformance.py)."""

    CONFORMING = "conforming", "Conforming"
    DEGRADED = "degraded", "Degraded"
    VIOLATING = "violating", "Violating"
    UNREACHABLE = "unreachable", "Unreachable"
    UNKNOWN = "unknown", "Unknown"


# Verdicts of RSEs that do not deliver their class: the dashboard lists them.
FAILING_VERDICTS = (Verdict.VIOLATING, Verdict.UNREACHABLE)
# Verdicts of RSEs that deliver their class, if not always to the letter: they count toward coverage when
# QOS_COVERAGE_COUNTS_CONFORMING_ONLY is on. A degraded RSE still places data where a rule asks.
DELIVERING_VERDICTS = (Verdict.CONFORMING, Verdict.DEGRADED)


class ProbeFault(models.TextChoices):
    """Why a probe failed: Rucio's fault as the gateway classifies it, or an RSE that cannot be probed."""

    NONE = "", "None"
    TRANSIENT = "transient", "Transient"
    PERMANENT = "permanent", "Permanent"
    NOT_PROBEABLE = "not_probeable", "Not probeable"
