import copy
from collections import Counter
from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import permission_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.paginator import Paginator
from django.db.models import QuerySet
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.template.defaultfilters import pluralize
from django.urls import reverse
from django.utils.functional import SimpleLazyObject
from django.views.decorators.http import require_http_methods

from common.links import same_site_target
from common.page_cache import page_cache
from common.refusals import refuse_without
from common.table_cache import Lazy

from . import consequences, tasks
from .choices import ASSIGNABLE_STATUSES, ClassStatus, PushState, SyncState
from .filters import PushFilterSet, RSEFilterSet, StorageQoSClassFilterSet
from .forms import (
    AssignForm,
    CompareForm,
    RejectForm,
    RSEExpressionForm,
    RucioInstanceForm,
    StorageQoSClassForm,
    TransitionForm,
    label_input,
    too_many_classes_to_list,
)
from .models import (
    RSE,
    TRANSITIONS,
    CatalogueError,
    Conformance,
    Probe,
    Push,
    RucioInstance,
    StaleRevision,
    StorageQoSClass,
    revision_diff,
)
from .models.catalogue import (
    APPROVE_PERMISSION,
    CHANGE_PERMISSION,
    Transition,
    default_comparison,
    history_steps,
)
from .plots import probe_charts
from .probing import not_probeable_reason
from .rse_expressions import InstanceNotNamed, InvalidExpression, compare, instance_for

VIEW = "qos.view_storageqosclass"
ADD = "qos.add_storageqosclass"
CHANGE = CHANGE_PERMISSION
APPROVE = APPROVE_PERMISSION
# The RSE page: probes plotted (raw, newest first), daily means plotted before them, probes listed.
PROBES_PLOTTED, DAYS_PLOTTED, PROBES_LISTED = 200, 90, 10


# What the catalogue shows: the classes and how many RSEs carry each.
CLASS_LIST_TABLES = "qos_storageqosclass qos_rse"


@page_cache(CLASS_LIST_TABLES)
@permission_required(VIEW, raise_exception=True)
def class_list(request: HttpRequest) -> HttpResponse:
    # Lazy: the page is rendered from the table cache until a class changes ({% tablecache %}), and then
    # neither the filters nor the page are made.
    filterset = SimpleLazyObject(
        lambda: StorageQoSClassFilterSet(request.GET, queryset=StorageQoSClass.objects.with_rse_counts())
    )
    page = SimpleLazyObject(lambda: Paginator(filterset.qs, 50).get_page(request.GET.get("page")))
    return render(
        request, "qos/class_list.html", {"filter": filterset, "page": page, "tables": CLASS_LIST_TABLES}
    )


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
    transitions = qos_class.available_transitions(request.user)
    rses, rse_count = _first_and_count(qos_class.rses.with_related().order_by("name"))
    planned_rses, planned_count = _first_and_count(qos_class.planned_rses.with_related().order_by("name"))
    return render(
        request,
        "qos/class_detail.html",
        {
            "qos_class": qos_class,
            "pending": pending,
            # Where it is: the RSEs that carry it, and those it goes to once approved (a class may be on
            # thousands: the first RSES_SHOWN, and the RSE list filtered by it for the rest).
            "rses": rses,
            "rse_count": rse_count,
            "planned_rses": planned_rses,
            "planned_count": planned_count,
            "can_assign": request.user.has_perm(PUSH) and qos_class.status in ASSIGNABLE_STATUSES,
            # What the apps above add (qos/consequences.py): e.g. the volume committed on the class, and what
            # the proposal awaiting approval would change.
            "panels": consequences.of_class(qos_class),
            "proposal_panels": consequences.of_proposal(qos_class),
            "recent_revisions": qos_class.revisions.select_related("author")[:5],
            "can_change": request.user.has_perm(CHANGE),
            "transitions": transitions,
            # An approver who may not approve is told why (four-eyes) where the button would be.
            "four_eyes_note": request.user.has_perm(APPROVE)
            and qos_class.awaits_approval
            and all(transition.name != "approve" for transition in transitions),
        },
    )


# The class page lists this many of the RSEs that carry a class; the RSE list, filtered by it, has them all.
RSES_SHOWN = 25


def _first_and_count(rses: QuerySet) -> tuple[list, int]:
    """The first RSES_SHOWN of ``rses``, and how many there are (counted only when there are more)."""
    first = list(rses[: RSES_SHOWN + 1])
    if len(first) <= RSES_SHOWN:
        return first, len(first)
    return first[:RSES_SHOWN], rses.count()


@refuse_without(ADD, "Only QoS admins create classes.")
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


