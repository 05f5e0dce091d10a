"""Pages of experiment engagement. Thin: who may do what is asked of the models (``can_edit`` ...)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import permission_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.paginator import Paginator
from django.db.models import Prefetch, prefetch_related_objects
from django.forms import ModelForm
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_http_methods, require_POST
from django_filters import FilterSet

from common.errors import refusal_shown_on
from common.refusals import refuse_without
from qos.models import StorageQoSClass

from .coverage import counts_conforming_only, coverage_by_requirement, coverage_of_links, requirement_rows
from .filters import DocumentFilterSet, EngagementRecordFilterSet, RequirementFilterSet
from .forms import (
    CommentForm,
    ContactForm,
    DocumentForm,
    EngagementRecordForm,
    ExperimentForm,
    LinkClassForm,
    RequirementForm,
    TransitionForm,
)
from .matching import ApprovedClasses, match
from .models import (
    REVIEW_REFUSAL,
    TRANSITIONS,
    ClassLink,
    Document,
    EngagementRecord,
    Experiment,
    Requirement,
)
from .rules import suggest_rules

VIEW_EXPERIMENT = "engagement.view_experiment"
VIEW_REQUIREMENT = "engagement.view_requirement"
VIEW_RECORD = "engagement.view_engagementrecord"
VIEW_DOCUMENT = "engagement.view_document"
PAGE_SIZE = 50


def _posted(request: HttpRequest) -> Any:
    """The POST data to bind a form to; None on GET. (``request.POST or None`` would leave an empty POST
    unbound, so a form with only optional fields would never be validated nor saved.)"""
    return request.POST if request.method == "POST" else None


# A list row names this many of the classes that fit, then says how many more (the requirement's page has
# them all): a requirement may fit thousands of classes of a large catalogue.


# --- experiments ------------------------------------------------------------------------------------------
@permission_required(VIEW_EXPERIMENT, raise_exception=True)
def experiment_list(request: HttpRequest) -> HttpResponse:
    experiments = Experiment.objects.with_counts().prefetch_related("liaisons")
    return render(request, "engagement/experiment_list.html", {"experiments": experiments})


@permission_required(VIEW_EXPERIMENT, raise_exception=True)
def experiment_detail(request: HttpRequest, short_name: str) -> HttpResponse:
    experiment = get_object_or_404(
        Experiment.objects.prefetch_related(
            "liaisons",
            "contacts",
            Prefetch(
                "requirements",
                queryset=Requirement.objects.for_lists(),
            ),
            Prefetch("records", queryset=EngagementRecord.objects.prefetch_related("contacts")),
            Prefetch("documents", queryset=Document.objects.select_related("owner", "status_changed_by")),
        ),
        short_name=short_name,
    )
    user = request.user
    return render(
        request,
        "engagement/experiment_detail.html",
        {
            "experiment": experiment,
            "requirement_rows": requirement_rows(experiment.requirements.all(), ApprovedClasses.cached()),
            "can_change": user.has_perm("engagement.change_experiment"),
            "can_file": experiment.can_write_requirements(user),
            "can_edit_requirements": experiment.can_write_requirements(user, "change"),
            "can_add_record": experiment.can_write_engagement(user, "engagementrecord"),
            "can_edit_records": experiment.can_write_engagement(user, "engagementrecord", "change"),
            "can_add_document": experiment.can_write_engagement(user, "document"),
            "can_edit_documents": experiment.can_write_engagement(user, "document", "change"),
            "can_add_contact": experiment.can_write_engagement(user, "contact"),
            "can_edit_contacts": experiment.can_write_engagement(user, "contact", "change"),
        },
    )


@refuse_without("engagement.add_experiment", "Only coordinators create experiments.")
@require_http_methods(["GET", "POST"])
def experiment_create(request: HttpRequest) -> HttpResponse:
    form = ExperimentForm(_posted(request))
    if request.method == "POST" and form.is_valid():
        experiment = form.save()
        messages.success(request, f"Experiment {experiment} created.")
        return redirect(experiment)
    return render(request, "engagement/experiment_form.html", {"form": form, "experiment": None})


@refuse_without("engagement.change_experiment", "Only coordinators edit experiments and name their liaisons.")
@require_http_methods(["GET", "POST"])
def experiment_edit(request: HttpRequest, short_name: str) -> HttpResponse:
    experiment = get_object_or_404(Experiment, short_name=short_name)
    form = ExperimentForm(_posted(request), instance=experiment)
    if request.method == "POST" and form.is_valid():
        form.save()
        messages.success(request, f"Experiment {experiment} saved.")
        return redirect(experiment)
    return render(request, "engagement/experiment_form.html", {"form": form, "experiment": experiment})


# --- requirements -----------------------------------------------------------------------------------------
@permission_required(VIEW_REQUIREMENT, raise_exception=True)
def requirement_list(request: HttpRequest) -> HttpResponse:
    filterset = RequirementFilterSet(request.GET, queryset=Requirement.objects.for_lists())
    page = Paginator(filterset.qs, PAGE_SIZE).get_page(request.GET.get("page"))
    return render(
        request,
        "engagement/requirement_list.html",
        {
            "filter": filterset,
            "page": page,
            "rows": requirement_rows(page.object_list, ApprovedClasses.cached()),
            "can_file": Experiment.objects.requirements_writable_by(request.user).exists(),
        },
    )


@permission_required(VIEW_REQUIREMENT, raise_exception=True)
def requirement_gaps(request: HttpRequest) -> HttpResponse:
    """Requirements no approved class satisfies, each with the closest class and what it misses."""
    gaps = Requirement.objects.gaps().for_lists().order_by("needed_by", "created_at")
    page = Paginator(gaps, PAGE_SIZE).get_page(request.GET.get("page"))
    classes = ApprovedClasses.cached()
    # The closest class of each gap found against the index, then those classes loaded in one query.
    closest = {requirement: classes.closest_label(requirement) for requirement in page.object_list}
    by_label = StorageQoSClass.objects.in_bulk(
        [label for label in closest.values() if label], field_name="label"
    )
    rows = [
        {"requirement": requirement, "closest": match(requirement, by_label[label]) if label else None}
        for requirement, label in closest.items()
    ]
    return render(request, "engagement/requirement_gaps.html", {"page": page, "rows": rows})


@permission_required(VIEW_REQUIREMENT, raise_exception=True)
def requirement_coverage(request: HttpRequest) -> HttpResponse:
    """Accepted requirements whose linked classes have fewer RSEs in sync than the copies wanted in them."""
    at_risk = Requirement.objects.coverage_at_risk().for_lists().order_by("needed_by", "created_at")
    page = Paginator(at_risk, PAGE_SIZE).get_page(request.GET.get("page"))
    coverage = coverage_by_requirement(page.object_list)
    rows = [{"requirement": r, "coverage": coverage[r.pk]} for r in page.object_list]
    return render(
        request,
        "engagement/requirement_coverage.html",
        {"page": page, "rows": rows, "conforming_only": counts_conforming_only()},
    )


@require_http_methods(["GET", "POST"])
def requirement_create(request: HttpRequest, short_name: str | None = None) -> HttpResponse:
    """File a requirement: for the experiment in the URL, or one the user chooses among theirs."""
    experiment = None
    if short_name is not None:
        experiment = get_object_or_404(Experiment, short_name=short_name)
        if not experiment.can_write_requirements(request.user):
            raise PermissionDenied(experiment.requirements_refusal())
        choices = None
    else:
        choices = Experiment.objects.requirements_writable_by(request.user)
        if not choices.exists():
            raise PermissionDenied(
                "Only experiments' liaisons file requirements, each for their own experiments."
            )
        asked = Experiment.objects.filter(short_name=request.POST.get("experiment", "")).first()
        if asked is not None and not asked.can_write_requirements(request.user):
            # Someone else's experiment: refused like its own page, not as a mere invalid choice.
            raise PermissionDenied(asked.requirements_refusal())
    initial = {"experiment": request.GET.get("experiment")} if choices is not None else None
    form = RequirementForm(
        _posted(request),
        instance=Requirement(experiment=experiment) if experiment else None,
        experiments=choices,
        initial=initial,
    )
    if request.method == "POST" and form.is_valid():
        with refusal_shown_on(form):
            requirement = Requirement.objects.file(
                by=request.user,
                experiment=experiment or form.cleaned_data["experiment"],
                comment=form.cleaned_data["comment"],
                **form.needs(),
            )
            messages.success(request, f"Requirement filed for {requirement.experiment}.")
            return redirect(requirement)
    return render(
        request,
        "engagement/requirement_form.html",
        {"form": form, "experiment": experiment, "requirement": None},
    )


def _detail_context(request: HttpRequest, requirement: Requirement) -> dict[str, Any]:
    user = request.user
    matches = requirement.matches()
    # Prefetched, so that the gap rule (ApprovedClasses.is_gap) reads the same links as the page shows.
    prefetch_related_objects(
        [requirement], Prefetch("links", queryset=ClassLink.objects.select_related("qos_class", "linked_by"))
    )
    links = list(requirement.links.all())
    coverage = coverage_of_links(links)
    return {
        "requirement": requirement,
        "matches": matches,
        "fitting": [m for m in matches if m.fits],
        "links": links,
        "coverage": coverage,
        "coverage_short": [line for line in coverage if line.short],
        "conforming_only": counts_conforming_only(),
        "coverage_at_risk": requirement.is_committed and any(line.short for line in coverage),
        "rules": suggest_rules(requirement.volume_tb, links),
        "is_gap": ApprovedClasses.cached().is_gap(requirement),
        "events": requirement.events.select_related("author", "qos_class"),
        "comments": requirement.comments.select_related("author"),
        "can_edit": requirement.is_editable and requirement.can_edit(user),
        "can_review": requirement.can_review(user),
        "can_comment": requirement.can_comment(user),
        "transitions": [t for t in requirement.available_transitions() if requirement.can_take(t, user)],
        "comment_form": CommentForm(),
        "link_form": LinkClassForm(),
    }


def _requirement_if(
    request: HttpRequest,
    pk: int,
    may: Callable[[Requirement, Any], bool],
    refusal: Callable[[Requirement], str],
) -> Requirement:
    """The requirement ``pk`` if ``may(requirement, user)`` says this user may do what they ask; if not, 403
    with ``refusal(requirement)``, the reason in the users' words."""
    requirement = get_object_or_404(Requirement.objects.select_related("experiment", "filed_by"), pk=pk)
    if not may(requirement, request.user):
        raise PermissionDenied(refusal(requirement))
    return requirement


