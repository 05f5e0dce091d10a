from django.contrib.auth.decorators import login_not_required
from django.db import DatabaseError, connection
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.views.decorators.cache import never_cache

from qos.models import StorageQoSClass


def dashboard(request: HttpRequest) -> HttpResponse:
    awaiting = StorageQoSClass.objects.awaiting_approval().order_by("updated_at")
    return render(
        request,
        "portal/dashboard.html",
        {
            "awaiting_approval": awaiting[:20],
            "awaiting_approval_count": awaiting.count(),
            "approved_count": StorageQoSClass.objects.approved().count(),
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
