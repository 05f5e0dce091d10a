"""Export and import of the whole catalogue: a faithful round trip, and bad files refused with nothing changed.

Nothing here talks to Rucio: an import writes no push, which is one of the things proved.
"""

from __future__ import annotations

import copy
import itertools
import json
import os
import subprocess
import sys
from decimal import Decimal
from pathlib import Path
from typing import Any
from unittest import mock

import pytest
import yaml
from django.contrib.auth.models import User
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from rest_framework.test import APIClient

from qos import catalogue_io
from qos.catalogue_io import (
    CatalogueImportError,
    dump_catalogue,
    export_catalogue,
    import_catalogue,
    parse_catalogue,
    read_catalogue_file,
)
from qos.models import (
    RSE,
    FourEyesViolation,
    Push,
    RucioInstance,
    StorageQoSClass,
    StorageQoSClassRevision,
    revision_diff,
)
from tests.conftest import SAFE_CONTENT

pytestmark = pytest.mark.django_db

ROOT = Path(__file__).resolve().parents[2]

TRICKY_TEXT = "Line one  \n\tindented with a tab\r\nWindows line — ünïcødé ✓\n\n* a list\n* `code`\n"


@pytest.fixture
def instance(db):
    return RucioInstance.objects.create(name="escape-testbed", host="https://rucio.escape.invalid")


@pytest.fixture
def catalogue(admin, admin2, instance):
    """Every status, a pending change, a rejection, tricky text, and RSEs carrying or awaiting classes."""
    return build_catalogue(admin, admin2, instance)


def build_catalogue(admin, admin2, instance) -> dict[str, StorageQoSClass]:
    safe = StorageQoSClass.objects.create_draft(by=admin, comment="first draft", **SAFE_CONTENT)
    safe.propose(by=admin, comment="as agreed in stream A")
    safe.approve(by=admin2, comment="matches the wiki")
    safe.edit(by=admin, changes={"description": TRICKY_TEXT}, comment="more detail", base_revision=3)

    fast = StorageQoSClass.objects.create_draft(
        by=admin2,
        label="FAST",
        title="Fast disk",
        description="SSD-backed online storage.\n\n* For the LOFAR pipeline's staging area.\n",
        storage_media="ssd",
        access_latency="online",
        throughput_mbps=2000,
        durability_target=Decimal("99.9900"),
        lifetime_days=90,
        cost_tier="high",
    )
    fast.edit(by=admin2, changes={"title": "Fast online disk"}, base_revision=1)
    fast.propose(by=admin2)
    fast.approve(by=admin, comment="ok")

    old = StorageQoSClass.objects.create_draft(
        by=admin, label="OLD", title="Old tape", storage_media="tape", access_latency="nearline"
    )
    old.propose(by=admin)
    old.approve(by=admin2)
    old.deprecate(by=admin2, reason="superseded by SAFE")
    old.retire(by=admin2, reason="no RSE left")

    # "NO" reads as false in YAML 1.1 when unquoted: the export must keep it a label.
    no = StorageQoSClass.objects.create_draft(
        by=admin,
        label="NO",
        title="Rejected idea",
        description=TRICKY_TEXT,
        storage_media="disk",
        access_latency="online",
        redundancy="erasure-coding",
        erasure_coding="8+3",
    )
    no.propose(by=admin)
    no.reject(by=admin2, reason="no site offers it")

    planned = StorageQoSClass.objects.create_draft(
        by=admin2, label="PLANNED", title="Planned disk", storage_media="disk", access_latency="online"
    )
    planned.propose(by=admin2, comment="for CTA")

    cern, desy, pic, _ = RSE.objects.bulk_create(
        RSE(instance=instance, name=name) for name in ("CERN-EOS", "DESY-DCACHE", "PIC-DCACHE", "SARA-DCACHE")
    )
    RSE.objects.filter(pk=cern.pk).assign(StorageQoSClass.objects.get(label="SAFE"), by=admin)
    RSE.objects.filter(pk=desy.pk).assign(fast, by=admin)
    fast.deprecate(by=admin, reason="the SSD pool shrinks: deprecated classes stay on their RSEs")
    RSE.objects.filter(pk=pic.pk).assign(planned, by=admin)
    # What Rucio last reported: CERN-EOS carries SAFE, DESY-DCACHE nothing.
    now = timezone.now()
    RSE.objects.filter(pk=cern.pk).update(rucio_value="SAFE", last_read_at=now)
    RSE.objects.filter(pk=desy.pk).update(rucio_value=None, last_read_at=now)
    return {c.label: c for c in StorageQoSClass.objects.all()}


