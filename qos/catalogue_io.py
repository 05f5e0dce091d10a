"""Export and import of the whole Storage QoS Class catalogue, so that it can be kept in git and restored.

The file (JSON or YAML, the same document either way) is versioned::

    format: escape-qos-catalogue
    version: 1
    exported_at: "2026-03-18T13:00:00+00:00"
    classes:            # by label; each with the content in force and its full, immutable revision history
      - label: SAFE
        status: approved
        revision: 4                 # number of the latest revision
        label_locked: true
        pending_revision: 4         # number of the proposal awaiting approval, or null
        created_at / updated_at / approved_at: ...
        content: {label: SAFE, title: ..., ...}        # the content in force (CONTENT_FIELDS)
        revisions:
          - {number: 1, kind: created, status: draft, author: alice, created_at: ..., comment: ...,
             data: {...}, changed_fields: [...]}
    rse_assignments:    # RSEs carrying (qos_class) or planned for (planned_class) a class
      - {instance: escape-testbed, rse: CERN-EOS, qos_class: SAFE, planned_class: null}

Decisions, each for a reason:

- **Import restores into an empty catalogue only.** Merging two histories would have to invent an order of
  revisions and could approve content nobody approved; replacing would delete immutable history. A portal that
  already holds classes refuses the import and changes nothing.
- **Everything is validated before anything is written**, then written in one transaction: a bad file changes
  nothing. Every snapshot is checked with the catalogue's own rules (labels, choices, erasure coding, tape is
  nearline), and each class's history must agree with its row (numbers 1..N, the newest snapshot is the content
  in force or the pending proposal, statuses follow the revision kinds, the label is fixed after approval).
- **Authors are user names.** One that does not exist refuses the import by default: mapping it to nobody would
  silently weaken four-eyes (nobody could be kept from approving a proposal of an unknown author). IAM accounts
  appear at first login, so ``missing_authors="unassign"`` restores such revisions without an author, each
  listed as a warning.
- **RSEs are not created**: an assignment needs the RSE (instance name and RSE name) to exist, normally after
  ``manage.py sync_rucio``; unknown ones are listed in the report and skipped.
- **Importing pushes nothing to Rucio.** Restoring the portal's records must not change the live data lake: a
  backup may be older than what Rucio holds. Sync states are recomputed from the values last read from Rucio;
  ``sync_rucio`` then shows which RSEs drifted, and an admin reconciles or adopts each one deliberately.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import logging
import os
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from pathlib import Path
from types import SimpleNamespace
from typing import Any, Literal

import yaml
from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import OuterRef, Q, Subquery
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from .choices import CARRIED_STATUSES, PLANNED_STATUSES, ClassStatus, RevisionKind
from .models import CONTENT_FIELDS, RSE, Push, StorageQoSClass, StorageQoSClassRevision

logger = logging.getLogger(__name__)

FORMAT = "escape-qos-catalogue"
VERSION = 1
FILE_FORMATS = ("json", "yaml")
FileFormat = Literal["json", "yaml"]
ImportMode = Literal["restore", "dry-run"]
MissingAuthors = Literal["refuse", "unassign"]

# Restoring creates approved classes and their RSE assignments: only someone who may do both by hand may.
IMPORT_PERMISSIONS = ("qos.add_storageqosclass", "qos.approve_storageqosclass", "qos.push_rse")
DEFAULT_MAX_BYTES = 20 * 1024 * 1024
# Enough to fix a file in one go without burying the first error under thousands of similar ones.
MAX_ERRORS = 50
CHUNK = 500

CLASS_KEYS = (
    "label",
    "status",
    "revision",
    "label_locked",
    "pending_revision",
    "created_at",
    "updated_at",
    "approved_at",
    "content",
    "revisions",
)
REVISION_KEYS = ("number", "kind", "status", "author", "created_at", "comment", "data", "changed_fields")
ASSIGNMENT_KEYS = ("instance", "rse", "qos_class", "planned_class")
TOP_KEYS = ("format", "version", "exported_at", "classes", "rse_assignments")

# The statuses a revision of each kind can leave a class in (see the lifecycle methods of StorageQoSClass):
# an edit of an approved class is a proposal (status "proposed"), a rejected change leaves it approved.
KIND_STATUSES: dict[str, set[str]] = {
    RevisionKind.CREATED: {ClassStatus.DRAFT},
    RevisionKind.EDITED: {ClassStatus.DRAFT, ClassStatus.PROPOSED},
    RevisionKind.PROPOSED: {ClassStatus.PROPOSED},
    RevisionKind.APPROVED: {ClassStatus.APPROVED},
    RevisionKind.REJECTED: {ClassStatus.DRAFT, ClassStatus.APPROVED},
    RevisionKind.DEPRECATED: {ClassStatus.DEPRECATED},
    RevisionKind.RETIRED: {ClassStatus.RETIRED},
}

# The classes an RSE assignment names, the statuses each may be in, and why.
ASSIGNED_CLASSES = (
    ("qos_class", CARRIED_STATUSES, "an RSE carries only approved or deprecated classes"),
    ("planned_class", PLANNED_STATUSES, "only a draft or proposed class is planned"),
)

STRING_FIELDS = {
    "label",
    "title",
    "description",
    "storage_media",
    "access_latency",
    "redundancy",
    "erasure_coding",
    "geographic_placement",
    "cost_tier",
}
INTEGER_FIELDS = {"throughput_mbps": True, "copies": False, "lifetime_days": True}  # name: may be null


class CatalogueImportError(Exception):
    """A catalogue file refused, with every reason found; nothing was written."""

    def __init__(self, errors: Iterable[str]) -> None:
        self.errors = list(errors)
        super().__init__(self.message)

    @property
    def message(self) -> str:
        if len(self.errors) == 1:
            return self.errors[0]
        return f"{len(self.errors)} problems:\n" + "\n".join(f"- {error}" for error in self.errors)


@dataclass
class ImportReport:
    """What an import restored (or, in a dry run, would restore), and what it left out."""

    written: bool
    classes: list[str] = field(default_factory=list)
    revisions: int = 0
    assigned: dict[str, str] = field(default_factory=dict)  # RSE name -> label it carries
    planned: dict[str, str] = field(default_factory=dict)  # RSE name -> label planned on it
    unknown_rses: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    def lines(self) -> list[str]:
        """The report for people, one line each (the management command prints these)."""
        verb = "Restored" if self.written else "Dry run: the file would restore"
        lines = [
            f"{verb} {len(self.classes)} classes with {self.revisions} revisions"
            + (f": {', '.join(self.classes)}." if self.classes else "."),
            f"RSE assignments: {len(self.assigned)} RSEs carry a class, {len(self.planned)} have one planned.",
        ]
        if self.unknown_rses:
            lines.append(
                f"Skipped {len(self.unknown_rses)} RSEs this portal does not know: {', '.join(self.unknown_rses)}. "
                "Run `manage.py sync_rucio` before importing so that the portal knows them, or assign them "
                "on /qos/rses/ afterwards."
            )
        lines.extend(f"Warning: {warning}" for warning in self.warnings)
        if self.written:
            lines.append(
                "Nothing was pushed to Rucio. Run `manage.py sync_rucio` to read Rucio's values: RSEs whose value "
                "differs from the restored catalogue show as drifted on /qos/rses/, to reconcile or adopt."
            )
        else:
            lines.append("Nothing was written.")
        return lines


# --- export -----------------------------------------------------------------------------------------------
def export_catalogue() -> dict[str, Any]:
    """The whole catalogue as a JSON-ready document: classes with every revision, and RSE assignments.

    Three queries whatever the size of the catalogue. Order is stable (labels, revision numbers, RSE names) so
    that two exports of the same catalogue differ only in ``exported_at``, and a git diff shows real changes.
    """
    revisions: dict[int, list[dict[str, Any]]] = {}
    for revision in StorageQoSClassRevision.objects.select_related("author").order_by(
        "qos_class_id", "number"
    ):
        revisions.setdefault(revision.qos_class_id, []).append(
            {
                "number": revision.number,
                "kind": revision.kind,
                "status": revision.status,
                "author": revision.author.get_username() if revision.author else None,
                "created_at": _isoformat(revision.created_at),
                "comment": revision.comment,
                "data": revision.data,
                "changed_fields": list(revision.changed_fields),
            }
        )
    classes = [
        {
            "label": qos_class.label,
            "status": qos_class.status,
            "revision": qos_class.revision,
            "label_locked": qos_class.label_locked,
            "pending_revision": qos_class.pending_revision.number if qos_class.pending_revision else None,
            "created_at": _isoformat(qos_class.created_at),
            "updated_at": _isoformat(qos_class.updated_at),
            "approved_at": _isoformat(qos_class.approved_at),
            "content": qos_class.content(),
            "revisions": revisions.get(qos_class.pk, []),
        }
        for qos_class in StorageQoSClass.objects.select_related("pending_revision").order_by("label")
    ]
    assignments = [
        {
            "instance": rse.instance.name,
            "rse": rse.name,
            "qos_class": rse.qos_class.label if rse.qos_class else None,
            "planned_class": rse.planned_class.label if rse.planned_class else None,
        }
        for rse in RSE.objects.with_related()
        .filter(Q(qos_class__isnull=False) | Q(planned_class__isnull=False))
        .order_by("instance__name", "name")
    ]
    return {
        "format": FORMAT,
        "version": VERSION,
        "exported_at": _isoformat(timezone.now()),
        "classes": classes,
        "rse_assignments": assignments,
    }


def dump_catalogue(document: dict[str, Any], file_format: FileFormat) -> str:
    """The document as JSON or YAML text (UTF-8, ending in a newline)."""
    if file_format == "json":
        return json.dumps(document, indent=2, ensure_ascii=False) + "\n"
    if file_format == "yaml":
        header = (
            "# Storage QoS Class catalogue of the ESCAPE QoS portal. Restore: manage.py import_catalogue\n"
        )
        return header + yaml.dump(
            document, Dumper=_YamlDumper, sort_keys=False, allow_unicode=True, default_flow_style=False
        )
    raise ValueError(f"Unknown file format {file_format!r}: use one of {', '.join(FILE_FORMATS)}.")


class _YamlDumper(yaml.SafeDumper):
    """Multi-line text (Markdown descriptions) as literal blocks, so that a git diff shows changed lines."""


def _represent_str(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    # PyYAML falls back to a quoted style by itself where a block cannot hold the text (e.g. trailing spaces).
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style="|" if "\n" in value else None)


_YamlDumper.add_representer(str, _represent_str)


# --- reading a file -----------------------------------------------------------------------------------------
def file_format_for(path: str | os.PathLike[str]) -> FileFormat:
    """json or yaml, from a file name's extension; CatalogueImportError for any other."""
    suffix = Path(path).suffix.lower()
    if suffix == ".json":
        return "json"
    if suffix in (".yaml", ".yml"):
        return "yaml"
    raise CatalogueImportError(
        [
            f"Cannot tell the format of {os.fspath(path)!r} from its name: use .json, .yaml or .yml, or say which."
        ]
    )