def _detail_refused(request: HttpRequest, requirement: Requirement, **forms: Any) -> HttpResponse:
    """The requirement's page again (400), with the form that was sent and why it was refused."""
    context = _detail_context(request, requirement) | forms
    return render(request, "engagement/requirement_detail.html", context, status=400)


@permission_required(VIEW_REQUIREMENT, raise_exception=True)
def requirement_detail(request: HttpRequest, pk: int) -> HttpResponse:
    requirement = get_object_or_404(Requirement.objects.select_related("experiment", "filed_by"), pk=pk)
    return render(request, "engagement/requirement_detail.html", _detail_context(request, requirement))


@require_http_methods(["GET", "POST"])
def requirement_edit(request: HttpRequest, pk: int) -> HttpResponse:
    requirement = _requirement_if(request, pk, Requirement.can_edit, Requirement.edit_refusal)
    form = RequirementForm(_posted(request), instance=requirement)
    if request.method == "POST" and form.is_valid():
        with refusal_shown_on(form):
            requirement.edit(by=request.user, changes=form.needs(), comment=form.cleaned_data["comment"])
            messages.success(request, "Requirement saved.")
            return redirect(requirement)
    return render(
        request,
        "engagement/requirement_form.html",
        {"form": form, "experiment": requirement.experiment, "requirement": requirement},
    )