def empty_the_catalogue() -> None:
    """What a fresh database holds after migrate and sync_rucio: RSEs, no class, no push."""
    Push.objects.all().delete()
    RSE.objects.update(qos_class=None, planned_class=None, sync_state="unknown")
    StorageQoSClass.objects.update(pending_revision=None)
    StorageQoSClassRevision.objects.all().delete()
    StorageQoSClass.objects.all().delete()


def histories() -> dict[str, Any]:
    """Everything a person sees of each class's history: revisions, diffs between them, the pending change."""
    result = {}
    for qos_class in StorageQoSClass.objects.all():
        revisions = list(qos_class.revisions.order_by("number").select_related("author"))
        result[qos_class.label] = {
            "revisions": [
                (r.number, r.kind, r.status, r.author and r.author.username, r.comment, r.created_at, r.data)
                for r in revisions
            ],
            "diffs": [revision_diff(old, new) for old, new in itertools.pairwise(revisions)],
            "pending": qos_class.pending_changes(),
            "row": (qos_class.content(), qos_class.status, qos_class.label_locked, qos_class.approved_at),
        }
    return result


def assignments() -> list[tuple[str, str | None, str | None]]:
    return list(RSE.objects.order_by("name").values_list("name", "qos_class__label", "planned_class__label"))


def without_timestamp(document: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in document.items() if key != "exported_at"}


@pytest.fixture(scope="module")
def exported_once(django_db_setup, django_db_blocker) -> dict[str, Any]:
    """The fixture catalogue's export, built once for this module's many refused-document cases."""
    from django.contrib.auth.models import Group

    from portal.choices import Role

    with django_db_blocker.unblock(), transaction.atomic():
        admin, admin2 = (User.objects.create_user(username=name) for name in ("alice-admin", "bob-admin"))
        for user in (admin, admin2):
            user.groups.add(Group.objects.get(name=Role.QOS_ADMIN))
        build_catalogue(
            admin, admin2, RucioInstance.objects.create(name="escape-testbed", host="https://x.invalid")
        )
        document = export_catalogue()
        transaction.set_rollback(True)
    return document


@pytest.fixture
def exported(exported_once, admin, admin2, instance):
    """A copy of the export, into a portal with the same RSEs and authors and an empty catalogue."""
    RSE.objects.bulk_create(
        RSE(instance=instance, name=name) for name in ("CERN-EOS", "DESY-DCACHE", "PIC-DCACHE", "SARA-DCACHE")
    )
    return copy.deepcopy(exported_once)


def assert_nothing_changed() -> None:
    assert not StorageQoSClass.objects.exists()
    assert not StorageQoSClassRevision.objects.exists()
    assert all(carried is None and planned is None for _, carried, planned in assignments())
    assert not Push.objects.exists()


