"""Models of the qos app: the catalogue (catalogue.py), its push onto Rucio (rucio.py), and whether RSEs deliver
their class (conformance.py)."""

from .catalogue import (
    CONTENT_FIELDS,
    TRANSITIONS,
    CatalogueError,
    FourEyesViolation,
    IllegalTransition,
    StaleRevision,
    StorageQoSClass,
    StorageQoSClassRevision,
    Transition,
    durability_field,
    revision_diff,
)
from .conformance import Conformance, Probe, ProbeDay
from .rucio import RSE, Push, PushAttempt, RucioInstance

__all__ = [
    "CONTENT_FIELDS",
    "RSE",
    "TRANSITIONS",
    "CatalogueError",
    "Conformance",
    "FourEyesViolation",
    "IllegalTransition",
    "Probe",
    "ProbeDay",
    "Push",
    "PushAttempt",
    "RucioInstance",
    "StaleRevision",
    "StorageQoSClass",
    "StorageQoSClassRevision",
    "Transition",
    "durability_field",
    "revision_diff",
]