@require_http_methods(["GET", "POST"])
def requirement_transition(request: HttpRequest, pk: int, action: str) -> HttpResponse:
    """Confirm (GET) and take (POST) one step of a requirement's lifecycle."""
    transition = TRANSITIONS.get(action)
    if transition is None:
        raise Http404
    requirement = _requirement_if(
        request,
        pk,
        lambda requirement, user: requirement.can_take(transition, user),
        lambda requirement: requirement.refusal_of(transition),
    )
    form = TransitionForm(_posted(request), reason_required=transition.reason_required)
    if request.method == "POST" and form.is_valid():
        with refusal_shown_on(form):
            requirement.take(action, by=request.user, comment=form.cleaned_data["comment"])
            messages.success(request, f"Requirement {transition.done}.")
            return redirect(requirement)
    return render(
        request,
        "engagement/requirement_transition.html",
        {
            "requirement": requirement,
            "transition": transition,
            "form": form,
            "applies": requirement.status in transition.sources,
        },
    )


@require_POST
def requirement_comment(request: HttpRequest, pk: int) -> HttpResponse:
    requirement = _requirement_if(request, pk, Requirement.can_comment, Requirement.comment_refusal)
    form = CommentForm(request.POST)
    if form.is_valid():
        requirement.add_comment(by=request.user, text=form.cleaned_data["text"])
        messages.success(request, "Comment added.")
        return redirect(f"{requirement.get_absolute_url()}#comments")
    return _detail_refused(request, requirement, comment_form=form)


