from typing import Any

from django.contrib.auth.decorators import login_not_required, permission_required
from django.db import DatabaseError, connection
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.utils import timezone
from django.views.decorators.cache import never_cache

from common.table_cache import Lazy
from engagement.coverage import count_at_risk
from engagement.matching import ApprovedClasses
from engagement.models import Requirement
from meetings.models import Action
from qos.models import RSE, StorageQoSClass


# Like every page with data: a logged-in user with no role gets 403 (README, "Roles").
@permission_required("qos.view_storageqosclass", raise_exception=True)
def dashboard(request: HttpRequest) -> HttpResponse:
    # Everything is lazy (Lazy: computed once, when the template first asks): the tiles and lists are rendered
    # from the table cache until a table they read changes (templates/portal/dashboard.html), and then none of
    # this even builds a query.
    def awaiting() -> Any:
        return StorageQoSClass.objects.awaiting_approval().order_by("updated_at")

    # Found against the approved classes in Python: Requirement.objects.gaps() scans the whole catalogue in
    # SQL for every gap, which took a second on a large portal (bench/README.md).
    gap_ids = Lazy(lambda: ApprovedClasses.cached().gap_ids(Requirement.objects.all()))
    return render(
        request,
        "portal/dashboard.html",
        {
            "awaiting_approval": Lazy(lambda: list(awaiting()[:20])),
            "awaiting_approval_count": Lazy(lambda: awaiting().count()),
            "approved_count": Lazy(lambda: StorageQoSClass.objects.approved().count()),
            # The push to Rucio: RSEs whose attribute failed to land or differs from the portal's.
            "rse_counts": Lazy(RSE.objects.state_counts),
            # Experiment engagement: requirements no approved class satisfies (gaps).
            "gaps": Lazy(
                lambda: list(
                    Requirement.objects.filter(pk__in=list(gap_ids))
                    .select_related("experiment")
                    .order_by("needed_by")[:10]
                )
            ),
            "gap_count": Lazy(lambda: len(gap_ids)),
            # Coverage: accepted requirements a linked class can no longer place (too few RSEs in sync).
            "coverage_at_risk_count": Lazy(count_at_risk),
            # Stream coordination: the viewer's own open actions, and everyone's overdue ones.
            "my_open_actions": Lazy(
                lambda: list(Action.objects.open().owned_by_user(request.user).with_related()[:50])
            ),
            "overdue_actions": Lazy(lambda: list(Action.objects.overdue().with_related()[:20])),
            "overdue_count": Lazy(lambda: Action.objects.overdue().count()),
            "today": timezone.localdate(),
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