def max_import_bytes() -> int:
    return int(getattr(settings, "CATALOGUE_IMPORT_MAX_BYTES", DEFAULT_MAX_BYTES))


def read_catalogue_file(
    path: str | os.PathLike[str], file_format: FileFormat | None = None
) -> dict[str, Any]:
    """Read and parse a catalogue file, refusing one larger than ``CATALOGUE_IMPORT_MAX_BYTES`` unread."""
    file_format = file_format or file_format_for(path)
    limit = max_import_bytes()
    try:
        with open(path, "rb") as stream:
            # One byte more than allowed tells "too large" without reading a huge file into memory.
            raw = stream.read(limit + 1)
    except OSError as error:
        raise CatalogueImportError(
            [f"Cannot read {os.fspath(path)!r}: {error.strerror or error}."]
        ) from error
    return parse_catalogue(raw, file_format)


def parse_catalogue(raw: bytes, file_format: FileFormat) -> dict[str, Any]:
    """Parse the bytes of a catalogue file (size-limited, UTF-8, no duplicate keys, no YAML aliases)."""
    limit = max_import_bytes()
    if len(raw) > limit:
        raise CatalogueImportError(
            [
                f"The file is larger than the limit of {_size(limit)} (setting CATALOGUE_IMPORT_MAX_BYTES): "
                "nothing was read."
            ]
        )
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise CatalogueImportError(
            [f"The file is not UTF-8 text (bad byte at position {error.start})."]
        ) from error
    try:
        if file_format == "json":
            document = json.loads(text, object_pairs_hook=_json_object, parse_constant=_json_constant)
        elif file_format == "yaml":
            document = yaml.load(text, Loader=_YamlLoader)  # noqa: S506 (a safe loader, see _YamlLoader)
        else:
            raise CatalogueImportError([f"Unknown file format {file_format!r}: use json or yaml."])
    except (ValueError, yaml.YAMLError) as error:
        raise CatalogueImportError([f"The file is not valid {file_format.upper()}: {error}"]) from error
    except RecursionError:
        # JSON nested thousands deep ("[[[[..."): no catalogue looks like that, and Python cannot parse it.
        raise CatalogueImportError(["The file is nested too deeply to be a catalogue."]) from None
    if not isinstance(document, dict):
        raise CatalogueImportError(
            [f"The file must hold one mapping with 'format: {FORMAT}' at the top, not {_kind(document)}."]
        )
    return document


