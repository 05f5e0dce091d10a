from dataclasses import dataclass

from django.contrib import messages
from django.contrib.auth.decorators import permission_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_http_methods

from .filters import StorageQoSClassFilterSet
from .forms import CompareForm, RejectForm, StorageQoSClassForm, TransitionForm
from .models import CatalogueError, StorageQoSClass, revision_diff

VIEW = "qos.view_storageqosclass"
ADD = "qos.add_storageqosclass"
CHANGE = "qos.change_storageqosclass"
APPROVE = "qos.approve_storageqosclass"


@permission_required(VIEW, raise_exception=True)
def class_list(request: HttpRequest) -> HttpResponse:
    filterset = StorageQoSClassFilterSet(request.GET, queryset=StorageQoSClass.objects.all())
    page = Paginator(filterset.qs, 50).get_page(request.GET.get("page"))
    return render(request, "qos/class_list.html", {"filter": filterset, "page": page})


@permission_required(VIEW, raise_exception=True)
def class_detail(request: HttpRequest, label: str) -> HttpResponse:
    qos_class = get_object_or_404(
        StorageQoSClass.objects.select_related("pending_revision__author"), label=label
    )
    pending = None
    if qos_class.pending_revision_id:
        pending = {
            "revision": qos_class.pending_revision,
            "content": StorageQoSClass.from_content(qos_class.pending_revision.data),
            "changed": {row["field"] for row in qos_class.pending_changes()},
        }
    return render(
        request,
        "qos/class_detail.html",
        {
            "qos_class": qos_class,
            "pending": pending,
            "recent_revisions": qos_class.revisions.select_related("author")[:5],
            "can_change": request.user.has_perm(CHANGE),
            "can_approve": request.user.has_perm(APPROVE),
            "is_author": request.user.pk in qos_class.proposal_authors()
            if qos_class.awaits_approval
            else False,
        },
    )


@permission_required(ADD, raise_exception=True)
@require_http_methods(["GET", "POST"])
def class_create(request: HttpRequest) -> HttpResponse:
    form = StorageQoSClassForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            qos_class = StorageQoSClass.objects.create_draft(
                by=request.user, comment=form.cleaned_data["comment"], **form.content()
            )
        except ValidationError as error:
            form.add_error(None, error)
        else:
            messages.success(request, f"Draft {qos_class.label} created. Propose it when it is ready.")
            return redirect(qos_class)
    return render(request, "qos/class_form.html", {"form": form, "qos_class": None})


@permission_required(CHANGE, raise_exception=True)
@require_http_methods(["GET", "POST"])
def class_edit(request: HttpRequest, label: str) -> HttpResponse:
    qos_class = get_object_or_404(StorageQoSClass.objects.select_related("pending_revision"), label=label)
    # The form starts from the newest content (a pending proposal if any) on an unsaved copy, so that
    # validation sees this class's own label as its own.
    start = StorageQoSClass.from_content(
        qos_class.head_content(), pk=qos_class.pk, label_locked=qos_class.label_locked
    )
    form = StorageQoSClassForm(
        request.POST or None, instance=start, initial={"base_revision": qos_class.revision}
    )
    if request.method == "POST" and form.is_valid():
        try:
            qos_class.edit(
                by=request.user,
                changes=form.content(),
                comment=form.cleaned_data["comment"],
                base_revision=form.cleaned_data["base_revision"],
            )
        except ValidationError as error:
            form.add_error(None, error)
        except CatalogueError as error:
            form.add_error(None, error.message)
        else:
            if qos_class.has_pending_change:
                messages.success(
                    request,
                    f"Change to {qos_class.label} proposed. The approved content stays in force until "
                    "another QoS admin approves it.",
                )
            else:
                messages.success(request, f"{qos_class.label} saved as revision {qos_class.revision}.")
            return redirect(qos_class)
    return render(request, "qos/class_form.html", {"form": form, "qos_class": qos_class})


@dataclass(frozen=True)
class Transition:
    method: str
    permission: str
    title: str
    button: str
    done: str
    text_argument: str = "comment"
    form_class: type[TransitionForm] = TransitionForm
    danger: bool = False


TRANSITIONS = {
    "propose": Transition("propose", CHANGE, "Propose for approval", "Propose", "proposed for approval"),
    "approve": Transition("approve", APPROVE, "Approve", "Approve", "approved"),
    "reject": Transition(
        "reject", APPROVE, "Reject the proposal", "Reject", "sent back", "reason", RejectForm, danger=True
    ),
    "deprecate": Transition(
        "deprecate", CHANGE, "Deprecate", "Deprecate", "deprecated", "reason", danger=True
    ),
    "retire": Transition("retire", CHANGE, "Retire", "Retire", "retired", "reason", danger=True),
}


@require_http_methods(["GET", "POST"])
def class_transition(request: HttpRequest, label: str, action: str) -> HttpResponse:
    """Confirm (GET) and perform (POST) one lifecycle step of a class."""
    transition = TRANSITIONS.get(action)
    if transition is None:
        raise Http404
    if not request.user.has_perm(transition.permission):
        raise PermissionDenied
    qos_class = get_object_or_404(StorageQoSClass.objects.select_related("pending_revision"), label=label)
    form = transition.form_class(request.POST or None, initial={"base_revision": qos_class.revision})
    if request.method == "POST" and form.is_valid():
        try:
            getattr(qos_class, transition.method)(
                by=request.user,
                base_revision=form.cleaned_data["base_revision"],
                **{transition.text_argument: form.cleaned_data["comment"]},
            )
        except ValidationError as error:
            form.add_error(None, error)
        except CatalogueError as error:
            form.add_error(None, error.message)
        else:
            messages.success(request, f"{qos_class.label} {transition.done}.")
            return redirect(qos_class)
    return render(
        request,
        "qos/class_transition.html",
        {
            "qos_class": qos_class,
            "transition": transition,
            "form": form,
            "diff": qos_class.pending_changes() if action in ("approve", "reject") else None,
        },
    )


@permission_required(VIEW, raise_exception=True)
def class_history(request: HttpRequest, label: str) -> HttpResponse:
    qos_class = get_object_or_404(StorageQoSClass, label=label)
    revisions = list(qos_class.revisions.select_related("author"))
    by_number = {revision.number: revision for revision in revisions}
    latest = revisions[0].number if revisions else 0
    compare = CompareForm(request.GET or {"a": max(latest - 1, 1), "b": latest})
    diff = old = new = None
    if compare.is_valid():
        old = by_number.get(compare.cleaned_data["a"])
        new = by_number.get(compare.cleaned_data["b"])
        if old is None or new is None:
            compare.add_error(None, f"{label} has revisions 1 to {latest}.")
        else:
            diff = revision_diff(old, new)
    return render(
        request,
        "qos/class_history.html",
        {
            "qos_class": qos_class,
            "revisions": revisions,
            "compare": compare,
            "diff": diff,
            "old": old,
            "new": new,
        },
    )