@refuse_without(CHANGE, "Only QoS admins edit classes and propose changes to them.")
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


@require_http_methods(["GET", "POST"])
def class_transition(request: HttpRequest, label: str, action: str) -> HttpResponse:
    """Confirm (GET) and perform (POST) one lifecycle step of a class."""
    transition = TRANSITIONS.get(action)
    if transition is None:
        raise Http404
    if not request.user.has_perm(transition.permission):
        raise PermissionDenied(f"Only QoS admins may {transition.button.lower()} a class.")
    qos_class = get_object_or_404(StorageQoSClass.objects.select_related("pending_revision"), label=label)
    form = _transition_form(transition)(request.POST or None, initial={"base_revision": qos_class.revision})
    reviewing = action in ("approve", "reject")
    changed_since_seen = None
    if request.method == "POST" and form.is_valid():
        try:
            getattr(qos_class, transition.name)(
                by=request.user,
                base_revision=form.cleaned_data["base_revision"],
                **{transition.text_argument: form.cleaned_data["comment"]},
            )
        except StaleRevision:
            qos_class, form, changed_since_seen = _refused_as_stale(
                request, qos_class, transition, form.cleaned_data["base_revision"]
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
            "reviewing": reviewing,
            "diff": qos_class.pending_changes() if reviewing else None,
            "changed_since_seen": changed_since_seen,
            "plan": _transition_plan(qos_class, action),
            # What approving would change beyond the catalogue (qos/consequences.py).
            "proposal_panels": consequences.of_proposal(qos_class) if reviewing else [],
        },
    )


def _transition_form(transition: Transition) -> type[TransitionForm]:
    """A step that needs a reason (reject) asks for one; the others take an optional comment."""
    return RejectForm if transition.reason_required else TransitionForm


def _refused_as_stale(
    request: HttpRequest, qos_class: StorageQoSClass, transition: Transition, seen: int
) -> tuple[StorageQoSClass, TransitionForm, list[dict] | None]:
    """The class as it is now, a form that confirms this revision, and what changed since the one seen.

    The admin confirmed a page that no longer shows the class (someone edited the proposal meanwhile): they
    get it again as it is now, and confirming again is about what they see then.
    """
    current = StorageQoSClass.objects.select_related("pending_revision").get(pk=qos_class.pk)
    data = request.POST.copy()
    data["base_revision"] = current.revision
    form = _transition_form(transition)(data)
    form.is_valid()  # add_error needs a cleaned form; valid, as only base_revision differs from the one sent
    form.add_error(
        None,
        f"{current.label} changed since you opened this page (you saw revision {seen}, it is now at revision "
        f"{current.revision}), so it was not {transition.done}. Check what changed, shown on this page, and "
        f"{transition.button.lower()} again if it is still right.",
    )
    revisions = {
        revision.number: revision
        for revision in current.revisions.filter(number__in=[seen, current.revision])
    }
    if len(revisions) < 2:
        return current, form, None
    return current, form, revision_diff(revisions[seen], revisions[current.revision])


def _transition_plan(qos_class: StorageQoSClass, action: str) -> dict | None:
    """Which RSEs a step changes in Rucio, shown before it is confirmed."""
    if action == "approve" and not qos_class.label_locked:
        rows = qos_class.planned_rses.all().plan(qos_class)
        return {
            "title": "RSEs that get this class in Rucio",
            "rows": rows,
            # Coverage (engagement): these RSEs leave their current class on approval and arrive in this one.
            "consequences": consequences.of_assignment([row["rse"] for row in rows], qos_class),
        }
    if action == "deprecate":
        return {
            "title": "RSEs that keep carrying it (unchanged in Rucio)",
            "rows": qos_class.rses.all().plan(qos_class),
        }
    if action == "retire":
        rows = qos_class.rses.all().plan(None)
        return {
            "title": "RSEs that lose the attribute in Rucio",
            "rows": rows,
            # Coverage (engagement): requirements linked to this class lose these RSEs.
            "consequences": consequences.of_assignment([row["rse"] for row in rows], None),
        }
    return None


# The history page's comparison: ?from=&to= as the API's diff takes them; ?a=&b=, its earlier names, still work.
COMPARE_PARAMETERS = (("from", "a"), ("to", "b"))