def _json_object(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result:
            # A merge conflict resolved by keeping both lines: refuse rather than guess which one was meant.
            raise ValueError(f"the key {key!r} appears twice in one object")
        result[key] = value
    return result


def _json_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a number JSON allows")


class _YamlLoader(getattr(yaml, "CSafeLoader", yaml.SafeLoader)):
    """YAML's safe loader, refusing duplicate keys and aliases (an alias repeated in nested lists makes a small
    file expand into a huge document). libyaml's when present: about seven times faster than pure Python."""

    def construct_object(self, node: yaml.Node, deep: bool = False) -> Any:
        if node in self.constructed_objects or node in self.recursive_objects:
            raise yaml.constructor.ConstructorError(
                None, None, "anchors and aliases (&name, *name) are not allowed here", node.start_mark
            )
        return super().construct_object(node, deep)

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: set[str] = set()
        for key_node, _ in node.value:
            if isinstance(key_node, yaml.ScalarNode):
                if key_node.value in seen:
                    raise yaml.constructor.ConstructorError(
                        None, None, f"the key {key_node.value!r} appears twice", key_node.start_mark
                    )
                seen.add(key_node.value)
        return super().construct_mapping(node, deep)


# --- import -----------------------------------------------------------------------------------------------
@dataclass
class _PlannedClass:
    """A class of the file, checked and in canonical form, with its revisions by number."""

    row: dict[str, Any]
    revisions: list[dict[str, Any]]


def import_catalogue(
    data: dict[str, Any],
    *,
    by: Any,
    mode: ImportMode = "restore",
    missing_authors: MissingAuthors = "refuse",
) -> ImportReport:
    """Restore an exported catalogue into an empty one, or (``mode="dry-run"``) check that it would restore.

    Raises CatalogueImportError with every problem found, before anything is written; otherwise writes all of
    it in one transaction. Writes no push: see the module's docstring.
    """
    if mode not in ("restore", "dry-run"):
        raise ValueError(f"mode must be 'restore' or 'dry-run', not {mode!r}")
    if missing_authors not in ("refuse", "unassign"):
        raise ValueError(f"missing_authors must be 'refuse' or 'unassign', not {missing_authors!r}")
    if not getattr(by, "is_active", False) or not by.has_perms(IMPORT_PERMISSIONS):
        raise CatalogueImportError(
            [
                f"{by} may not restore the catalogue: that needs an active QoS admin (permissions "
                f"{', '.join(IMPORT_PERMISSIONS)})."
            ]
        )
    checker = _Checker()
    classes, assignments = checker.document(data)
    existing = list(StorageQoSClass.objects.order_by("label").values_list("label", flat=True)[:6])
    if existing:
        shown = ", ".join(existing[:5]) + (", ..." if len(existing) > 5 else "")
        checker.error(
            f"The catalogue is not empty (it holds {shown}): a file is restored into an empty catalogue only, "
            "never merged into one. Restore into a fresh database (migrate, sync_rucio, then import)."
        )
    authors = _authors(classes, checker, missing_authors)
    checker.raise_if_any()

    report = ImportReport(written=mode == "restore")
    report.classes = [planned.row["label"] for planned in classes]
    report.revisions = sum(len(planned.revisions) for planned in classes)
    report.warnings.extend(checker.warnings)
    rses = _known_rses(assignments, report)
    for assignment in assignments:
        if assignment["rse"] in rses:
            if assignment["qos_class"]:
                report.assigned[assignment["rse"]] = assignment["qos_class"]
            if assignment["planned_class"]:
                report.planned[assignment["rse"]] = assignment["planned_class"]
    if mode == "dry-run":
        return report

    with transaction.atomic():
        # Checked again inside the transaction: a class created since the check above must not be merged.
        if StorageQoSClass.objects.exists():
            raise CatalogueImportError(["The catalogue is not empty any more: nothing was written."])
        pks = _write_classes(classes, authors)
        _write_assignments(rses, report, pks)
    logger.info(
        "Catalogue restored by %s: %d classes, %d revisions, %d RSEs assigned, %d planned, %d unknown RSEs",
        by,
        len(report.classes),
        report.revisions,
        len(report.assigned),
        len(report.planned),
        len(report.unknown_rses),
    )
    return report


def _authors(
    classes: list[_PlannedClass], checker: _Checker, missing_authors: MissingAuthors
) -> dict[str, Any]:
    """User pk by user name, for every author named in the file (one query per chunk of names)."""
    from django.contrib.auth import get_user_model

    User = get_user_model()
    names = sorted({r["author"] for planned in classes for r in planned.revisions if r["author"] is not None})
    found: dict[str, Any] = {}
    for start in range(0, len(names), CHUNK):
        chunk = names[start : start + CHUNK]
        found.update(
            User.objects.filter(**{f"{User.USERNAME_FIELD}__in": chunk}).values_list(
                User.USERNAME_FIELD, "pk"
            )
        )
    missing = [name for name in names if name not in found]
    if missing:
        listed = ", ".join(missing[:20]) + (f" and {len(missing) - 20} more" if len(missing) > 20 else "")
        if missing_authors == "refuse":
            checker.error(
                f"Authors not known to this portal: {listed}. Create those accounts first (IAM accounts appear "
                "at first login), or restore their revisions without an author (--allow-missing-authors)."
            )
        else:
            checker.warnings.append(
                f"Revisions by {listed} were restored without an author: the four-eyes rule cannot keep "
                "them from approving their own pending proposals."
            )
    return found


def _known_rses(assignments: list[dict[str, Any]], report: ImportReport) -> dict[str, RSE]:
    """The RSEs of the file that exist under the instance the file names; the others go into the report."""
    names = [assignment["rse"] for assignment in assignments]
    rses: dict[str, RSE] = {}
    for start in range(0, len(names), CHUNK):
        rses.update(
            (rse.name, rse)
            for rse in RSE.objects.select_related("instance").filter(name__in=names[start : start + CHUNK])
        )
    known = {}
    for assignment in assignments:
        rse = rses.get(assignment["rse"])
        if rse is None:
            report.unknown_rses.append(f"{assignment['instance']}/{assignment['rse']}")
        elif rse.instance.name != assignment["instance"]:
            report.unknown_rses.append(
                f"{assignment['instance']}/{assignment['rse']} (this portal has it under {rse.instance.name})"
            )
        else:
            known[rse.name] = rse
    return known


def _write_classes(classes: list[_PlannedClass], authors: dict[str, Any]) -> dict[str, int]:
    """Create the classes and their revisions (bulk, a few queries per 500 rows); returns pks by label."""
    rows = []
    for planned in classes:
        row = planned.row
        qos_class = StorageQoSClass.from_content(
            row["content"],
            status=row["status"],
            revision=row["revision"],
            label_locked=row["label_locked"],
            approved_at=row["approved_at"],
        )
        rows.append(qos_class)
    StorageQoSClass.objects.bulk_create(rows, batch_size=CHUNK)
    pks = dict(StorageQoSClass.objects.values_list("label", "pk"))
    revisions = [
        StorageQoSClassRevision(
            qos_class_id=pks[planned.row["label"]],
            number=revision["number"],
            kind=revision["kind"],
            status=revision["status"],
            author_id=authors.get(revision["author"]) if revision["author"] else None,
            created_at=revision["created_at"],
            comment=revision["comment"],
            data=revision["data"],
            changed_fields=revision["changed_fields"],
        )
        for planned in classes
        for revision in planned.revisions
    ]
    StorageQoSClassRevision.objects.bulk_create(revisions, batch_size=CHUNK)
    pending = {pks[p.row["label"]]: p.row["pending_revision"] for p in classes if p.row["pending_revision"]}
    revision_pks: dict[tuple[int, int], int] = {}
    class_pks = list(pending)
    for start in range(0, len(class_pks), CHUNK):
        revision_pks.update(
            ((class_pk, number), pk)
            for class_pk, number, pk in StorageQoSClassRevision.objects.filter(
                qos_class_id__in=class_pks[start : start + CHUNK]
            ).values_list("qos_class_id", "number", "pk")
        )
    # bulk_update, unlike save(), leaves auto_now(_add) alone: the restored times stay the exported ones.
    for qos_class, planned in zip(rows, classes, strict=True):
        qos_class.pk = pks[qos_class.label]
        qos_class.created_at = planned.row["created_at"]
        qos_class.updated_at = planned.row["updated_at"]
        number = planned.row["pending_revision"]
        qos_class.pending_revision_id = revision_pks[(qos_class.pk, number)] if number else None
    StorageQoSClass.objects.bulk_update(
        rows, ["created_at", "updated_at", "pending_revision"], batch_size=CHUNK
    )
    return pks


def _write_assignments(rses: dict[str, RSE], report: ImportReport, pks: dict[str, int]) -> None:
    """Put the classes back on their RSEs without a push, and recompute each RSE's sync state."""
    now = timezone.now()
    by_target: dict[tuple[str | None, str | None], list[int]] = {}
    for name, rse in rses.items():
        by_target.setdefault((report.assigned.get(name), report.planned.get(name)), []).append(rse.pk)
    for (carried, planned), rse_pks in by_target.items():
        for start in range(0, len(rse_pks), CHUNK):
            RSE.objects.filter(pk__in=rse_pks[start : start + CHUNK]).update(
                qos_class_id=pks[carried] if carried else None,
                planned_class_id=pks[planned] if planned else None,
                updated_at=now,
            )
    # The state follows from the value Rucio last reported and the latest push (one query per chunk).
    names = list(rses)
    changed = []
    latest_push = (
        Push.objects.filter(rse=OuterRef("pk"), key=OuterRef("instance__attribute_key"))
        .order_by("-pk")
        .values("state")[:1]
    )
    for start in range(0, len(names), CHUNK):
        for rse in (
            RSE.objects.with_related()
            .filter(name__in=names[start : start + CHUNK])
            .annotate(latest_push_state=Subquery(latest_push))
        ):
            push = SimpleNamespace(state=rse.latest_push_state) if rse.latest_push_state else None
            state = rse.compute_sync_state(latest_push=push)
            if state != rse.sync_state:
                rse.sync_state = state
                changed.append(rse)
    RSE.objects.bulk_update(changed, ["sync_state"], batch_size=CHUNK)


class _Checker:
    """Checks a parsed document against the format and the catalogue's rules, collecting every error."""

    def __init__(self) -> None:
        self.errors: list[str] = []
        self.warnings: list[str] = []
        self.refused_labels: set[str] = set()

    def error(self, message: str) -> None:
        self.errors.append(message)

    def raise_if_any(self) -> None:
        if self.errors:
            shown = self.errors[:MAX_ERRORS]
            if len(self.errors) > MAX_ERRORS:
                shown.append(f"... and {len(self.errors) - MAX_ERRORS} more problems.")
            raise CatalogueImportError(shown)

    # -- the document ---------------------------------------------------------------------------------
    def document(self, data: Any) -> tuple[list[_PlannedClass], list[dict[str, Any]]]:
        self.header(data)
        self.keys(data, TOP_KEYS, "the file", optional={"exported_at"})
        if data.get("exported_at") is not None:
            self.timestamp(data["exported_at"], "exported_at")
        classes = self.classes(data.get("classes"))
        statuses = {planned.row["label"]: planned.row["status"] for planned in classes}
        return classes, self.assignments(data.get("rse_assignments"), statuses)

    def header(self, data: Any) -> None:
        """What the file is: anything else is refused at once, with no other error to bury that under."""
        if not isinstance(data, dict):
            raise CatalogueImportError(
                [f"A catalogue is a mapping with 'format: {FORMAT}', not {_kind(data)}."]
            )
        if data.get("format") != FORMAT:
            raise CatalogueImportError(
                [
                    f"This is not a QoS catalogue export: 'format' must be {FORMAT!r}, not {data.get('format')!r}."
                ]
            )
        version = data.get("version")
        if type(version) is not int or version != VERSION:
            raise CatalogueImportError(
                [
                    f"Catalogue format version {version!r} is not one this portal reads (it reads version "
                    f"{VERSION}): export it again from a portal of the same version."
                ]
            )

    def classes(self, value: Any) -> list[_PlannedClass]:
        classes = []
        for index, raw in enumerate(self.list_of(value, "classes")):
            planned = self.qos_class(raw, f"classes[{index}]")
            if planned is not None:
                classes.append(planned)
            elif isinstance(raw, dict) and isinstance(raw.get("label"), str):
                # Already reported: its RSEs are not reported again as naming an unknown class.
                self.refused_labels.add(raw["label"])
        for label, count in Counter(planned.row["label"] for planned in classes).items():
            if count > 1:
                self.error(f"classes: the label {label} appears {count} times; labels are unique.")
        return classes

    def assignments(self, value: Any, statuses: dict[str, str]) -> list[dict[str, Any]]:
        assignments = []
        for index, raw in enumerate(self.list_of(value, "rse_assignments")):
            assignment = self.assignment(raw, f"rse_assignments[{index}]", statuses)
            if assignment is not None:
                assignments.append(assignment)
        for name, count in Counter(assignment["rse"] for assignment in assignments).items():
            if count > 1:
                self.error(f"rse_assignments: the RSE {name} appears {count} times.")
        return assignments

    def keys(
        self, raw: dict[str, Any], allowed: Iterable[str], where: str, optional: Iterable[str] = ()
    ) -> bool:
        allowed = tuple(allowed)
        missing = [key for key in allowed if key not in raw and key not in optional]
        unknown = [str(key) for key in raw if key not in allowed]
        if missing:
            self.error(f"{where}: missing {', '.join(missing)}.")
        if unknown:
            self.error(f"{where}: unknown {', '.join(unknown)} (allowed: {', '.join(allowed)}).")
        return not missing

    def list_of(self, value: Any, where: str) -> list[Any]:
        if not isinstance(value, list):
            self.error(f"{where}: must be a list, not {_kind(value)}.")
            return []
        return value

    # -- a class and its history ------------------------------------------------------------------------
    def qos_class(self, raw: Any, where: str) -> _PlannedClass | None:
        if not isinstance(raw, dict):
            self.error(f"{where}: must be a mapping, not {_kind(raw)}.")
            return None
        if isinstance(raw.get("label"), str):
            where = f"{where} ({raw['label']})"
        errors_before = len(self.errors)
        if not self.keys(raw, CLASS_KEYS, where):
            return None
        label = raw["label"]
        if not isinstance(label, str):
            self.error(f"{where}.label: must be text, not {_kind(label)}.")
        status = self.choice(raw["status"], ClassStatus, f"{where}.status")
        number = self.integer(raw["revision"], f"{where}.revision", minimum=1)
        label_locked = raw["label_locked"]
        if not isinstance(label_locked, bool):
            self.error(f"{where}.label_locked: must be true or false, not {_kind(label_locked)}.")
        pending = raw["pending_revision"]
        if pending is not None:
            pending = self.integer(pending, f"{where}.pending_revision", minimum=1)
        row = {
            "label": label,
            "status": status,
            "revision": number,
            "label_locked": label_locked,
            "pending_revision": pending,
            "created_at": self.timestamp(raw["created_at"], f"{where}.created_at"),
            "updated_at": self.timestamp(raw["updated_at"], f"{where}.updated_at"),
            "approved_at": self.timestamp(raw["approved_at"], f"{where}.approved_at", nullable=True),
            "content": self.content(raw["content"], f"{where}.content"),
        }
        revisions = [
            revision
            for index, item in enumerate(self.list_of(raw["revisions"], f"{where}.revisions"))
            if (revision := self.revision(item, f"{where}.revisions[{index}]")) is not None
        ]
        if len(self.errors) > errors_before:
            return None  # the history can only be compared with a class that is itself well formed
        self.history(row, revisions, where)
        return _PlannedClass(row=row, revisions=sorted(revisions, key=lambda revision: revision["number"]))

    def revision(self, raw: Any, where: str) -> dict[str, Any] | None:
        if not isinstance(raw, dict):
            self.error(f"{where}: must be a mapping, not {_kind(raw)}.")
            return None
        if isinstance(raw.get("number"), int):
            where = f"{where} (r{raw['number']})"
        if not self.keys(raw, REVISION_KEYS, where):
            return None
        author = raw["author"]
        if author is not None and (not isinstance(author, str) or not author):
            self.error(f"{where}.author: must be a user name or null, not {_kind(author)}.")
        comment = raw["comment"]
        if not isinstance(comment, str):
            self.error(f"{where}.comment: must be text, not {_kind(comment)}.")
        changed = raw["changed_fields"]
        if not isinstance(changed, list) or any(name not in CONTENT_FIELDS for name in changed):
            self.error(
                f"{where}.changed_fields: must be a list of content fields ({', '.join(CONTENT_FIELDS)})."
            )
        return {
            "number": self.integer(raw["number"], f"{where}.number", minimum=1),
            "kind": self.choice(raw["kind"], RevisionKind, f"{where}.kind"),
            "status": self.choice(raw["status"], ClassStatus, f"{where}.status"),
            "author": author,
            "created_at": self.timestamp(raw["created_at"], f"{where}.created_at"),
            "comment": comment,
            "data": self.content(raw["data"], f"{where}.data"),
            "changed_fields": changed,
        }

    def history(self, row: dict[str, Any], revisions: list[dict[str, Any]], where: str) -> None:
        """The history must be one the catalogue's lifecycle could have written for this very row."""
        if not self.numbering(row, revisions, where):
            return
        history = sorted(revisions, key=lambda revision: revision["number"])
        for revision in history:
            self.revision_status(revision, where)
        if history[0]["kind"] != RevisionKind.CREATED:
            self.error(f"{where}.revisions: revision 1 must be the creation, not {history[0]['kind']}.")
            return
        if row["content"]["label"] != row["label"]:
            self.error(
                f"{where}.content.label: {row['content']['label']} is not the class's label {row['label']}."
            )
        if row["pending_revision"] is not None:
            self.pending_proposal(row, history, where)
        else:
            self.newest_in_force(row, history[-1], where)
        self.approvals(row, history, where)

    def numbering(self, row: dict[str, Any], revisions: list[dict[str, Any]], where: str) -> bool:
        """Revisions are numbered 1, 2, ... up to the row's revision; False (and reported) if not."""
        numbers = sorted(revision["number"] for revision in revisions)
        if numbers == list(range(1, len(numbers) + 1)) and len(numbers) == row["revision"]:
            return True
        repeated = sorted(number for number, count in Counter(numbers).items() if count > 1)
        self.error(
            f"{where}.revisions: numbers must run 1, 2, ... up to revision {row['revision']} without gaps"
            + (f"; repeated: {', '.join(map(str, repeated))}" if repeated else "")
            + f" (found {', '.join(map(str, numbers)) or 'none'})."
        )
        return False

    def revision_status(self, revision: dict[str, Any], where: str) -> None:
        if revision["status"] not in KIND_STATUSES[revision["kind"]]:
            allowed = " or ".join(sorted(KIND_STATUSES[revision["kind"]]))
            self.error(
                f"{where}.revisions (r{revision['number']}): {_article(revision['kind'])} {revision['kind']} "
                "revision leaves the class "
                f"{allowed}, not {revision['status']}."
            )

    def pending_proposal(self, row: dict[str, Any], history: list[dict[str, Any]], where: str) -> None:
        """A pending proposal is the newest revision, an edit of an approved class, changing its content."""
        latest = history[-1]
        if row["pending_revision"] != latest["number"]:
            self.error(
                f"{where}.pending_revision: a pending proposal is always the newest revision "
                f"(r{latest['number']}), not r{row['pending_revision']}."
            )
        elif (latest["kind"], latest["status"], row["status"]) != (
            RevisionKind.EDITED,
            ClassStatus.PROPOSED,
            ClassStatus.APPROVED,
        ):
            self.error(
                f"{where}.pending_revision: only an edit (status proposed) of an approved class can be pending."
            )
        # The content in force is the one the last approval or rejection left; edits since are proposals.
        base = next(revision for revision in reversed(history) if revision["kind"] != RevisionKind.EDITED)
        if base["data"] != row["content"]:
            self.error(
                f"{where}.content: differs from the content in force after r{base['number']} "
                f"({base['kind']}), which the pending proposal leaves in force."
            )
        if latest["data"] == row["content"]:
            self.error(f"{where}.pending_revision: the pending proposal changes nothing in the content.")

    def newest_in_force(self, row: dict[str, Any], latest: dict[str, Any], where: str) -> None:
        """With no pending proposal, the row holds the status and content its newest revision left."""
        if latest["status"] != row["status"]:
            self.error(
                f"{where}.status: {row['status']} is not the status its newest revision "
                f"(r{latest['number']}) left it in, {latest['status']}."
            )
        if latest["data"] != row["content"]:
            differing = [name for name in CONTENT_FIELDS if latest["data"][name] != row["content"][name]]
            self.error(
                f"{where}.content: differs from its newest revision (r{latest['number']}) in "
                f"{', '.join(differing)}."
            )

    def approvals(self, row: dict[str, Any], history: list[dict[str, Any]], where: str) -> None:
        """A class once approved has its label locked, an approval time, and the same label ever after."""
        approvals = [revision for revision in history if revision["kind"] == RevisionKind.APPROVED]
        if row["label_locked"] != bool(approvals):
            self.error(
                f"{where}.label_locked: must be {str(bool(approvals)).lower()}: the label is locked exactly when "
                "the class was once approved."
            )
        if (row["approved_at"] is None) == bool(approvals):
            self.error(
                f"{where}.approved_at: "
                + (
                    "give the time of the last approval."
                    if approvals
                    else "must be null: it was never approved."
                )
            )
        if not approvals:
            return
        renamed = [
            r["number"] for r in history[approvals[0]["number"] - 1 :] if r["data"]["label"] != row["label"]
        ]
        if renamed:
            self.error(
                f"{where}.revisions: the label is fixed once approved, but r{', r'.join(map(str, renamed))} "
                f"name the class otherwise than {row['label']}."
            )

    # -- an RSE assignment -------------------------------------------------------------------------------
    def assignment(self, raw: Any, where: str, statuses: dict[str, str]) -> dict[str, Any] | None:
        if not isinstance(raw, dict):
            self.error(f"{where}: must be a mapping, not {_kind(raw)}.")
            return None
        if not self.keys(raw, ASSIGNMENT_KEYS, where):
            return None
        ok = self.rse_names(raw, where)
        if ok:
            where = f"{where} ({raw['instance']}/{raw['rse']})"
        for key, allowed, meaning in ASSIGNED_CLASSES:
            label = raw[key]
            if label is not None and not self.assigned_class(
                label, allowed, meaning, f"{where}.{key}", statuses
            ):
                ok = False
        if raw["qos_class"] is None and raw["planned_class"] is None:
            self.error(f"{where}: give qos_class, planned_class or both.")
            ok = False
        return dict(raw) if ok else None

    def rse_names(self, raw: dict[str, Any], where: str) -> bool:
        ok = True
        for key in ("instance", "rse"):
            if not isinstance(raw[key], str) or not raw[key]:
                self.error(f"{where}.{key}: must be a name, not {_kind(raw[key])}.")
                ok = False
        return ok

    def assigned_class(
        self, label: Any, allowed: Iterable[str], meaning: str, where: str, statuses: dict[str, str]
    ) -> bool:
        """Whether ``label`` names a class of this file in one of the ``allowed`` statuses (reported if not)."""
        if label in self.refused_labels and label not in statuses:
            return False  # the class itself was refused, and that was reported
        if label not in statuses:
            self.error(f"{where}: {label!r} is not a class of this file.")
            return False
        if statuses[label] not in allowed:
            self.error(f"{where}: {label} is {statuses[label]}, and {meaning}.")
            return False
        return True

    # -- values ---------------------------------------------------------------------------------------------
    def content(self, raw: Any, where: str) -> dict[str, Any] | None:
        """A snapshot checked with the catalogue's own rules, in the canonical form the portal stores."""
        if not isinstance(raw, dict):
            self.error(f"{where}: must be a mapping of the class's fields, not {_kind(raw)}.")
            return None
        if not self.keys(raw, CONTENT_FIELDS, where):
            return None
        errors_before = len(self.errors)
        values = dict(raw)
        self.value_types(values, where)
        if values["durability_target"] is not None:
            values["durability_target"] = self.durability(values["durability_target"], where)
        self.choices_of_fields(values, where)
        if len(self.errors) > errors_before:
            return None
        return self.catalogue_rules(values, where)

    def value_types(self, values: dict[str, Any], where: str) -> None:
        for name in STRING_FIELDS:
            if not isinstance(values[name], str):
                self.error(f"{where}.{name}: must be text, not {_kind(values[name])}.")
        for name, nullable in INTEGER_FIELDS.items():
            value = values[name]
            if not (value is None and nullable) and (type(value) is not int):
                self.error(
                    f"{where}.{name}: must be a whole number{' or null' if nullable else ''}, not {_kind(value)}."
                )

    def durability(self, value: Any, where: str) -> str | None:
        """The durability target as the decimal text the portal stores (a number is taken too)."""
        number = None
        if not isinstance(value, bool) and isinstance(value, (str, int, float)):
            with contextlib.suppress(InvalidOperation):
                number = Decimal(str(value))
        if number is None or not number.is_finite():
            self.error(f'{where}.durability_target: must be a percentage such as "99.999" or null.')
            return value
        return format(number, "f")

    def choices_of_fields(self, values: dict[str, Any], where: str) -> None:
        for name in CONTENT_FIELDS:
            field_ = StorageQoSClass._meta.get_field(name)
            if (
                field_.choices
                and isinstance(values[name], str)
                and values[name] not in dict(field_.flatchoices)
            ):
                self.error(
                    f"{where}.{name}: {values[name]!r} is not one of {', '.join(str(v) for v, _ in field_.flatchoices)}."
                )

    def catalogue_rules(self, values: dict[str, Any], where: str) -> dict[str, Any] | None:
        """The content as the catalogue's own validation takes it, or None (and its errors reported)."""
        candidate = StorageQoSClass.from_content(values)
        try:
            candidate.full_clean(
                exclude=["status", "revision"], validate_unique=False, validate_constraints=False
            )
        except ValidationError as error:
            for name, messages in error.message_dict.items():
                prefix = where if name == "__all__" else f"{where}.{name}"
                self.errors.extend(f"{prefix}: {message}" for message in messages)
            return None
        return candidate.content()

    def choice(self, value: Any, choices: Any, where: str) -> Any:
        if value not in choices.values:
            self.error(f"{where}: {value!r} is not one of {', '.join(choices.values)}.")
        return value

    def integer(self, value: Any, where: str, *, minimum: int) -> Any:
        if type(value) is not int or value < minimum:
            self.error(f"{where}: must be a whole number from {minimum}, not {value!r}.")
        return value

    def timestamp(self, value: Any, where: str, *, nullable: bool = False) -> dt.datetime | None:
        if value is None and nullable:
            return None
        # YAML reads an unquoted timestamp as a datetime, JSON (and our own export) gives text.
        try:
            parsed = (
                value
                if isinstance(value, dt.datetime)
                else parse_datetime(value)
                if isinstance(value, str)
                else None
            )
        except ValueError:  # well formed but impossible, e.g. 2020-02-30
            parsed = None
        if parsed is None or timezone.is_naive(parsed):
            self.error(
                f"{where}: must be a date and time with its offset, e.g. 2020-03-18T13:00:00+00:00, not {value!r}."
            )
            return None
        return parsed


def _isoformat(value: dt.datetime | None) -> str | None:
    return value.astimezone(dt.UTC).isoformat() if value else None


def _kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true/false"
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, str):
        return f"the text {value[:40]!r}"
    return repr(value)[:40]


def _article(word: str) -> str:
    return "an" if word[:1] in "aeiou" else "a"


def _size(count: int) -> str:
    return f"{count / (1024 * 1024):g} MB" if count >= 1024 * 1024 else f"{count} bytes"
