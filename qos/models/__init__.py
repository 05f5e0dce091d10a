"""Models of the qos app: the catalogue (catalogue.py) and its push onto Rucio (rucio.py)."""

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
from .rucio import RSE, Push, PushAttempt, RucioInstance

__all__ = [
    "CONTENT_FIELDS",
    "RSE",
    "TRANSITIONS",
    "CatalogueError",
    "FourEyesViolation",
    "IllegalTransition",
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
