"""Refusals and errors as pages of the site: its layout and navigation, why in the users' words, a way back.

The root URLconf names these ``handler403``, ``handler404`` and ``handler500``. Under /api/ they answer JSON,
as every error of the API does (README, "API"): DRF answers what reaches its views itself, these answer the
rest (a URL no route matches, a non-DRF view that refuses, a crash).
"""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.template import loader
from django.urls import reverse

from common.api import errors as api_errors
from common.links import same_site_target
from common.logs import current_request_id

from .choices import Role

# Django's PermissionDenied from @permission_required says nothing; the page then says this, or, to a user
# with no role at all, why every page but their account is closed to them.
GENERIC_REFUSAL = "Your roles on the portal do not allow this."
NO_ROLE_REFUSAL = (
    "Your account has no role on the portal yet, so only your account page is open to you. Roles come from "
    "your IAM groups; for a local account, a portal admin gives them."
)


def way_back(request: HttpRequest) -> tuple[str, str]:
    """Where the page's "back" link goes, and its text: the page the user came from when it is on this
    site (and not this very page), else the dashboard, or the account page for a user who may not see it."""
    referer = same_site_target(request, request.META.get("HTTP_REFERER"), "")
    if referer and referer != request.build_absolute_uri():
        return referer, "Back to the previous page"
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return reverse("login"), "Log in"
    if user.has_perm("qos.view_storageqosclass"):
        return reverse("portal:dashboard"), "Go to the dashboard"
    return reverse("iam:account"), "Go to your account"


def permission_denied(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    """403: the reason the view gave (``PermissionDenied("Only liaisons of ATLAS may ...")``), else a sentence
    that fits the user's roles."""
    reason = str(exception or "").strip()
    if request.path.startswith("/api/"):
        return JsonResponse(
            {"detail": reason or "You do not have permission to perform this action."}, status=403
        )
    roles = []
    user = getattr(request, "user", None)
    if user is not None and user.is_authenticated:
        names = set(user.groups.values_list("name", flat=True))
        roles = [role.label for role in Role if role.value in names]
    if not reason:
        reason = GENERIC_REFUSAL if roles else NO_ROLE_REFUSAL
    back_url, back_label = way_back(request)
    context = {"reason": reason, "roles": roles, "back_url": back_url, "back_label": back_label}
    return render(request, "403.html", context, status=403)


def page_not_found(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    """404: ``{"detail"}`` under /api/ (common/api/errors.py), the page in the site's layout elsewhere."""
    if request.path.startswith("/api/"):
        return api_errors.not_found(request, exception)
    back_url, back_label = way_back(request)
    context = {"request_path": request.path, "back_url": back_url, "back_label": back_label}
    return render(request, "404.html", context, status=404)


def server_error(request: HttpRequest) -> HttpResponse:
    """500, rendered from nothing but the request's id: the database, the session or the user may be what
    failed, so the page asks none of them (no context processor runs; the layout shows no navigation)."""
    if request.path.startswith("/api/"):
        return JsonResponse({"detail": "Server error: the portal could not answer this request."}, status=500)
    html = loader.get_template("500.html").render({"request_id": current_request_id()})
    return HttpResponse(html, status=500)
