from typing import Any

from django.contrib.auth.decorators import login_not_required, permission_required
from django.db import DatabaseError, connection
from django.db.models import Exists, F, OuterRef, QuerySet, Subquery
from django.db.models.functions import Coalesce
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.cache import never_cache

from common.page_cache import page_cache
from common.table_cache import Lazy
from engagement.coverage import count_at_risk, requirement_rows
from engagement.matching import ApprovedClasses
from engagement.models import Requirement
from meetings.models import Action, Meeting
from qos.choices import FAILING_VERDICTS, RevisionKind, SyncState
from qos.models import RSE, StorageQoSClass, StorageQoSClassRevision

from .choices import Role

# The parts of the dashboard, in the order they show: what blocks others first (a proposal waits for a second
# admin), then an experiment's needs, then the meetings, then one's own actions, which every role has.
DASHBOARD_PARTS = (Role.QOS_ADMIN, Role.LIAISON, Role.COORDINATOR, Role.MEMBER)


def dashboard_parts(user: Any) -> list[str]:
    """The roles whose part of the dashboard ``user`` sees, in the order the page shows them. A user's roles
    are their groups; everyone who reads the portal sees their own actions (the member's part)."""
    roles = set(user.groups.values_list("name", flat=True))
    return [role for role in DASHBOARD_PARTS if role in roles or role == Role.MEMBER]


def awaiting_approval_by(user: Any) -> QuerySet[StorageQoSClass]:
    """Classes awaiting approval that ``user`` may approve: none of whose proposal they wrote (the four-eyes
    rule of ``StorageQoSClass.proposal_authors``, for every class in one query)."""
    last_approval = (
        StorageQoSClassRevision.objects.filter(qos_class=OuterRef("pk"), kind=RevisionKind.APPROVED)
        .order_by("-number")
        .values("number")[:1]
    )
    wrote = StorageQoSClassRevision.objects.filter(
        qos_class=OuterRef("pk"),
        number__gt=OuterRef("last_approval"),
        kind__in=[RevisionKind.CREATED, RevisionKind.EDITED, RevisionKind.PROPOSED],
        author=user,
    )
    return (
        StorageQoSClass.objects.awaiting_approval()
        .annotate(last_approval=Coalesce(Subquery(last_approval), 0))
        .exclude(Exists(wrote))
    )


# The liaison's part lists this many requirements; their experiments' page has them all.
LIAISON_ROWS = 50


def liaison_rows(user: Any, approved: ApprovedClasses) -> list[dict[str, Any]]:
    """The active requirements of the experiments ``user`` is a liaison of, soonest needed first, as the
    requirement lists show them (gap, coverage of the linked classes; a constant number of queries), held
    against ``approved`` (the page's one index of the approved classes)."""
    requirements = (
        Requirement.objects.active()
        .filter(experiment__liaisons=user)
        .for_lists()
        .order_by(F("needed_by").asc(nulls_last=True), "created_at")[:LIAISON_ROWS]
    )
    return requirement_rows(requirements, approved)


def next_meeting() -> dict[str, Any] | None:
    """The next meeting, its agenda (the timetable's top items) and the open actions due by its day."""
    meeting = Meeting.objects.upcoming().select_related("series").first()
    if meeting is None:
        return None
    day = timezone.localtime(meeting.starts_at).date()
    return {
        "meeting": meeting,
        "agenda": list(meeting.timetable_items.filter(parent=None)),
        "actions_due": list(Action.objects.open().filter(due_date__lte=day).with_related()[:50]),
    }


def rses_not_delivering() -> QuerySet[RSE]:
    """RSEs whose probes say they do not deliver their class (violating or unreachable), by name."""
    return (
        RSE.objects.filter(conformance__verdict__in=FAILING_VERDICTS)
        .select_related("instance", "qos_class", "conformance")
        .order_by("name")
    )


