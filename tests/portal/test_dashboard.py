"""The dashboard: each role's part, ordered by what that person must do next, and a constant number of queries."""

import datetime
import re

import pytest
from django.contrib.auth.models import Group
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from engagement.models import Requirement
from meetings.models import Action, Person
from portal.choices import Role
from qos.models import RSE, RucioInstance, StorageQoSClass
from tests.conftest import SAFE_CONTENT
from tests.engagement.conftest import ARCHIVE_NEEDS, GAP_NEEDS
from tests.meetings.meeting_factories import make_meeting, make_series, person_for, raise_action

pytestmark = pytest.mark.django_db


def sections(page: str) -> list[str]:
    """The headings of the page's parts, in order (the summary aside)."""
    return re.findall(r'<h2 id="([a-z-]+)-heading"', page)[1:]


def part(page: str, name: str) -> str:
    return page.split(f'id="{name}-heading"')[1].split("<h2 ")[0]


def test_the_summary_comes_first_then_the_roles_parts(client_for, member):
    page = client_for(member).get("/").content.decode()
    assert re.findall(r'<h2 id="([a-z-]+)-heading"', page)[0] == "summary"
    assert sections(page) == ["my-actions"]


def test_a_qos_admin_first_sees_what_awaits_their_approval_not_what_they_wrote(client_for, admin, admin2):
    mine = StorageQoSClass.objects.create_draft(by=admin, **SAFE_CONTENT)
    mine.propose(by=admin)
    theirs = StorageQoSClass.objects.create_draft(by=admin2, **{**SAFE_CONTENT, "label": "FAST"})
    theirs.propose(by=admin2)
    page = client_for(admin).get("/").content.decode()
    assert sections(page) == ["awaiting", "failed", "drifted", "conformance", "gaps", "my-actions"]
    awaiting = part(page, "awaiting")
    assert "/qos/FAST/" in awaiting and "/qos/SAFE/" not in awaiting
    assert "1</span> class awaits your approval" in page
    other = part(client_for(admin2).get("/").content.decode(), "awaiting")
    assert "/qos/SAFE/" in other and "/qos/FAST/" not in other


def test_an_author_of_part_of_a_change_may_not_approve_it(client_for, admin, admin2, approved_class):
    approved_class.edit(by=admin2, changes={"copies": 3}, base_revision=approved_class.revision)
    # admin wrote the class once, but the change awaiting approval is admin2's alone.
    assert "/qos/SAFE/" in part(client_for(admin).get("/").content.decode(), "awaiting")
    page = client_for(admin2).get("/").content.decode()
    assert "Nothing awaits your approval: what awaits was written by you" in part(page, "awaiting")


def test_a_qos_admin_sees_failed_pushes_and_drift(client_for, admin):
    instance = RucioInstance.objects.create(name="escape", host="https://rucio.escape.invalid")
    RSE.objects.create(instance=instance, name="BROKEN", sync_state="failed")
    RSE.objects.create(instance=instance, name="ELSEWHERE", sync_state="drifted")
    page = client_for(admin).get("/").content.decode()
    assert "/qos/rses/BROKEN/" in part(page, "failed") and "ELSEWHERE" not in part(page, "failed")
    assert "/qos/rses/ELSEWHERE/" in part(page, "drifted")


def test_a_liaison_first_sees_their_experiments_requirements(client_for, liaison_cta, experiments):
    archive = Requirement.objects.file(by=liaison_cta, experiment=experiments["CTA"], **ARCHIVE_NEEDS)
    gap = Requirement.objects.file(by=liaison_cta, experiment=experiments["CTA"], **GAP_NEEDS)
    Requirement.objects.create(experiment=experiments["SKA"], **{**ARCHIVE_NEEDS, "title": "SKA data"})
    page = client_for(liaison_cta).get("/").content.decode()
    assert sections(page) == ["my-requirements", "my-actions"]
    requirements = part(page, "my-requirements")
    assert archive.get_absolute_url() in requirements and gap.get_absolute_url() in requirements
    assert "SKA data" not in requirements
    assert ">gap</span>" in requirements and "Filed" in requirements
    assert "2</span> active requirements of your experiments" in page