# --- round trip ----------------------------------------------------------------------------------------------
@pytest.mark.parametrize("file_format", ["json", "yaml"])
def test_round_trip_restores_classes_revisions_diffs_and_assignments_exactly(catalogue, admin, file_format):
    before, before_assignments = histories(), assignments()
    first = export_catalogue()
    text = dump_catalogue(first, file_format)
    empty_the_catalogue()

    report = import_catalogue(parse_catalogue(text.encode(), file_format), by=admin)

    assert without_timestamp(export_catalogue()) == without_timestamp(first)
    assert histories() == before
    assert assignments() == before_assignments
    assert report.written
    assert report.classes == ["FAST", "NO", "OLD", "PLANNED", "SAFE"]
    assert report.revisions == sum(len(c["revisions"]) for c in first["classes"])
    assert report.assigned == {"CERN-EOS": "SAFE", "DESY-DCACHE": "FAST"}
    assert report.planned == {"PIC-DCACHE": "PLANNED"}
    assert StorageQoSClass.objects.get(label="NO").description == TRICKY_TEXT


def test_four_eyes_authorship_survives_a_restore(exported, admin, admin2):
    import_catalogue(exported, by=admin)
    safe = StorageQoSClass.objects.get(label="SAFE")
    assert safe.has_pending_change
    assert safe.proposal_authors() == {admin.pk}
    assert not safe.can_be_approved_by(admin)
    with pytest.raises(FourEyesViolation):
        safe.approve(by=admin)
    safe.approve(by=admin2, comment="restored and approved")
    assert safe.description == TRICKY_TEXT
    assert safe.revision == 5


def test_restored_class_keeps_its_label_lock_and_its_times(catalogue, admin):
    original = StorageQoSClass.objects.get(label="OLD")
    document = export_catalogue()
    empty_the_catalogue()
    import_catalogue(document, by=admin)
    restored = StorageQoSClass.objects.get(label="OLD")
    assert (restored.status, restored.label_locked, restored.revision) == ("retired", True, 5)
    assert (restored.created_at, restored.updated_at, restored.approved_at) == (
        original.created_at,
        original.updated_at,
        original.approved_at,
    )


def test_import_pushes_nothing_and_recomputes_sync_states(catalogue, admin):
    document = export_catalogue()
    empty_the_catalogue()  # RSEs keep what Rucio last reported
    report = import_catalogue(document, by=admin)
    assert not Push.objects.exists()
    states = dict(RSE.objects.values_list("name", "sync_state"))
    # CERN-EOS: Rucio holds SAFE as the portal wants. DESY-DCACHE: Rucio holds nothing, the portal wants FAST.
    assert states["CERN-EOS"] == "in_sync"
    assert states["DESY-DCACHE"] == "drifted"
    assert states["PIC-DCACHE"] == "unknown"
    assert any("Nothing was pushed to Rucio" in line and "sync_rucio" in line for line in report.lines())


def test_export_lists_classes_by_label_and_revisions_oldest_first(catalogue):
    document = export_catalogue()
    assert (document["format"], document["version"]) == ("escape-qos-catalogue", 1)
    assert [c["label"] for c in document["classes"]] == ["FAST", "NO", "OLD", "PLANNED", "SAFE"]
    safe = document["classes"][-1]
    assert [r["number"] for r in safe["revisions"]] == [1, 2, 3, 4]
    assert safe["pending_revision"] == 4
    assert safe["revisions"][2]["author"] == "bob-admin"
    assert safe["content"]["description"] == SAFE_CONTENT["description"]
    assert document["rse_assignments"] == [
        {"instance": "escape-testbed", "rse": "CERN-EOS", "qos_class": "SAFE", "planned_class": None},
        {"instance": "escape-testbed", "rse": "DESY-DCACHE", "qos_class": "FAST", "planned_class": None},
        {"instance": "escape-testbed", "rse": "PIC-DCACHE", "qos_class": None, "planned_class": "PLANNED"},
    ]


def test_yaml_export_is_diff_friendly_and_keeps_yaml_look_alikes_as_text(catalogue):
    text = dump_catalogue(export_catalogue(), "yaml")
    assert text.startswith("# Storage QoS Class catalogue")
    assert "description: |" in text  # Markdown as a literal block: a git diff shows the changed lines
    loaded = yaml.safe_load(text)
    assert loaded["classes"][1]["label"] == "NO"
    assert loaded["classes"][0]["content"]["durability_target"] == "99.99"
    assert isinstance(loaded["classes"][0]["created_at"], str)


