"""Moving stream coordination's models from ``portal`` to ``meetings`` keeps every row of a deployment.

A database is built by the code of main just before the move (its own migrations and ``loaddemo``, run from a
``git archive`` of that commit), given what the demo lacks (a file attachment, a link, admin history, a user
with a permission of their own), and then migrated by this code. Every row of the moved tables must be there
unchanged; the content types follow to ``meetings`` and with them the roles' permissions and admin history.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tarfile
import uuid
from pathlib import Path

import pytest
from django.conf import settings

ROOT = Path(__file__).resolve().parents[2]
# main before the move (commit "bench/pages.py: use bench/push.py's log, ..."): the old schema.
BEFORE_THE_MOVE = "7db7cbd4b67288b493cb6eca7a6f868b3c4fad42"

MOVED_TABLES = [
    "portal_person",
    "portal_stream",
    "portal_stream_leads",
    "portal_meetingseries",
    "portal_meeting",
    "portal_meeting_attendees",
    "portal_timetableitem",
    "portal_minutessection",
    "portal_meetingattachment",
    "portal_action",
    "portal_action_owners",
    "portal_actionupdate",
    "portal_actionreview",
]
MOVED_MODELS = sorted({"person", "stream", "meetingseries", "meeting", "timetableitem", "minutessection"} | {
    "meetingattachment", "action", "actionupdate", "actionreview"})  # fmt: skip

# Run by the old code after loaddemo: what a deployment has that the demo does not.
ADD_TO_OLD = """
from django.contrib.admin.models import CHANGE, LogEntry
from django.contrib.auth.models import Permission, User
from django.contrib.contenttypes.models import ContentType
from portal.models import Action, ActionUpdate, Meeting, MeetingAttachment

meeting = Meeting.objects.order_by("pk").first()
admin = User.objects.get(username="admin")
MeetingAttachment.objects.create(meeting=meeting, title="Slides", file_name="slides.pdf",
    content_type="application/pdf", size=9, data=b"%PDF-1.4\\n", added_by=admin)
MeetingAttachment.objects.create(meeting=meeting, title="Indico", url="https://indico.cern.ch/event/1/")
LogEntry.objects.log_actions(admin.pk, [meeting], CHANGE, change_message="Renamed", single_object=True)
ActionUpdate.objects.create(action=Action.objects.order_by("pk").first(), author=admin, meeting=meeting,
    text="Asked the site", old_status="open", new_status="in_progress", changes={"due_date": ["a", "b"]})
helper = User.objects.create_user("helper")
helper.user_permissions.add(Permission.objects.get(content_type__app_label="portal", codename="change_action"))
"""

# Run by the old code and by the new one: the moved tables, row by row, and who holds which permission.
SNAPSHOT = """
import json
from django.db import connection

tables = json.loads(TABLES)
snapshot = {}
with connection.cursor() as cursor:
    for table in tables:
        cursor.execute("SELECT * FROM " + table + " ORDER BY id")
        snapshot[table] = [[repr(bytes(v)) if isinstance(v, memoryview) else str(v) for v in row]
                           for row in cursor.fetchall()]
    cursor.execute(
        "SELECT g.name, p.id, p.codename, ct.app_label, ct.model FROM auth_group g"
        " JOIN auth_group_permissions gp ON gp.group_id = g.id JOIN auth_permission p ON p.id = gp.permission_id"
        " JOIN django_content_type ct ON ct.id = p.content_type_id ORDER BY g.name, p.codename, ct.model")
    snapshot["group_permissions"] = [list(row) for row in cursor.fetchall()]
    cursor.execute(
        "SELECT u.username, p.id, p.codename, ct.app_label FROM auth_user u"
        " JOIN auth_user_user_permissions up ON up.user_id = u.id JOIN auth_permission p ON p.id = up.permission_id"
        " JOIN django_content_type ct ON ct.id = p.content_type_id ORDER BY u.username, p.codename")
    snapshot["user_permissions"] = [list(row) for row in cursor.fetchall()]
    cursor.execute("SELECT id, app_label, model FROM django_content_type ORDER BY id")
    snapshot["content_types"] = [list(row) for row in cursor.fetchall()]
    cursor.execute("SELECT object_id, content_type_id, change_message FROM django_admin_log ORDER BY id")
    snapshot["admin_log"] = [list(row) for row in cursor.fetchall()]