def rses_in_state(state: str) -> QuerySet[RSE]:
    """The first RSEs (by name) in a sync state, for a list on the dashboard."""
    return RSE.objects.filter(sync_state=state).select_related("instance", "qos_class").order_by("name")[:10]


def summary(parts: list[str], counts: dict[str, Any]) -> list[dict[str, Any]]:
    """The dashboard's counters, one line each: those of the viewer's parts first, in the parts' order, then
    the rest of the portal's. ``counts``: the lazy counts by name."""
    lines = [
        (
            Role.QOS_ADMIN,
            "awaiting_my_approval_count",
            "class awaits your approval",
            "classes await your approval",
            reverse("qos:class-list") + "?awaiting_approval=true",
        ),
        (
            Role.QOS_ADMIN,
            "failed",
            "RSE whose push failed",
            "RSEs whose push failed",
            reverse("qos:rse-list") + "?sync_state=failed",
        ),
        (
            Role.QOS_ADMIN,
            "drifted",
            "drifted RSE (Rucio differs)",
            "drifted RSEs (Rucio differs)",
            reverse("qos:rse-list") + "?sync_state=drifted",
        ),
        (
            Role.QOS_ADMIN,
            "gap_count",
            "requirement without a class",
            "requirements without a class",
            reverse("engagement:requirement-gaps"),
        ),
        (
            Role.QOS_ADMIN,
            "coverage_at_risk_count",
            "accepted requirement short of RSEs in sync or of space",
            "accepted requirements short of RSEs in sync or of space",
            reverse("engagement:requirement-coverage"),
        ),
        (
            Role.LIAISON,
            "my_requirement_count",
            "active requirement of your experiments",
            "active requirements of your experiments",
            "#my-requirements-heading",
        ),
        (
            Role.COORDINATOR,
            "overdue_count",
            "overdue action",
            "overdue actions",
            reverse("meetings:action-list") + "?overdue=true",
        ),
        (
            Role.MEMBER,
            "my_open_action_count",
            "open action of mine",
            "open actions of mine",
            reverse("meetings:action-list") + "?mine=true",
        ),
        (
            None,
            "awaiting_approval_count",
            "QoS classes awaiting approval",
            "QoS classes awaiting approval",
            reverse("qos:class-list") + "?awaiting_approval=true",
        ),
        (
            None,
            "approved_count",
            "approved QoS class",
            "approved QoS classes",
            reverse("qos:class-list") + "?status=approved",
        ),
    ]
    rank = {part: position for position, part in enumerate(parts)}
    # What awaits *your* approval, *your* experiments: no line at all for whoever has no such role.
    shown = [
        line
        for line in lines
        if line[0] in rank or line[1] not in ("awaiting_my_approval_count", "my_requirement_count")
    ]
    ordered = sorted(shown, key=lambda line: rank.get(line[0], len(parts)))
    return [
        {"count": counts[name], "one": one, "many": many, "url": url, "mine": part in rank}
        for part, name, one, many, url in ordered
    ]


# Every table the dashboard shows: its part is kept until one is written, and the whole page with it.
DASHBOARD_TABLES = (
    "qos_storageqosclass qos_storageqosclassrevision qos_rse qos_rucioinstance qos_conformance "
    "engagement_requirement engagement_classlink engagement_experiment engagement_experiment_liaisons "
    "portal_action portal_action_owners portal_person portal_stream portal_meeting portal_meetingseries "
    "portal_timetableitem"
)