def test_export_takes_three_queries_whatever_the_size_of_the_catalogue(admin, instance):
    def queries() -> int:
        with CaptureQueriesContext(connection) as captured:
            export_catalogue()
        return len(captured)

    for i in range(2):
        StorageQoSClass.objects.create_draft(by=admin, **{**SAFE_CONTENT, "label": f"A{i}"})
    few = queries()
    for i in range(20):
        qos_class = StorageQoSClass.objects.create_draft(by=admin, **{**SAFE_CONTENT, "label": f"B{i}"})
        qos_class.propose(by=admin)
        RSE.objects.create(instance=instance, name=f"RSE-{i}", planned_class=qos_class)
    assert queries() == few == 3


# --- refused documents ---------------------------------------------------------------------------------------
def _class(document: dict[str, Any], label: str) -> dict[str, Any]:
    return next(c for c in document["classes"] if c["label"] == label)


def _set(path: str, value: Any):
    """A change to the document at a dotted path: classes are named by label, list items by index."""

    def change(document: dict[str, Any]) -> None:
        *parents, last = path.split(".")
        node: Any = document
        for part in parents:
            if isinstance(node, list):
                node = node[int(part)]
            elif part in {"SAFE", "FAST", "OLD", "NO", "PLANNED"} and "classes" in document:
                node = _class(document, part)
            else:
                node = node[part]
        if isinstance(node, list):
            node[int(last)] = value
        elif value is _DELETE:
            del node[last]
        else:
            node[last] = value

    return change


_DELETE = object()


def _duplicate_class(document):
    document["classes"].append(copy.deepcopy(_class(document, "OLD")))


def _duplicate_revision_number(document):
    _class(document, "OLD")["revisions"][1]["number"] = 1


def _gap_in_revisions(document):
    del _class(document, "OLD")["revisions"][2]


def _rename_after_approval(document):
    for revision in _class(document, "OLD")["revisions"][2:]:
        revision["data"]["label"] = "OLDER"


def _duplicate_rse(document):
    document["rse_assignments"].append(dict(document["rse_assignments"][0]))