@require_POST
def requirement_link(request: HttpRequest, pk: int) -> HttpResponse:
    requirement = _requirement_if(request, pk, Requirement.can_review, lambda requirement: REVIEW_REFUSAL)
    form = LinkClassForm(request.POST)
    if form.is_valid():
        qos_class = form.cleaned_data["qos_class"]
        with refusal_shown_on(form):
            link = requirement.link_class(
                qos_class, by=request.user, note=form.cleaned_data["note"], copies=form.cleaned_data["copies"]
            )
            wanted = f": {link.copies} copies wanted in it" if link.copies > 1 else ""
            messages.success(request, f"{qos_class.label} linked to this requirement{wanted}.")
            return redirect(f"{requirement.get_absolute_url()}#classes")
    return _detail_refused(request, requirement, link_form=form)


@require_POST
def requirement_unlink(request: HttpRequest, pk: int, label: str) -> HttpResponse:
    requirement = _requirement_if(request, pk, Requirement.can_review, lambda requirement: REVIEW_REFUSAL)
    qos_class = get_object_or_404(StorageQoSClass, label=label)
    try:
        requirement.unlink_class(qos_class, by=request.user)
    except ValidationError as error:
        messages.error(request, " ".join(error.messages))
    else:
        messages.success(request, f"{label} unlinked from this requirement.")
    return redirect(f"{requirement.get_absolute_url()}#classes")


# --- records, documents, contacts ---------------------------------------------------------------------
@permission_required(VIEW_RECORD, raise_exception=True)
def record_list(request: HttpRequest) -> HttpResponse:
    filterset = EngagementRecordFilterSet(
        request.GET,
        queryset=EngagementRecord.objects.select_related("experiment").prefetch_related("contacts"),
    )
    return _experiment_item_list(request, filterset, "engagementrecord", "engagement/record_list.html")


@permission_required(VIEW_DOCUMENT, raise_exception=True)
def document_list(request: HttpRequest) -> HttpResponse:
    filterset = DocumentFilterSet(
        request.GET,
        queryset=Document.objects.select_related("experiment", "owner", "status_changed_by"),
    )
    return _experiment_item_list(request, filterset, "document", "engagement/document_list.html")


def _experiment_item_list(
    request: HttpRequest, filterset: FilterSet, model_name: str, template_name: str
) -> HttpResponse:
    """A page of records or documents of every experiment; ``editable``: the experiments whose items
    (``model_name``) this user may change, so that only their rows get an edit link."""
    page = Paginator(filterset.qs, PAGE_SIZE).get_page(request.GET.get("page"))
    editable = set(
        Experiment.objects.engagement_writable_by(request.user, model_name, "change").values_list(
            "pk", flat=True
        )
    )
    return render(request, template_name, {"filter": filterset, "page": page, "editable": editable})


def _experiment_item_form(
    request: HttpRequest,
    short_name: str,
    form_class: type[ModelForm],
    anchor: str,
    pk: int | None = None,
) -> HttpResponse:
    """Add (no ``pk``) or change a record, document or contact of an experiment."""
    experiment = get_object_or_404(Experiment, short_name=short_name)
    model = form_class._meta.model
    model_name = model._meta.model_name
    if pk is None:
        if not experiment.can_write_engagement(request.user, model_name, "add"):
            raise PermissionDenied(experiment.engagement_refusal(model_name))
        instance = model(experiment=experiment)
    else:
        instance = get_object_or_404(model, pk=pk, experiment=experiment)
        instance.experiment = experiment
        if not instance.can_edit(request.user):
            raise PermissionDenied(instance.edit_refusal())
    form = form_class(_posted(request), instance=instance)
    if request.method == "POST" and form.is_valid():
        item = form.save(commit=False)
        if pk is None and hasattr(item, "created_by_id"):
            item.created_by = request.user
        item.save_by(request.user)
        form.save_m2m()
        noun = model._meta.verbose_name
        messages.success(request, f"{noun.capitalize()} {'added' if pk is None else 'saved'}: {item}.")
        return redirect(f"{experiment.get_absolute_url()}#{anchor}")
    return render(
        request,
        "engagement/item_form.html",
        {
            "form": form,
            "experiment": experiment,
            "noun": model._meta.verbose_name,
            "adding": pk is None,
            "anchor": anchor,
        },
    )


@require_http_methods(["GET", "POST"])
def record_form(request: HttpRequest, short_name: str, pk: int | None = None) -> HttpResponse:
    return _experiment_item_form(request, short_name, EngagementRecordForm, "records", pk)


@require_http_methods(["GET", "POST"])
def document_form(request: HttpRequest, short_name: str, pk: int | None = None) -> HttpResponse:
    return _experiment_item_form(request, short_name, DocumentForm, "documents", pk)


@require_http_methods(["GET", "POST"])
def contact_form(request: HttpRequest, short_name: str, pk: int | None = None) -> HttpResponse:
    return _experiment_item_form(request, short_name, ContactForm, "contacts", pk)