# Like every page with data: a logged-in user with no role gets 403 (README, "Roles").
@page_cache(DASHBOARD_TABLES)
@permission_required("qos.view_storageqosclass", raise_exception=True)
def dashboard(request: HttpRequest) -> HttpResponse:
    # Everything is lazy (Lazy: computed once, when the template first asks): the tiles and lists are rendered
    # from the table cache until a table they read changes (templates/portal/dashboard.html), and then none of
    # this even builds a query. The cached copy is the user's own (the tag keys it by user, and by the tables
    # of their groups), so each part can be theirs: their approvals, their experiments, their actions.
    user = request.user
    parts = Lazy(lambda: dashboard_parts(user))

    def awaiting() -> Any:
        return StorageQoSClass.objects.awaiting_approval().order_by("updated_at")

    def awaiting_mine() -> Any:
        return awaiting_approval_by(user).order_by("updated_at")

    # Found against the approved classes in Python: Requirement.objects.gaps() scans the whole catalogue in
    # SQL for every gap, which took a second on a large portal (bench/README.md).
    # Once per page: without the table cache, loading and indexing the approved classes is most of the gaps'
    # cost, and the liaison's rows need the same index.
    approved = Lazy(ApprovedClasses.cached)
    gap_ids = Lazy(lambda: approved.gap_ids(Requirement.objects.all()))
    rse_counts = Lazy(RSE.objects.state_counts)
    my_requirements = Lazy(lambda: liaison_rows(user, approved))
    my_open_actions = Lazy(lambda: list(Action.objects.open().owned_by_user(user).with_related()[:50]))
    counts = {
        "awaiting_approval_count": Lazy(lambda: awaiting().count()),
        "awaiting_my_approval_count": Lazy(lambda: awaiting_mine().count()),
        "approved_count": Lazy(lambda: StorageQoSClass.objects.approved().count()),
        "failed": Lazy(lambda: rse_counts[SyncState.FAILED]),
        "drifted": Lazy(lambda: rse_counts[SyncState.DRIFTED]),
        "gap_count": Lazy(lambda: len(gap_ids)),
        # Coverage: accepted requirements a linked class can no longer place (too few RSEs in sync).
        "coverage_at_risk_count": Lazy(count_at_risk),
        "my_requirement_count": Lazy(lambda: len(my_requirements)),
        "overdue_count": Lazy(lambda: Action.objects.overdue().count()),
        "my_open_action_count": Lazy(lambda: len(my_open_actions)),
    }
    return render(
        request,
        "portal/dashboard.html",
        {
            **counts,
            "parts": parts,
            # A compact summary first: on a phone it must not push every list out of sight.
            "summary": Lazy(lambda: summary(parts, counts)),
            # The QoS admin's part: what awaits *their* approval (not what they wrote), failed pushes, drift,
            # then requirements without a class.
            "awaiting_my_approval": Lazy(lambda: list(awaiting_mine()[:20])),
            "rse_counts": rse_counts,
            "failed_rses": Lazy(lambda: list(rses_in_state(SyncState.FAILED))),
            "drifted_rses": Lazy(lambda: list(rses_in_state(SyncState.DRIFTED))),
            "not_delivering_rses": Lazy(lambda: list(rses_not_delivering()[:10])),
            "not_delivering_count": Lazy(lambda: rses_not_delivering().count()),
            "gaps": Lazy(
                lambda: list(
                    Requirement.objects.filter(pk__in=list(gap_ids))
                    .select_related("experiment")
                    .order_by("needed_by")[:10]
                )
            ),
            # The liaison's part: their experiments' requirements, with status, gaps and coverage.
            "my_requirements": my_requirements,
            # The coordinator's part: the next meeting, then everyone's overdue actions.
            "next_meeting": Lazy(next_meeting),
            "overdue_actions": Lazy(lambda: list(Action.objects.overdue().with_related()[:20])),
            # Everyone's part: their own open actions.
            "my_open_actions": my_open_actions,
            "today": timezone.localdate(),
            "tables": DASHBOARD_TABLES,
        },
    )


@login_not_required
@never_cache
def healthz(request: HttpRequest) -> JsonResponse:
    """For load balancers: 200 when the database answers, 503 otherwise. Says nothing more to strangers."""
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    except DatabaseError:
        return JsonResponse({"status": "unavailable", "database": "down"}, status=503)
    return JsonResponse({"status": "ok", "database": "ok"})