BAD_DOCUMENTS = {
    "not a catalogue": (_set("format", "something-else"), "not a QoS catalogue export"),
    "a newer version": (_set("version", 2), "version 2 is not one this portal reads"),
    "a version as text": (_set("version", "1"), "version '1' is not one this portal reads"),
    "no classes": (_set("classes", _DELETE), "the file: missing classes"),
    "an unknown top-level key": (_set("extra", 1), "unknown extra"),
    "classes not a list": (_set("classes", {"SAFE": {}}), "classes: must be a list"),
    "a class missing its history": (_set("SAFE.revisions", _DELETE), "(SAFE): missing revisions"),
    "a bad label": (
        lambda d: [_set("PLANNED.content.label", "planned")(d), _set("PLANNED.label", "planned")(d)],
        "Use 1 to 64 upper-case letters",
    ),
    "an unknown choice": (_set("SAFE.content.storage_media", "floppy"), "'floppy' is not one of disk, ssd"),
    "tape online": (_set("SAFE.content.access_latency", "online"), "Data on tape alone is nearline"),
    "erasure coding without scheme": (
        _set("NO.revisions.0.data.erasure_coding", ""),
        "erasure-coding scheme",
    ),
    "copies as text": (_set("SAFE.content.copies", "2"), "copies: must be a whole number"),
    "a bad durability": (
        _set("FAST.content.durability_target", "lots"),
        "durability_target: must be a percentage",
    ),
    "a missing content field": (_set("FAST.content.cost_tier", _DELETE), "content: missing cost_tier"),
    "an unknown status": (_set("FAST.status", "obsolete"), "'obsolete' is not one of draft"),
    "an unknown revision kind": (_set("FAST.revisions.0.kind", "born"), "'born' is not one of created"),
    "duplicate labels": (_duplicate_class, "the label OLD appears 2 times"),
    "duplicate revision numbers": (_duplicate_revision_number, "repeated: 1"),
    "a gap in the revisions": (_gap_in_revisions, "without gaps"),
    "content not the newest revision": (
        _set("OLD.content.title", "Edited by hand"),
        "differs from its newest revision",
    ),
    "status not the newest revision's": (
        _set("OLD.status", "deprecated"),
        "is not the status its newest revision",
    ),
    "a status a kind cannot leave": (
        _set("OLD.revisions.2.status", "draft"),
        "an approved revision leaves the class",
    ),
    "a pending proposal that is not the newest": (
        _set("SAFE.pending_revision", 2),
        "always the newest revision",
    ),
    "label lock not as approved": (_set("OLD.label_locked", False), "label_locked: must be true"),
    "approval time missing": (_set("OLD.approved_at", None), "approved_at: give the time"),
    "renamed after approval": (_rename_after_approval, "the label is fixed once approved"),
    "a naive timestamp": (_set("OLD.created_at", "2020-03-18T14:00:00"), "with its offset"),
    "an impossible date": (
        _set("OLD.revisions.0.created_at", "2020-02-30T14:00:00+00:00"),
        "with its offset",
    ),
    "an unknown changed field": (
        _set("OLD.revisions.0.changed_fields", ["colour"]),
        "changed_fields: must be",
    ),
    "an unknown author": (_set("OLD.revisions.0.author", "ghost"), "Authors not known to this portal: ghost"),
    "an RSE carrying an unknown class": (
        _set("rse_assignments.0.qos_class", "NOPE"),
        "'NOPE' is not a class",
    ),
    "an RSE carrying a draft": (
        _set("rse_assignments.0.qos_class", "NO"),
        "NO is draft, and an RSE carries only",
    ),
    "an RSE planned for an approved class": (
        _set("rse_assignments.2.planned_class", "SAFE"),
        "only a draft or proposed class is planned",
    ),
    "the same RSE twice": (_duplicate_rse, "the RSE CERN-EOS appears 2 times"),
}


@pytest.mark.parametrize("change", BAD_DOCUMENTS.values(), ids=BAD_DOCUMENTS.keys())
def test_bad_document_is_refused_with_a_clear_error_and_changes_nothing(exported, admin, change):
    mutate, expected = change
    document = copy.deepcopy(exported)
    mutate(document)
    with pytest.raises(CatalogueImportError) as refused:
        import_catalogue(document, by=admin)
    assert expected in refused.value.message
    assert_nothing_changed()


def test_every_problem_is_reported_at_once(exported, admin):
    _set("SAFE.content.storage_media", "floppy")(exported)
    _set("OLD.status", "deprecated")(exported)
    with pytest.raises(CatalogueImportError) as refused:
        import_catalogue(exported, by=admin)
    assert len(refused.value.errors) == 2
    assert refused.value.message.startswith("2 problems:")


def test_a_failure_while_writing_rolls_everything_back(exported, admin):
    with (
        mock.patch.object(
            catalogue_io, "_write_assignments", autospec=True, side_effect=RuntimeError("disk full")
        ),
        pytest.raises(RuntimeError),
    ):
        import_catalogue(exported, by=admin)
    assert_nothing_changed()


def test_import_into_a_non_empty_catalogue_is_refused_and_leaves_it_alone(catalogue, admin):
    document = export_catalogue()
    before = histories()
    with pytest.raises(CatalogueImportError, match=r"The catalogue is not empty .* never merged"):
        import_catalogue(document, by=admin)
    assert histories() == before


def test_missing_authors_can_be_restored_without_an_author_with_a_warning(exported, admin):
    for qos_class in exported["classes"]:
        for revision in qos_class["revisions"]:
            if revision["author"] == "bob-admin":
                revision["author"] = "ghost"
    report = import_catalogue(exported, by=admin, missing_authors="unassign")
    assert StorageQoSClass.objects.count() == 5
    assert not StorageQoSClassRevision.objects.filter(author__username="bob-admin").exists()
    assert StorageQoSClassRevision.objects.filter(author=None).count() > 0
    assert any("Revisions by ghost were restored without an author" in line for line in report.lines())