def test_a_coordinator_first_sees_the_next_meeting_then_overdue_actions(client_for, coordinator):
    someone = person_for(coordinator)
    today = timezone.localdate()
    past = make_meeting(make_series(), timezone.now() - datetime.timedelta(days=14), title="Last time")
    raise_action(past, [someone], "Late already", due_date=today - datetime.timedelta(days=3))
    raise_action(past, [someone], "Due at the next one", due_date=today + datetime.timedelta(days=2))
    raise_action(past, [someone], "Due much later", due_date=today + datetime.timedelta(days=60))
    make_meeting(past.series, timezone.now() + datetime.timedelta(days=3), title="Next time")
    page = client_for(coordinator).get("/").content.decode()
    assert sections(page) == ["next-meeting", "overdue", "my-actions"]
    upcoming = part(page, "next-meeting")
    assert "Next time" in upcoming and "News" in upcoming  # the agenda
    assert "Due at the next one" in upcoming and "Due much later" not in upcoming
    overdue = part(page, "overdue")
    assert "Late already" in overdue and "Due at the next one" not in overdue


def test_a_member_sees_their_own_actions(client_for, member, coordinator):
    meeting = make_meeting(make_series(), timezone.now(), title="Now")
    raise_action(meeting, [person_for(member)], "Mine")
    raise_action(meeting, [person_for(coordinator)], "Not mine", due_date=datetime.date(2020, 1, 1))
    page = client_for(member).get("/").content.decode()
    assert sections(page) == ["my-actions"]
    assert "Mine" in part(page, "my-actions") and "Not mine" not in page


def test_someone_with_two_roles_sees_each_part_in_order(client_for, liaison_cta, experiments):
    liaison_cta.groups.add(Group.objects.get(name=Role.QOS_ADMIN))
    page = client_for(liaison_cta).get("/").content.decode()
    assert sections(page) == [
        "awaiting",
        "failed",
        "drifted",
        "conformance",
        "gaps",
        "my-requirements",
        "my-actions",
    ]
    summary = part(page, "summary")
    assert summary.index("await your approval") < summary.index("of your experiments")
    assert summary.index("of your experiments") < summary.index("open actions of mine")


def make_rows(count: int, admin, admin2, liaison, experiment, coordinator) -> None:
    """``count`` of everything a dashboard lists, for each role."""
    for i in range(count):
        author = admin2 if i % 2 else admin
        qos_class = StorageQoSClass.objects.create_draft(
            by=author, **{**SAFE_CONTENT, "label": f"C{count}-{i:03d}"}
        )
        qos_class.propose(by=author)
    instance, _ = RucioInstance.objects.get_or_create(name="escape", host="https://rucio.escape.invalid")
    RSE.objects.bulk_create(
        RSE(instance=instance, name=f"R{count}-{i:03d}", sync_state="failed" if i % 2 else "drifted")
        for i in range(count)
    )
    for i in range(count):
        Requirement.objects.file(by=liaison, experiment=experiment, **{**GAP_NEEDS, "title": f"Need {i}"})
    series = make_series(slug=f"s{count}")
    meeting = make_meeting(series, timezone.now() - datetime.timedelta(days=1))
    make_meeting(series, timezone.now() + datetime.timedelta(days=7))
    owners = [
        Person.objects.get_or_create(user=user, defaults={"name": user.username})[0]
        for user in (admin, liaison, coordinator)
    ]
    for i in range(count):
        Action.objects.create_action(
            by=None, text=f"Action {i}", owners=owners, raised_at=meeting, due_date=datetime.date(2020, 1, 1)
        )


def count_queries(client) -> int:
    client.get("/")  # warm up: the first request of a client also loads the user's permissions
    with CaptureQueriesContext(connection) as queries:
        assert client.get("/").status_code == 200
    return len(queries)


def test_the_dashboard_issues_the_same_queries_for_5_or_50_rows(
    client_for, admin, admin2, liaison_cta, coordinator, experiments, django_user_model
):
    liaison_cta.groups.add(Group.objects.get(name=Role.QOS_ADMIN), Group.objects.get(name=Role.COORDINATOR))
    client = client_for(liaison_cta)
    make_rows(5, admin, admin2, liaison_cta, experiments["CTA"], coordinator)
    few = count_queries(client)
    Action.objects.all().delete()
    Requirement.objects.all().delete()
    make_rows(50, admin, admin2, liaison_cta, experiments["CTA"], coordinator)
    assert count_queries(client) == few