print("SNAPSHOT" + json.dumps(snapshot))
""".replace("TABLES", repr(json.dumps(MOVED_TABLES)))

# Run by the new code after migrating: the models, their permissions and the roles, through the ORM.
CHECK_NEW = """
import json
from django.contrib.admin.models import LogEntry
from django.contrib.auth.models import User
from django.contrib.contenttypes.models import ContentType
from meetings.models import Action, Meeting, MeetingAttachment, MinutesSection, Person

coordinator = User.objects.get(username="coordinator")
attachment = MeetingAttachment.objects.exclude(data=None).get()
entry = LogEntry.objects.get()
print("CHECK" + json.dumps({
    "meeting_label": ContentType.objects.get_for_model(Meeting).app_label,
    "meetings": Meeting.objects.count(),
    "actions": Action.objects.count(),
    "open_actions": Action.objects.open().count(),
    "sections": MinutesSection.objects.count(),
    "people": Person.objects.count(),
    "attachment_bytes": bytes(attachment.data).decode(),
    "admin_log_object": str(entry.get_edited_object()),
    "admin_log_meeting": str(Meeting.objects.order_by("pk").first()),
    "coordinator_may_change_meetings": coordinator.has_perm("meetings.change_meeting"),
    "coordinator_may_add_actions": coordinator.has_perm("meetings.add_action"),
    "helper_may_change_actions": User.objects.get(username="helper").has_perm("meetings.change_action"),
    "portal_content_types": sorted(ContentType.objects.filter(app_label="portal").values_list("model", flat=True)),
}))
"""


def _database_url(name: str) -> str:
    db = settings.DATABASES["default"]
    user = db.get("USER") or ""
    password = f":{db['PASSWORD']}" if db.get("PASSWORD") else ""
    return f"postgres://{user}{password}@{db.get('HOST') or '127.0.0.1'}:{db.get('PORT') or 5432}/{name}"


def _admin_execute(statement: str) -> None:
    import psycopg

    db = settings.DATABASES["default"]
    with psycopg.connect(
        host=db.get("HOST") or "127.0.0.1",
        port=db.get("PORT") or 5432,
        user=db.get("USER") or None,
        password=db.get("PASSWORD") or None,
        dbname="postgres",
        autocommit=True,
    ) as connection:
        connection.execute(statement)


@pytest.fixture
def empty_database(tmp_path):
    """A new, empty database of this test's own, dropped afterwards: on the test's PostgreSQL server (what
    production runs, and CI), or a SQLite file when the suite runs on SQLite."""
    if settings.DATABASES["default"]["ENGINE"] != "django.db.backends.postgresql":
        yield f"sqlite:///{tmp_path / 'before-the-move.sqlite3'}"
        return
    name = f"qos_premove_{os.getpid()}_{uuid.uuid4().hex[:8]}"
    _admin_execute(f'CREATE DATABASE "{name}"')
    yield _database_url(name)
    _admin_execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def code_before_the_move(tmp_path) -> Path:
    """The project's files at main just before the move, from git (a clone has the history)."""
    archive = tmp_path / "before.tar"
    result = subprocess.run(
        ["git", "archive", "--format=tar", "-o", str(archive), BEFORE_THE_MOVE],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, f"git archive {BEFORE_THE_MOVE} failed (a shallow clone?): {result.stderr}"
    tree = tmp_path / "before"
    with tarfile.open(archive) as tar:
        tar.extractall(tree, filter="data")
    return tree


def _manage(tree: Path, database_url: str, *args: str) -> str:
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("DJANGO_", "DATABASE_", "CELERY_", "RUCIO_", "OIDC_", "PYTHON"))
    }
    env.update(
        DJANGO_SETTINGS_MODULE="portal.settings",
        DATABASE_URL=database_url,
        SECRET_KEY="migration-test-only-key-not-a-secret",
        DEBUG="1",
        CELERY_TASK_ALWAYS_EAGER="1",
    )
    result = subprocess.run(
        [sys.executable, "manage.py", *args], cwd=tree, env=env, capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, (
        f"manage.py {' '.join(args[:2])} in {tree}:\n{result.stdout}\n{result.stderr}"
    )
    return result.stdout


def _snapshot(tree: Path, database_url: str) -> dict:
    out = _manage(tree, database_url, "shell", "-c", SNAPSHOT)
    return json.loads(out.split("SNAPSHOT", 1)[1])


def test_moving_the_meetings_models_keeps_every_row_permission_and_role(empty_database, code_before_the_move):
    old = code_before_the_move
    _manage(old, empty_database, "migrate", "--no-input", "-v0")
    _manage(old, empty_database, "loaddemo")
    _manage(old, empty_database, "shell", "-c", ADD_TO_OLD)
    before = _snapshot(old, empty_database)
    assert [table for table in MOVED_TABLES if not before[table]] == [], "every moved table has rows"

    _manage(ROOT, empty_database, "migrate", "--no-input", "-v0")
    after = _snapshot(ROOT, empty_database)

    # Every row of every moved table, unchanged; people gain a calendar secret (meetings 0002), each their own,
    # and an empty e-mail address (meetings 0004): the last two columns.
    added = [(row.pop(-2), row.pop()) for row in after["portal_person"]]
    secrets = [secret for secret, _ in added]
    assert len(set(secrets)) == len(secrets) == len(before["portal_person"])
    assert all(len(secret) == 32 for secret in secrets)
    assert {email for _, email in added} == {""}
    for table in MOVED_TABLES:
        assert after[table] == before[table], table
    # The same content type rows (same ids), relabelled; nothing else touched.
    relabelled = [
        [pk, "meetings" if label == "portal" and model in MOVED_MODELS else label, model]
        for pk, label, model in before["content_types"]
    ]
    assert [row for row in after["content_types"] if row[0] in {r[0] for r in relabelled}] == relabelled
    # The roles hold exactly the permissions on the moved models they held (same ids), now under the meetings
    # label. (Other permissions follow the roles' definitions of today, which may have changed since.)
    expected_roles = [
        [group, pk, codename, "meetings", model]
        for group, pk, codename, label, model in before["group_permissions"]
        if label == "portal" and model in MOVED_MODELS
    ]
    assert expected_roles
    assert [row for row in after["group_permissions"] if row[4] in MOVED_MODELS] == expected_roles
    assert any(row[3] == "meetings" for row in after["group_permissions"])
    assert after["user_permissions"] == [
        ["helper", before["user_permissions"][0][1], "change_action", "meetings"]
    ]
    assert after["admin_log"] == before["admin_log"]

    check = json.loads(_manage(ROOT, empty_database, "shell", "-c", CHECK_NEW).split("CHECK", 1)[1])
    assert check["meeting_label"] == "meetings"
    assert check["meetings"] == len(before["portal_meeting"])
    assert check["actions"] == len(before["portal_action"])
    assert check["open_actions"] > 0
    assert check["sections"] == len(before["portal_minutessection"])
    assert check["people"] == len(before["portal_person"])
    assert check["attachment_bytes"] == "%PDF-1.4\n"
    assert check["admin_log_object"] == check["admin_log_meeting"]
    assert check["coordinator_may_change_meetings"] and check["coordinator_may_add_actions"]
    assert check["helper_may_change_actions"]
    assert check["portal_content_types"] == []

    # And back: the move can be undone (the state is moved back; the tables never moved).
    _manage(ROOT, empty_database, "migrate", "meetings", "zero", "--no-input", "-v0")
    undone = _snapshot(ROOT, empty_database)
    for table in MOVED_TABLES:
        assert undone[table] == before[table], table
