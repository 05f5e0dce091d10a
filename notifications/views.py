"""The one-click unsubscribe page: works without a login, for the person and kind its signed token names."""

from __future__ import annotations

from django.contrib.auth.decorators import login_not_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods

from .choices import Delivery, Kind
from .models import DIGEST_KINDS, Preference, read_unsubscribe_token


@login_not_required
@csrf_exempt  # RFC 8058: a mail client's one-click POST carries no CSRF token; the signed token is the proof
@require_http_methods(["GET", "POST"])
def unsubscribe(request: HttpRequest, token: str) -> HttpResponse:
    """GET asks to confirm (link checkers in mail systems follow links: a GET changes nothing); POST turns the
    kind (or every kind of the digest) off for that person only."""
    data = read_unsubscribe_token(token)
    if data is None:
        return render(request, "notifications/unsubscribe.html", {"invalid": True}, status=404)
    kind = data["k"]
    label = "the daily digest" if kind == DIGEST_KINDS else f"“{Kind(kind).label}”"
    done = False
    if request.method == "POST":
        Preference.objects.unsubscribe(user_id=data["u"], address=data["a"], kind=kind)
        done = True
    context = {"label": label, "address": data["a"], "done": done, "off": Delivery.OFF}
    return render(request, "notifications/unsubscribe.html", context)