def test_unknown_rses_are_reported_and_not_created(exported, admin, instance):
    exported["rse_assignments"].append(
        {"instance": "escape-testbed", "rse": "NOWHERE", "qos_class": "SAFE", "planned_class": None}
    )
    exported["rse_assignments"][1]["instance"] = "other-rucio"
    report = import_catalogue(exported, by=admin)
    assert report.unknown_rses == [
        "other-rucio/DESY-DCACHE (this portal has it under escape-testbed)",
        "escape-testbed/NOWHERE",
    ]
    assert not RSE.objects.filter(name="NOWHERE").exists()
    assert RSE.objects.get(name="DESY-DCACHE").qos_class is None
    assert RSE.objects.get(name="CERN-EOS").qos_class.label == "SAFE"
    assert any("Skipped 2 RSEs" in line for line in report.lines())


def test_dry_run_reports_what_would_be_restored_and_writes_nothing(exported, admin):
    report = import_catalogue(exported, by=admin, mode="dry-run")
    assert not report.written
    assert report.classes == ["FAST", "NO", "OLD", "PLANNED", "SAFE"]
    assert report.assigned == {"CERN-EOS": "SAFE", "DESY-DCACHE": "FAST"}
    assert report.lines()[-1] == "Nothing was written."
    assert_nothing_changed()


@pytest.mark.parametrize("persona", ["member", "coordinator", "outsider"])
def test_only_a_qos_admin_may_restore(request, exported, persona):
    with pytest.raises(CatalogueImportError, match="may not restore the catalogue"):
        import_catalogue(exported, by=request.getfixturevalue(persona))
    assert_nothing_changed()


# --- files ---------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("raw", "file_format", "expected"),
    [
        (b"\xff\xfe{}", "json", "not UTF-8 text"),
        (b'{"format": ', "json", "not valid JSON"),
        (b'{"format": "escape-qos-catalogue", "format": "x"}', "json", "'format' appears twice"),
        (b'{"version": NaN}', "json", "NaN is not a number JSON allows"),
        (b"format: [unclosed", "yaml", "not valid YAML"),
        (b"format: a\nformat: b\n", "yaml", "'format' appears twice"),
        (b"a: &x [1, 2]\nb: [*x, *x]\n", "yaml", "aliases (&name, *name) are not allowed"),
        (b"- just\n- a list\n", "yaml", "must hold one mapping"),
        (b"!!python/object:os.system {}", "yaml", "not valid YAML"),
        # Nested deeper than Python can parse: a clear refusal, not a RecursionError.
        (b"[" * 200_000, "json", "nested too deeply to be a catalogue"),
        (b'{"a":' * 100_000, "json", "nested too deeply to be a catalogue"),
        (b"[" * 200_000, "yaml", "not valid YAML"),
    ],
)
def test_unreadable_files_are_refused_with_the_reason(raw, file_format, expected):
    with pytest.raises(CatalogueImportError) as refused:
        parse_catalogue(raw, file_format)
    assert expected in refused.value.message


def test_a_file_over_the_size_limit_is_refused_unread(tmp_path, settings, admin):
    settings.CATALOGUE_IMPORT_MAX_BYTES = 1024
    path = tmp_path / "big.json"
    path.write_text(json.dumps({"format": "escape-qos-catalogue", "padding": "x" * 2000}))
    with pytest.raises(
        CatalogueImportError, match=r"larger than the limit of 1024 bytes \(setting CATALOGUE"
    ):
        read_catalogue_file(path)
    with pytest.raises(CatalogueImportError, match="larger than the limit"):
        parse_catalogue(b" " * 1025, "json")