@permission_required(VIEW, raise_exception=True)
def class_history(request: HttpRequest, label: str) -> HttpResponse:
    qos_class = get_object_or_404(StorageQoSClass, label=label)
    revisions = list(qos_class.revisions.select_related("author"))
    by_number = {revision.number: revision for revision in revisions}
    latest = revisions[0].number if revisions else 0
    asked = {name: request.GET.get(name, request.GET.get(old_name)) for name, old_name in COMPARE_PARAMETERS}
    diff = old = new = None
    if any(value is not None for value in asked.values()):
        compare = CompareForm(asked)
        if compare.is_valid():
            old = by_number.get(compare.cleaned_data["from"])
            new = by_number.get(compare.cleaned_data["to"])
            if old is None or new is None:
                compare.add_error(None, f"{label} has revisions 1 to {latest}.")
                old = new = None
    else:
        default = default_comparison(qos_class, revisions)
        if default is not None:
            old, new = default
        compare = CompareForm(
            initial={"from": old.number if old else None, "to": new.number if new else None}
        )
    if old is not None and new is not None:
        diff = revision_diff(old, new)
    return render(
        request,
        "qos/class_history.html",
        {
            "qos_class": qos_class,
            "steps": history_steps(revisions),
            "compare": compare,
            "diff": diff,
            "old": old,
            "new": new,
            "latest": revisions[0] if revisions else None,
        },
    )


# --- RSEs and their push to Rucio ----------------------------------------------------------------------------
PUSH = "qos.push_rse"
VIEW_RSE = "qos.view_rse"


# What the RSE list shows: the RSEs, their instances, classes and verdicts.
RSE_LIST_TABLES = "qos_rse qos_rucioinstance qos_storageqosclass qos_conformance"


@page_cache(RSE_LIST_TABLES)
@permission_required(VIEW_RSE, raise_exception=True)
def rse_list(request: HttpRequest) -> HttpResponse:
    by_label = Lazy(too_many_classes_to_list)

    def filters() -> RSEFilterSet:
        filterset = RSEFilterSet(request.GET, queryset=RSE.objects.with_related())
        if by_label:
            filterset.form.fields["qos_class"].widget = label_input()
        return filterset

    # Everything lazy: the page is rendered from the table cache until an RSE, a class or an instance changes
    # ({% tablecache %}), and then none of it is made.
    filterset = SimpleLazyObject(filters)
    page = SimpleLazyObject(lambda: Paginator(filterset.qs, 100).get_page(request.GET.get("page")))
    state_counts = Lazy(RSE.objects.state_counts)
    return render(
        request,
        "qos/rse_list.html",
        {
            "filter": filterset,
            "page": page,
            "state_counts": state_counts,
            # The tiles, each state by its name ("In sync").
            "state_tiles": Lazy(
                lambda: [(state, SyncState(state).label, count) for state, count in state_counts.items()]
            ),
            "assign_form": SimpleLazyObject(AssignForm),
            "assign_by_label": by_label,
            "can_push": request.user.has_perm(PUSH),
            # "Assign to RSEs" on a class's page: its label, chosen in the assign menu (?assign=SAFE).
            "assign_label": request.GET.get("assign", "").strip()[:64],
            "instances": Lazy(lambda: list(RucioInstance.objects.values_list("name", flat=True))),
            "tables": RSE_LIST_TABLES,
        },
    )


@permission_required(VIEW_RSE, raise_exception=True)
def rse_detail(request: HttpRequest, name: str) -> HttpResponse:
    rse = get_object_or_404(RSE.objects.with_related(), name=name)
    pushes = rse.pushes.select_related("requested_by").prefetch_related("attempt_log")[:50]
    assign_form = AssignForm(initial={"rses": [rse.name], "qos_class": rse.qos_class})
    if too_many_classes_to_list():
        assign_form.fields["qos_class"].widget = label_input()
    return render(
        request,
        "qos/rse_detail.html",
        {
            "rse": rse,
            "pushes": pushes,
            "assign_form": assign_form,
            "can_push": request.user.has_perm(PUSH),
            "attributes": sorted(rse.rucio_attributes.items()),
            **conformance_context(rse),
        },
    )


@permission_required(VIEW_RSE, raise_exception=True)
def rse_expression(request: HttpRequest) -> HttpResponse:
    """Evaluate an RSE expression by Rucio and by the portal's knowledge, and flag the RSEs where they differ."""
    instances = list(RucioInstance.objects.order_by("name").values_list("name", flat=True))
    form = RSEExpressionForm(request.GET if "expression" in request.GET else None, instances=instances)
    comparison = None
    if form.is_valid():
        try:
            instance = instance_for(form.cleaned_data["instance"])
        except RucioInstance.DoesNotExist as missing:
            raise Http404(str(missing) or "No Rucio instance of that name.") from missing
        except InstanceNotNamed as several:
            form.add_error("instance", str(several))
        else:
            try:
                comparison = compare(form.cleaned_data["expression"], instance)
            except InvalidExpression as refusal:
                form.add_error("expression", refusal.explained())
    return render(
        request,
        "qos/rse_expression.html",
        {"form": form, "comparison": comparison, "several_instances": len(instances) > 1},
    )


