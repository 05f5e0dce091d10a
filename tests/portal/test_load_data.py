"""The generator of a large portal for benchmarks (portal/load_data.py, ``manage.py generate_load_data``),
at a small scale: the counts asked for, data that keeps the models' rules, the same portal for the same seed,
an occupied database left alone, and pages that render with it."""

from __future__ import annotations

import io
import re

import pytest
from django.contrib.auth import get_user_model
from django.core.management import CommandError, call_command
from django.db.models import Count, Max

from engagement.choices import RequirementStatus
from engagement.coverage import count_at_risk
from engagement.matching import ApprovedClasses, match
from engagement.models import ClassLink, Requirement
from meetings.choices import OPEN_ACTION_STATUSES
from meetings.models import Action, Meeting
from portal.load_data import Sizes
from qos.choices import ClassStatus, RevisionKind
from qos.models import RSE, StorageQoSClass, StorageQoSClassRevision

pytestmark = pytest.mark.django_db

SCALE = 0.01


def generate(*args: str) -> str:
    out = io.StringIO()
    call_command("generate_load_data", "--scale", str(SCALE), "--seed", "1", *args, stdout=out)
    return out.getvalue()


@pytest.fixture
def portal(db):
    generate()


def test_it_writes_the_sizes_asked_for(portal):
    sizes = Sizes.at(SCALE)
    assert StorageQoSClass.objects.count() == sizes.classes == 100
    assert RSE.objects.count() == sizes.rses == 10
    assert Requirement.objects.count() == sizes.requirements == 50
    assert Meeting.objects.count() == sizes.meetings == 20
    assert Action.objects.count() == sizes.actions == 200
    assert StorageQoSClassRevision.objects.count() > 3 * sizes.classes
    # Every status of each lifecycle is there, and some actions are overdue.
    assert set(StorageQoSClass.objects.values_list("status", flat=True)) == set(ClassStatus.values)
    assert Action.objects.overdue().exists()
    assert Action.objects.open().exclude(pk__in=Action.objects.overdue()).exists()


def test_every_class_keeps_the_catalogue_rules(portal):
    for qos_class in StorageQoSClass.objects.select_related("pending_revision"):
        qos_class.full_clean()
        revisions = list(qos_class.revisions.order_by("number"))
        assert [r.number for r in revisions] == list(range(1, qos_class.revision + 1))
        assert revisions[-1].status == (
            ClassStatus.PROPOSED if qos_class.pending_revision_id else qos_class.status
        )
        assert qos_class.label_locked == any(r.kind == RevisionKind.APPROVED for r in revisions)
        if qos_class.pending_revision_id:
            assert qos_class.status == ClassStatus.APPROVED
            assert qos_class.pending_revision == revisions[-1]
            assert qos_class.pending_changes()  # the proposal differs from the content in force
        else:
            assert revisions[-1].data == qos_class.content()
        # Four eyes: nobody approves what they wrote since the last approval.
        authors: set[int] = set()
        for revision in revisions:
            if revision.kind == RevisionKind.APPROVED:
                assert revision.author_id not in authors
                authors = set()
            elif revision.kind in (RevisionKind.CREATED, RevisionKind.EDITED, RevisionKind.PROPOSED):
                authors.add(revision.author_id)


def test_every_rse_is_in_the_state_its_pushes_and_rucio_value_say(portal):
    rses = list(RSE.objects.with_related())
    assert {rse.sync_state for rse in rses} >= {"in_sync", "pending"}
    for rse in rses:
        assert rse.sync_state == rse.compute_sync_state(), rse.name
        if rse.qos_class_id:
            assert rse.qos_class.status in (ClassStatus.APPROVED, ClassStatus.DEPRECATED)


def test_requirements_and_actions_keep_their_rules(portal):
    for requirement in Requirement.objects.prefetch_related("events", "links__qos_class"):
        requirement.full_clean(exclude=["needed_by"])  # a date set long ago may have passed since
        assert requirement.filed_by in requirement.experiment.liaisons.all()
        latest = max(requirement.events.all(), key=lambda event: (event.created_at, event.pk))
        assert latest.to_status == requirement.status
        if requirement.status == RequirementStatus.SATISFIED:
            assert any(link.qos_class.status == ClassStatus.APPROVED for link in requirement.links.all())
    assert not ClassLink.objects.exclude(qos_class__status=ClassStatus.APPROVED).exists()
    assert not Action.objects.filter(owners=None).exists()
    assert not Action.objects.filter(status__in=OPEN_ACTION_STATUSES, closed_at__isnull=False).exists()
    assert not Action.objects.exclude(status__in=OPEN_ACTION_STATUSES).filter(closed_at__isnull=True).exists()


def test_the_same_seed_gives_the_same_portal(portal):
    generate("--force")  # the second run's names start with LG2 instead of LG

    def shape(prefix: str) -> list[tuple]:
        rows = StorageQoSClass.objects.filter(label__startswith=f"{prefix}-").order_by("pk")
        rows = rows.annotate(steps=Count("revisions"), last=Max("revisions__number"))
        return [
            (
                re.sub(r"^LG2?-", "", c.label),
                c.status,
                c.storage_media,
                c.steps,
                c.last,
                c.pending_revision_id is None,
            )
            for c in rows
        ]

    first, second = shape("LG"), shape("LG2")
    assert len(first) == 100
    assert first == second


def test_it_refuses_a_database_that_holds_a_portal_and_changes_nothing(portal):
    users = get_user_model().objects.count()
    with pytest.raises(CommandError, match="already holds portal data"):
        generate()
    assert StorageQoSClass.objects.count() == 100
    assert get_user_model().objects.count() == users


def test_its_fast_verdicts_agree_with_the_sql_on_the_generated_portal(portal):
    classes = ApprovedClasses.load()
    assert set(classes.gap_ids(Requirement.objects.all())) == set(
        Requirement.objects.gaps().values_list("pk", flat=True)
    )
    assert count_at_risk() == Requirement.objects.coverage_at_risk().count()
    approved = list(StorageQoSClass.objects.approved())
    for requirement in Requirement.objects.all():
        assert classes.fitting_labels(requirement) == sorted(
            c.label for c in approved if match(requirement, c).fits
        )


@pytest.mark.parametrize(
    "url",
    [
        "/",
        "/qos/",
        "/qos/rses/",
        "/actions/",
        "/requirements/",
        "/requirements/gaps/",
        "/meetings/",
        "/api/v1/qos-classes/",
        "/api/v1/rses/",
        "/api/v1/requirements/",
        "/api/v1/actions/",
    ],
)
def test_the_pages_render_with_it(portal, client, url):
    admin = get_user_model().objects.get(username="lg-admin-001")
    client.force_login(admin)
    response = client.get(url)
    assert response.status_code == 200
    assert b"LG-" in response.content or b"Load-test series" in response.content  # generated names