def test_the_format_follows_the_file_name(tmp_path, catalogue):
    for name, file_format in (("c.json", "json"), ("c.yaml", "yaml"), ("c.YML", "yaml")):
        path = tmp_path / name
        path.write_text(dump_catalogue(export_catalogue(), file_format), encoding="utf-8")
        assert read_catalogue_file(path)["format"] == "escape-qos-catalogue"
    with pytest.raises(CatalogueImportError, match=r"Cannot tell the format of 'c\.txt'"):
        read_catalogue_file("c.txt")
    with pytest.raises(CatalogueImportError, match="Cannot read"):
        read_catalogue_file(tmp_path / "missing.json")


# --- the commands --------------------------------------------------------------------------------------------
def test_export_command_writes_yaml_to_stdout_and_the_summary_to_stderr(catalogue, capsys):
    call_command("export_catalogue")
    out, err = capsys.readouterr()
    assert yaml.safe_load(out)["format"] == "escape-qos-catalogue"
    assert "Exported 5 classes with 19 revisions and 3 RSE assignments." in err


def test_export_command_writes_a_file_in_the_format_its_name_says(catalogue, tmp_path, capsys):
    path = tmp_path / "catalogue.json"
    call_command("export_catalogue", "--output", str(path))
    assert json.loads(path.read_text(encoding="utf-8"))["classes"][0]["label"] == "FAST"
    assert f"to {path}." in capsys.readouterr().out
    with pytest.raises(CommandError, match="--format yaml does not match the file name"):
        call_command("export_catalogue", "--output", str(path), "--format", "yaml")
    call_command("export_catalogue", "--output", str(tmp_path / "catalogue.txt"), "--format", "json")
    assert json.loads((tmp_path / "catalogue.txt").read_text())["version"] == 1
    with pytest.raises(CommandError, match="Cannot tell the format"):
        call_command("export_catalogue", "--output", str(tmp_path / "catalogue.txt"))
    with pytest.raises(CommandError, match="Cannot write"):
        call_command("export_catalogue", "--output", str(tmp_path / "no-such-dir" / "c.json"))


def test_import_command_restores_and_says_what_follows(catalogue, admin, tmp_path, capsys):
    path = tmp_path / "catalogue.yaml"
    call_command("export_catalogue", "--output", str(path))
    empty_the_catalogue()
    capsys.readouterr()
    call_command("import_catalogue", str(path), "--as", admin.username)
    out = capsys.readouterr().out
    assert "Restored 5 classes with 19 revisions: FAST, NO, OLD, PLANNED, SAFE." in out
    assert "RSE assignments: 2 RSEs carry a class, 1 have one planned." in out
    assert "Nothing was pushed to Rucio. Run `manage.py sync_rucio`" in out
    assert StorageQoSClass.objects.count() == 5


def test_import_command_dry_run_and_standard_input(exported, admin, monkeypatch, capsys):
    import io

    stdin = io.TextIOWrapper(io.BytesIO(json.dumps(exported).encode()))
    monkeypatch.setattr("sys.stdin", stdin)
    call_command("import_catalogue", "-", "--format", "json", "--as", admin.username, "--dry-run")
    assert "Dry run: the file would restore 5 classes" in capsys.readouterr().out
    assert_nothing_changed()
    with pytest.raises(CommandError, match="say which format with --format"):
        call_command("import_catalogue", "-", "--as", admin.username)


def test_import_command_refuses_a_bad_file_and_changes_nothing(exported, admin, tmp_path):
    _set("SAFE.content.storage_media", "floppy")(exported)
    path = tmp_path / "catalogue.json"
    path.write_text(json.dumps(exported), encoding="utf-8")
    with pytest.raises(CommandError) as refused:
        call_command("import_catalogue", str(path), "--as", admin.username)
    assert str(refused.value).startswith(f"{path}: refused, nothing was changed.")
    assert "'floppy' is not one of disk, ssd, tape, disk+tape" in str(refused.value)
    assert_nothing_changed()