def conformance_context(rse: RSE) -> dict:
    """The RSE page's conformance block (templates/qos/_conformance.html): the verdict, the last probes, the
    charts of throughput and latency against the class's targets (raw probes, then daily means)."""
    probes = list(Probe.objects.filter(rse=rse)[:PROBES_PLOTTED])
    days = list(rse.probe_days.all()[:DAYS_PLOTTED])
    return {
        "conformance": Conformance.of(rse),
        "probes": probes[:PROBES_LISTED],
        "probe_charts": probe_charts(rse, probes, days),
        "not_probed_because": not_probeable_reason(rse) if rse.qos_class_id else "",
        "probe_settings": {
            "confirmations": settings.QOS_PROBE_CONFIRMATIONS,
            "interval_hours": round(settings.QOS_PROBE_INTERVAL_SECONDS / 3600, 1),
            "scope": settings.QOS_PROBE_SCOPE,
            "account": rse.instance.account,
        },
    }


@permission_required(PUSH, raise_exception=True)
@require_http_methods(["POST"])
def rse_probe(request: HttpRequest, name: str) -> HttpResponse:
    """Queue a probe of the RSE (QoS admins)."""
    rse = get_object_or_404(RSE, name=name)
    return _tell_if_queued(request, tasks.queue_probe(rse), PROBE_QUEUED, rse.name, back_to=rse)


# What a "queue a background task" button says: (when queued, when the task queue did not take it), of {name}.
PROBE_QUEUED = (
    "Probe of {name} queued: its verdict is updated when it has run.",
    "The probe of {name} could not be queued: the task queue does not answer. Try again shortly.",
)
SYNC_QUEUED = (
    "Sync of {name} queued: new RSEs appear and drift is checked.",
    "The sync of {name} could not be queued: the task queue does not answer. Nothing was changed; try again "
    "shortly (the periodic sync also runs by itself).",
)


def _tell_if_queued(
    request: HttpRequest, queued: bool, said: tuple[str, str], name: str, back_to: Any
) -> HttpResponse:
    """Tell the user whether the background task they asked for (on ``name``) was queued, and go ``back_to``."""
    if queued:
        messages.success(request, said[0].format(name=name))
    else:
        messages.error(request, said[1].format(name=name))
    return redirect(back_to)


@permission_required(PUSH, raise_exception=True)
@require_http_methods(["POST"])
def rse_assign(request: HttpRequest) -> HttpResponse:
    """Show the plan of an assignment (which RSEs change, from which value to which), then do it on confirm."""
    form = AssignForm(request.POST)
    # Back to the page the form was on: a path of this site only, never an address another site put in the form.
    back = same_site_target(request, request.POST.get("next"), reverse("qos:rse-list"))
    if not form.is_valid():
        for errors in form.errors.values():
            for error in errors:
                messages.error(request, error)
        return redirect(back)
    rses = RSE.objects.filter(pk__in=[rse.pk for rse in form.cleaned_data["rses"]])
    qos_class = form.cleaned_data["qos_class"]
    if not form.cleaned_data["confirm"]:
        plan = rses.plan(qos_class)
        return render(
            request,
            "qos/rse_assign_plan.html",
            {
                "form": form,
                "plan": plan,
                "qos_class": qos_class,
                "next": back,
                # Coverage (engagement): requirements whose coverage this changes, a warning for those left short.
                # A class only planned on RSEs moves none of them until it is approved.
                "consequences": consequences.of_assignment(
                    [row["rse"] for row in plan if not row["planned"]], qos_class
                ),
            },
        )
    try:
        pushes = rses.assign(qos_class, by=request.user, reason=form.cleaned_data["reason"])
    except ValidationError as error:
        messages.error(request, " ".join(error.messages))
    else:
        _say_what_the_assignment_did(request, qos_class, rses.count(), pushes)
    return redirect(back)


def _rses_count(count: int) -> str:
    return f"{count} RSE{pluralize(count)}"


