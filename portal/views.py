from django.contrib.auth.decorators import login_not_required, permission_required
from django.db import DatabaseError, connection
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.views.decorators.cache import never_cache

from engagement.models import Requirement
from qos.models import RSE, StorageQoSClass

from .models import Action


# Like every page with data: a logged-in user with no role gets 403 (README, "Roles").
@permission_required("qos.view_storageqosclass", raise_exception=True)
def dashboard(request: HttpRequest) -> HttpResponse:
    awaiting = StorageQoSClass.objects.awaiting_approval().order_by("updated_at")
    return render(
        request,
        "portal/dashboard.html",
        {
            "awaiting_approval": awaiting[:20],
            "awaiting_approval_count": awaiting.count(),
            "approved_count": StorageQoSClass.objects.approved().count(),
            # The push to Rucio: RSEs whose attribute failed to land or differs from the portal's.
            "rse_counts": RSE.objects.state_counts(),
            # Experiment engagement: requirements no approved class satisfies (gaps).
            "gaps": list(Requirement.objects.gaps().select_related("experiment").order_by("needed_by")[:10]),
            "gap_count": Requirement.objects.gaps().count(),
            # Coverage: accepted requirements a linked class can no longer place (too few RSEs in sync).
            "coverage_at_risk_count": Requirement.objects.coverage_at_risk().count(),
            # Stream coordination: the viewer's own open actions, and everyone's overdue ones.
            "my_open_actions": list(Action.objects.open().owned_by_user(request.user).with_related()[:50]),
            "overdue_actions": list(Action.objects.overdue().with_related()[:20]),
            "overdue_count": Action.objects.overdue().count(),
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