def manage(database, *args: str) -> subprocess.CompletedProcess:
    """Run manage.py as an operator would, in its own process, on its own SQLite database."""
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "tests.settings", "DATABASE_URL": f"sqlite:///{database}"}
    return subprocess.run(
        [sys.executable, "manage.py", *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )


# What `sync_rucio` and the first IAM logins give a fresh portal: its RSEs and the authors' accounts.
FRESH_PORTAL = """
from django.contrib.auth.models import Group, User
from django.core.management import call_command
call_command("migrate", verbosity=0)
from qos.models import RSE, RucioInstance
for name in ("alice-admin", "bob-admin"):
    User.objects.create_user(name).groups.add(Group.objects.get(name="qos-admin"))
instance = RucioInstance.objects.create(name="escape-testbed", host="https://rucio.escape.invalid")
for name in ("CERN-EOS", "DESY-DCACHE", "PIC-DCACHE"):
    RSE.objects.create(instance=instance, name=name)
"""


def test_commands_restore_the_catalogue_into_a_fresh_portal_with_exit_codes(catalogue, tmp_path):
    path = tmp_path / "catalogue.yaml"
    call_command("export_catalogue", "--output", str(path))
    original = yaml.safe_load(path.read_text(encoding="utf-8"))
    database = tmp_path / "fresh.sqlite3"
    fresh = manage(database, "shell", "-c", FRESH_PORTAL)
    assert fresh.returncode == 0, fresh.stderr

    restored = manage(database, "import_catalogue", str(path), "--as", "alice-admin")
    assert restored.returncode == 0, restored.stderr
    assert "Restored 5 classes with 19 revisions" in restored.stdout

    again = manage(database, "import_catalogue", str(path), "--as", "alice-admin")
    assert again.returncode == 1
    assert "CommandError: " in again.stderr
    assert "refused, nothing was changed. The catalogue is not empty" in again.stderr

    exported = manage(database, "export_catalogue", "--format", "json")
    assert exported.returncode == 0
    assert without_timestamp(json.loads(exported.stdout)) == without_timestamp(original)


def test_import_command_needs_a_known_user_and_refuses_missing_authors_unless_asked(
    exported, admin, tmp_path
):
    _set("OLD.revisions.0.author", "ghost")(exported)
    path = tmp_path / "catalogue.json"
    path.write_text(json.dumps(exported), encoding="utf-8")
    with pytest.raises(CommandError, match="No user named 'nobody'"):
        call_command("import_catalogue", str(path), "--as", "nobody")
    with pytest.raises(CommandError, match="Authors not known to this portal: ghost"):
        call_command("import_catalogue", str(path), "--as", admin.username)
    assert_nothing_changed()
    call_command("import_catalogue", str(path), "--as", admin.username, "--allow-missing-authors")
    assert StorageQoSClass.objects.get(label="OLD").revisions.get(number=1).author is None


# --- the API -------------------------------------------------------------------------------------------------
EXPORT_URL = "/api/v1/qos-classes/export/"


@pytest.mark.parametrize("persona", ["member", "coordinator", "liaison_cta", "admin"])
def test_every_role_downloads_the_export_it_can_read_anyway(request, api_for, catalogue, persona):
    response = api_for(request.getfixturevalue(persona)).get(EXPORT_URL)
    assert response.status_code == 200
    assert response["Content-Type"] == "application/json"
    assert response["Content-Disposition"].startswith('attachment; filename="qos-catalogue-')
    assert without_timestamp(response.json()) == without_timestamp(export_catalogue())


def test_export_download_is_forbidden_without_a_role(api_for, outsider, catalogue):
    assert api_for(outsider).get(EXPORT_URL).status_code == 403
    assert APIClient().get(EXPORT_URL).status_code in (401, 403)


def test_downloaded_export_restores(api_for, member, admin, catalogue):
    before = histories()
    raw = api_for(member).get(EXPORT_URL).content
    empty_the_catalogue()
    import_catalogue(parse_catalogue(raw, "json"), by=admin)
    assert histories() == before