def _say_what_the_assignment_did(
    request: HttpRequest, qos_class: StorageQoSClass | None, planned: int, pushes: list[Push]
) -> None:
    """A message per outcome, as it is: the pushes were sent after the commit, and may be done already (a
    worker that was quick, or tasks run in the request), still waiting, or have failed."""
    if qos_class is not None and qos_class.status != ClassStatus.APPROVED:
        messages.success(
            request, f"{qos_class.label} planned on {planned} RSE(s); pushed to Rucio once approved."
        )
        return
    states = Counter(Push.objects.filter(pk__in=[push.pk for push in pushes]).values_list("state", flat=True))
    done = states[PushState.DONE]
    waiting = states[PushState.QUEUED] + states[PushState.SENDING]
    failed = states[PushState.FAILED]
    outcomes = ((done, "pushed to Rucio"), (waiting, "queued for Rucio"))
    said = [f"{_rses_count(count)} {what}" for count, what in outcomes if count]
    if said:
        messages.success(
            request,
            f"{'; '.join(said)}. Rucio may serve the old value in RSE expressions for up to 15 minutes.",
        )
    if failed:
        messages.error(
            request,
            f"The push to Rucio failed for {_rses_count(failed)}: see the push log, or the RSE's page.",
        )


def _settle_drift(
    request: HttpRequest, name: str, settle: Callable[..., object], done: Callable[[RSE], str]
) -> HttpResponse:
    """Reconcile or adopt from the RSE's page: why the model refuses is shown as a message on that page."""
    rse = get_object_or_404(RSE.objects.with_related(), name=name)
    try:
        settle(rse, by=request.user)
    except ValidationError as error:
        messages.error(request, " ".join(error.messages))
    else:
        messages.success(request, done(rse))
    return redirect(rse)


@permission_required(PUSH, raise_exception=True)
@require_http_methods(["POST"])
def rse_reconcile(request: HttpRequest, name: str) -> HttpResponse:
    return _settle_drift(
        request, name, RSE.reconcile, lambda rse: f"Push queued: {rse.name} gets the portal's value back."
    )


@permission_required(PUSH, raise_exception=True)
@require_http_methods(["POST"])
def rse_adopt(request: HttpRequest, name: str) -> HttpResponse:
    # The message names the class the RSE carries once adopted.
    return _settle_drift(
        request,
        name,
        RSE.adopt,
        lambda rse: f"{rse.name} now carries {rse.qos_class.label} in the portal, as in Rucio.",
    )


CHANGE_INSTANCE = "qos.change_rucioinstance"


@permission_required(VIEW_RSE, raise_exception=True)
@require_http_methods(["GET", "POST"])
def instance_detail(request: HttpRequest, name: str) -> HttpResponse:
    """A Rucio instance: where it connects (the deployment's), its RSEs, and what QoS admins may change."""
    instance = get_object_or_404(RucioInstance, name=name)
    can_change = request.user.has_perm(CHANGE_INSTANCE)
    if request.method == "POST" and not can_change:
        raise PermissionDenied("Only QoS admins change a Rucio instance's attributes.")
    # The form validates a copy (a ModelForm writes what was typed onto its instance): change_settings()
    # compares with the values before, and the page shows those while the form is refused.
    form = RucioInstanceForm(request.POST or None, instance=copy.copy(instance))
    if request.method == "POST" and form.is_valid():
        pushes = instance.change_settings(**form.cleaned_data, by=request.user)
        said = f"{instance.name} saved."
        if pushes:
            said += f" {len(pushes)} push{pluralize(len(pushes), 'es')} of the conformance attribute queued."
        messages.success(request, said)
        return redirect(instance)
    counts = RSE.objects.filter(instance=instance).state_counts()
    states = [(state, SyncState(state).label, counts[state]) for state in counts]
    return render(
        request,
        "qos/instance_detail.html",
        {
            "instance": instance,
            "form": form if can_change else None,
            "can_push": request.user.has_perm(PUSH),
            "states": states,
            "rse_count": sum(counts.values()),
        },
    )


@permission_required(PUSH, raise_exception=True)
@require_http_methods(["POST"])
def instance_sync(request: HttpRequest, name: str) -> HttpResponse:
    instance = get_object_or_404(RucioInstance, name=name)
    # Back to the page the button was on: the RSE list or the instance's page.
    back_to = same_site_target(request, request.POST.get("next"), reverse("qos:rse-list"))
    return _tell_if_queued(request, tasks.queue_sync(instance), SYNC_QUEUED, instance.name, back_to=back_to)


@permission_required("qos.view_push", raise_exception=True)
def push_list(request: HttpRequest) -> HttpResponse:
    filterset = PushFilterSet(
        request.GET,
        queryset=Push.objects.select_related("rse", "requested_by").prefetch_related("attempt_log"),
    )
    page = Paginator(filterset.qs, 100).get_page(request.GET.get("page"))
    return render(request, "qos/push_list.html", {"filter": filterset, "page": page})
