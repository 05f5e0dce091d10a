"""Pages of stream coordination: meetings (timetable, attendees, minutes, attachments), actions, people,
calendar feeds and exports. Thin: the rules live on the models (``Meeting.create_next``,
``Action.record_update``...), the outside world in ``indico.py`` and ``exports.py``."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_not_required, permission_required
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.db import transaction
from django.db.models import F, Prefetch, Q
from django.db.models.functions import Coalesce
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.cache import patch_cache_control
from django.utils.functional import SimpleLazyObject
from django.views.decorators.http import require_http_methods, require_POST

from common import uploads
from common.errors import refusal_shown_on
from common.links import is_https_link, same_site_target
from common.page_cache import page_cache

from . import exports, indico
from .choices import OPEN_ACTION_STATUSES, ActionStatus
from .filters import ActionFilterSet, MeetingFilterSet
from .forms import (
    ActionForm,
    ActionUpdateForm,
    AttachmentForm,
    IndicoImportForm,
    MeetingForm,
    MeetingSeriesForm,
    MinutesForm,
    NextMeetingForm,
    PersonForm,
    TimetableFormSet,
    TimeZoneForm,
)
from .models import (
    Action,
    ActionUpdate,
    Meeting,
    MeetingAttachment,
    MeetingSeries,
    Person,
    Stream,
    known_time_zones,
)

VIEW_MEETING = "meetings.view_meeting"
ADD_MEETING = "meetings.add_meeting"
CHANGE_MEETING = "meetings.change_meeting"
ADD_SERIES = "meetings.add_meetingseries"
VIEW_ACTION = "meetings.view_action"
ADD_ACTION = "meetings.add_action"
CHANGE_ACTION = "meetings.change_action"
VIEW_PERSON = "meetings.view_person"
ADD_PERSON = "meetings.add_person"
CHANGE_PERSON = "meetings.change_person"

TIME_ZONE_SESSION_KEY = "portal_time_zone"


# --- the viewer's time zone ----------------------------------------------------------------------------------
def viewer_time_zone(request: HttpRequest) -> str:
    """The zone this viewer chose to see times in (kept in their session), else the site's."""
    chosen = request.session.get(TIME_ZONE_SESSION_KEY)
    return chosen if chosen in known_time_zones() else settings.TIME_ZONE


@require_POST
def set_time_zone(request: HttpRequest) -> HttpResponse:
    form = TimeZoneForm(request.POST)
    target = same_site_target(request, request.POST.get("next"), reverse("meetings:meeting-list"))
    if form.is_valid():
        request.session[TIME_ZONE_SESSION_KEY] = form.cleaned_data["time_zone"]
        messages.success(request, f"Times are now also shown in {form.cleaned_data['time_zone']}.")
    else:
        messages.error(request, "Unknown time zone: use an IANA name such as America/Chicago.")
    return redirect(target)


def _base_url(request: HttpRequest) -> str:
    return request.build_absolute_uri("/").rstrip("/")


# --- meetings ------------------------------------------------------------------------------------------------
@permission_required(VIEW_MEETING, raise_exception=True)
def meeting_list(request: HttpRequest) -> HttpResponse:
    meetings = Meeting.objects.select_related("series").with_counts()
    filterset = MeetingFilterSet(request.GET, queryset=meetings)
    page = Paginator(filterset.qs, 50).get_page(request.GET.get("page"))
    viewer_zone = viewer_time_zone(request)
    return render(
        request,
        "meetings/meeting_list.html",
        {
            "filter": filterset,
            "page": page,
            "series_feeds": [
                (series, series_feed_url(request, series)) for series in MeetingSeries.objects.all()
            ],
            "next_meeting": Meeting.objects.upcoming().select_related("series").first(),
            # A "your time" column only when it would say something the meeting's own clock does not.
            "viewer_zone": viewer_zone
            if any(meeting.time_zone != viewer_zone for meeting in page.object_list)
            else None,
            "time_zone_form": TimeZoneForm(initial={"time_zone": viewer_zone}),
        },
    )


def _meeting_or_404(pk: int) -> Meeting:
    return get_object_or_404(Meeting.objects.select_related("series"), pk=pk)


@permission_required(VIEW_MEETING, raise_exception=True)
def meeting_detail(request: HttpRequest, pk: int) -> HttpResponse:
    meeting = _meeting_or_404(pk)
    return render(request, "meetings/meeting_detail.html", _meeting_context(request, meeting))


def _meeting_context(request: HttpRequest, meeting: Meeting) -> dict[str, Any]:
    """Everything the meeting page and its printable view show, in a fixed number of queries."""
    items = list(meeting.timetable_items.select_related("speaker", "stream"))
    children: dict[int, list] = defaultdict(list)
    for item in items:
        if item.parent_id:
            children[item.parent_id].append(item)
    timetable = [(item, children[item.pk]) for item in items if item.parent_id is None]
    updates_here = Prefetch(
        "action__updates",
        queryset=ActionUpdate.objects.filter(meeting=meeting).select_related("author"),
        to_attr="updates_at_meeting",
    )
    reviews = list(
        meeting.action_reviews.select_related("action__stream", "action__raised_at").prefetch_related(
            "action__owners__user", updates_here
        )
    )
    raised = list(meeting.actions_raised.with_related().order_by("pk"))
    user = request.user
    can_change = user.has_perm(CHANGE_MEETING)
    for action in [review.action for review in reviews] + raised:
        action.user_can_update = can_change or action.can_be_updated_by(user)
    viewer_zone = viewer_time_zone(request)
    return {
        "meeting": meeting,
        "timetable": timetable,
        "attendees": list(meeting.attendees.all()),
        "sections": list(meeting.minutes_sections.select_related("stream")),
        "attachments": list(meeting.attachments.defer("data")),
        "raised": raised,
        "reviewed": [review.action for review in reviews],
        "previous": meeting.previous_meeting(),
        "following": meeting.next_meeting(),
        "missing_reviews": meeting.open_actions_to_review().exclude(reviews__meeting=meeting).count()
        if can_change
        else 0,
        "can_change": can_change,
        "can_add": user.has_perm(ADD_MEETING),
        "viewer_zone": viewer_zone,
        "viewer_zone_differs": viewer_zone != meeting.time_zone,
        "time_zone_form": TimeZoneForm(initial={"time_zone": viewer_zone, "next": request.get_full_path()}),
    }


@permission_required(ADD_MEETING, raise_exception=True)
@require_http_methods(["GET", "POST"])
def meeting_create(request: HttpRequest) -> HttpResponse:
    if not MeetingSeries.objects.exists():
        messages.info(request, "Meetings belong to a series: create the series first.")
        return redirect("meetings:series-create")
    form = MeetingForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        meeting = Meeting.objects.create_with_agenda(by=request.user, **form.meeting_fields())
        carried = meeting.action_reviews.count()
        messages.success(request, f"Meeting of {meeting.local_date:%Y-%m-%d} created; {_carried(carried)}.")
        return redirect(meeting)
    return render(request, "meetings/meeting_form.html", {"form": form, "meeting": None})


def _carried(count: int) -> str:
    if count == 0:
        return "no open action to carry over"
    return f"{count} open action{'s' if count != 1 else ''} carried onto its agenda"


@permission_required(CHANGE_MEETING, raise_exception=True)
@require_http_methods(["GET", "POST"])
def meeting_edit(request: HttpRequest, pk: int) -> HttpResponse:
    meeting = _meeting_or_404(pk)
    form = MeetingForm(request.POST or None, instance=meeting)
    if request.method == "POST" and form.is_valid():
        form.save()
        messages.success(request, "Meeting saved.")
        return redirect(meeting)
    return render(request, "meetings/meeting_form.html", {"form": form, "meeting": meeting})


@permission_required(ADD_MEETING, raise_exception=True)
@require_http_methods(["GET", "POST"])
def meeting_next(request: HttpRequest, pk: int) -> HttpResponse:
    """Propose the next meeting (+interval, same local time) and create it with the open actions carried."""
    meeting = _meeting_or_404(pk)
    proposed = meeting.proposed_next_start().astimezone(meeting.zone)
    form = NextMeetingForm(
        request.POST or None,
        initial={"date": proposed.date(), "time": proposed.time(), "time_zone": meeting.time_zone},
    )
    if request.method == "POST" and form.is_valid():
        with refusal_shown_on(form):
            following = meeting.create_next(by=request.user, starts_at=form.local_start())
            carried = following.action_reviews.count()
            messages.success(
                request, f"Meeting of {following.local_date:%Y-%m-%d} created; {_carried(carried)}."
            )
            return redirect(following)
    # What create_next will carry: every open action of the series up to this meeting, or of no meeting.
    to_carry = list(
        Action.objects.open()
        .filter(
            Q(raised_at__series=meeting.series, raised_at__starts_at__lte=meeting.starts_at)
            | Q(raised_at__isnull=True)
        )
        .with_related()
    )
    return render(
        request,
        "meetings/meeting_next.html",
        {"meeting": meeting, "form": form, "to_carry": to_carry, "following": meeting.next_meeting()},
    )


@permission_required(CHANGE_MEETING, raise_exception=True)
@require_POST
def meeting_carry_over(request: HttpRequest, pk: int) -> HttpResponse:
    meeting = _meeting_or_404(pk)
    carried = meeting.carry_over_open_actions()
    messages.success(request, _carried(carried).capitalize() + ".")
    return redirect(meeting)


@permission_required(CHANGE_MEETING, raise_exception=True)
@require_http_methods(["GET", "POST"])
def minutes_edit(request: HttpRequest, pk: int) -> HttpResponse:
    """Edit the minutes section by section; raise an action from here without losing what was typed."""
    meeting = _meeting_or_404(pk)
    sections = list(meeting.minutes_sections.select_related("stream"))
    form = MinutesForm(request.POST or None, meeting=meeting, sections=sections)
    raising = "raise" in request.POST
    if request.method == "POST" and form.is_valid() and raising:
        form.validate_action()
    if request.method == "POST" and form.is_valid():
        action = _save_minutes(request, meeting, form, raising)
        if action is None:
            messages.success(request, "Minutes saved.")
            return redirect(meeting)
        messages.success(
            request, f"Minutes saved; action #{action.pk} raised, due {action.due_date:%Y-%m-%d}."
        )
        return redirect("meetings:minutes-edit", pk=meeting.pk)
    return render(
        request,
        "meetings/minutes_form.html",
        {"meeting": meeting, "form": form, "raised": list(meeting.actions_raised.with_related())},
    )


def _save_minutes(request: HttpRequest, meeting: Meeting, form: MinutesForm, raising: bool) -> Action | None:
    """Save the minutes as typed; when raising, the action too, noted in its section: all or nothing."""
    with transaction.atomic():
        action = _raise_from_minutes(request, meeting, form) if raising else None
        meeting.save_minutes(by=request.user, bodies=form.bodies(noting=action))
    return action


def _raise_from_minutes(request: HttpRequest, meeting: Meeting, form: MinutesForm) -> Action:
    """The action typed below the minutes, in the stream of the section it is noted in unless one is given."""
    data = form.cleaned_data
    section = form.chosen_section()
    return meeting.raise_action(
        by=request.user,
        text=data["action_text"],
        owners=list(data["action_owners"]),
        stream=data["action_stream"] or (section.stream if section else None),
        due_date=data["action_due_date"],
    )


@permission_required(CHANGE_MEETING, raise_exception=True)
@require_http_methods(["GET", "POST"])
def timetable_edit(request: HttpRequest, pk: int) -> HttpResponse:
    meeting = _meeting_or_404(pk)
    # Each item followed by its sub-items, as the meeting's page shows them.
    in_order = meeting.timetable_items.select_related("speaker", "stream", "parent").order_by(
        Coalesce("parent__position", "position"),
        Coalesce("parent_id", "id"),
        F("parent_id").asc(nulls_first=True),
        "position",
        "pk",
    )
    formset = TimetableFormSet(request.POST or None, queryset=in_order, meeting=meeting)
    if request.method == "POST" and formset.is_valid():
        with transaction.atomic():
            items = formset.save(commit=False)
            for item in items:
                item.meeting = meeting
                item.save()
            for item in formset.deleted_objects:
                item.delete()
        messages.success(request, "Timetable saved.")
        return redirect(meeting)
    return render(request, "meetings/timetable_form.html", {"meeting": meeting, "formset": formset})


@permission_required(CHANGE_MEETING, raise_exception=True)
@require_http_methods(["GET", "POST"])
def indico_import(request: HttpRequest, pk: int) -> HttpResponse:
    meeting = _meeting_or_404(pk)
    form = IndicoImportForm(request.POST or None, request.FILES or None)
    if request.method == "POST" and form.is_valid():
        try:
            if form.cleaned_data["file"]:
                data = form.cleaned_data["file"].read()
            else:
                data = indico.fetch_export(form.cleaned_data["url"])
            count = indico.import_timetable(meeting, indico.parse_export(data))
        except indico.IndicoImportError as error:
            form.add_error(None, str(error))
        else:
            messages.success(request, f"Timetable imported from Indico: {count} items.")
            return redirect(meeting)
    return render(request, "meetings/indico_import.html", {"meeting": meeting, "form": form})


@permission_required(CHANGE_MEETING, raise_exception=True)
@require_http_methods(["GET", "POST"])
def attachment_add(request: HttpRequest, pk: int) -> HttpResponse:
    meeting = _meeting_or_404(pk)
    form = AttachmentForm(request.POST or None, request.FILES or None)
    if request.method == "POST" and form.is_valid():
        upload = form.cleaned_data["file"]
        attachment = MeetingAttachment(
            meeting=meeting, title=form.cleaned_data["title"], added_by=request.user
        )
        if upload is not None:
            attachment.file_name = _short_name(upload.name)
            # What the portal found the file to be, never what the uploader's browser claimed.
            attachment.content_type = form.file_type.content_type
            attachment.data = upload.read()
            attachment.size = len(attachment.data)
        else:
            attachment.url = form.cleaned_data["url"]
        attachment.save()
        messages.success(request, f"“{attachment.title}” attached.")
        return redirect(meeting)
    return render(request, "meetings/attachment_form.html", {"meeting": meeting, "form": form})


def _short_name(name: str, length: int = 200) -> str:
    """The file name cut to fit its column, keeping the extension (an accepted one, so short) it is served by."""
    if len(name) <= length:
        return name
    stem, _, extension = name.rpartition(".")
    return f"{stem[: length - len(extension) - 1]}.{extension}"


@permission_required(VIEW_MEETING, raise_exception=True)
def attachment_download(request: HttpRequest, pk: int) -> HttpResponse:
    attachment = get_object_or_404(MeetingAttachment, pk=pk)
    if not attachment.is_file:
        if not is_https_link(attachment.url):
            # Stored before links had to be https: the page shows it as text, and the portal does not lead there.
            raise Http404("This link is not an https address.")
        return redirect(attachment.url)
    # Always a download, never shown inline: an uploaded HTML or SVG file must not run in the portal's origin.
    return uploads.download_response(bytes(attachment.data), attachment.file_name)


def _disposition(file_name: str) -> str:
    from django.utils.http import content_disposition_header

    return content_disposition_header(as_attachment=True, filename=file_name)


@permission_required(VIEW_MEETING, raise_exception=True)
def meeting_print(request: HttpRequest, pk: int) -> HttpResponse:
    meeting = _meeting_or_404(pk)
    return render(request, "meetings/meeting_print.html", _meeting_context(request, meeting))


@permission_required(VIEW_MEETING, raise_exception=True)
def meeting_markdown(request: HttpRequest, pk: int) -> HttpResponse:
    meeting = _meeting_or_404(pk)
    response = HttpResponse(
        exports.minutes_markdown(meeting, _base_url(request)), content_type="text/markdown; charset=utf-8"
    )
    response["Content-Disposition"] = _disposition(f"minutes-{meeting.local_date:%Y-%m-%d}.md")
    return response


@permission_required(ADD_SERIES, raise_exception=True)
@require_http_methods(["GET", "POST"])
def series_create(request: HttpRequest) -> HttpResponse:
    form = MeetingSeriesForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        series = form.save()
        messages.success(request, f"Series “{series.name}” created. Now create its first meeting.")
        return redirect("meetings:meeting-create")
    return render(request, "meetings/series_form.html", {"form": form})


# --- calendars ------------------------------------------------------------------------------------------------
def _ics(content: bytes, name: str) -> HttpResponse:
    response = HttpResponse(content, content_type="text/calendar; charset=utf-8")
    response["Content-Disposition"] = f'inline; filename="{name}.ics"'
    return response


def _series_ics(request: HttpRequest, series: MeetingSeries) -> HttpResponse:
    meetings = series.meetings.prefetch_related("timetable_items").order_by("starts_at")
    return _ics(exports.series_calendar(series, meetings, _base_url(request)), series.slug)


def _person_ics(request: HttpRequest, person: Person) -> HttpResponse:
    actions = Action.objects.open().filter(owners=person).order_by("due_date", "pk")
    return _ics(exports.person_calendar(person, actions, _base_url(request)), f"actions-{person.pk}")


@permission_required(VIEW_MEETING, raise_exception=True)
def series_calendar(request: HttpRequest, slug: str) -> HttpResponse:
    return _series_ics(request, get_object_or_404(MeetingSeries, slug=slug))


@permission_required(VIEW_ACTION, raise_exception=True)
def person_calendar(request: HttpRequest, pk: int) -> HttpResponse:
    return _person_ics(request, get_object_or_404(Person, pk=pk))


@login_not_required
def calendar_feed(request: HttpRequest, token: str) -> HttpResponse:
    """A feed for calendar clients, which cannot log in: the signed token in the address names the feed."""
    found = exports.read_feed_token(token)
    if found is None:
        raise Http404("No such calendar.")
    kind, key = found
    if kind == "series":
        response = _series_ics(request, get_object_or_404(MeetingSeries, slug=key))
    elif kind == "person" and (person := exports.person_of_feed(key)) is not None:
        response = _person_ics(request, person)
    else:
        raise Http404("No such calendar.")
    # The address is the secret: no shared cache may keep the feed and hand it to whoever asks for it.
    patch_cache_control(response, private=True)
    return response


# --- actions --------------------------------------------------------------------------------------------------
BOARD_COLUMNS = [ActionStatus.OPEN, ActionStatus.IN_PROGRESS, ActionStatus.DONE, ActionStatus.DROPPED]
BOARD_PAGE_SIZE = 100


# What the board shows: the actions, their owners and streams.
BOARD_TABLES = "portal_action portal_action_owners portal_person portal_stream"


@page_cache(BOARD_TABLES)
@permission_required(VIEW_ACTION, raise_exception=True)
def action_list(request: HttpRequest) -> HttpResponse:
    """The actions board: one row per stream, one column per status. Open ones only unless asked."""
    params = request.GET.copy()
    if "status" not in params and not params.get("all"):
        params.setlist("status", list(OPEN_ACTION_STATUSES))
    # Lazy, as the board below: rendered from the table cache, the page makes none of them.
    filterset = SimpleLazyObject(
        lambda: ActionFilterSet(params, queryset=Action.objects.for_board(), request=request)
    )

    def shown_columns() -> list[ActionStatus]:
        shown = (
            [ActionStatus(s) for s in filterset.form.cleaned_data.get("status") or BOARD_COLUMNS]
            if filterset.is_valid()
            else BOARD_COLUMNS
        )
        return [status for status in BOARD_COLUMNS if status in shown]

    columns = SimpleLazyObject(shown_columns)

    def board() -> dict[str, Any]:
        # A page of the board at a time, soonest due first: a large portal has thousands of open actions.
        page = Paginator(
            filterset.qs if filterset.is_valid() else Action.objects.none(), BOARD_PAGE_SIZE
        ).get_page(request.GET.get("page"))
        cells: dict[tuple[int | None, str], list[Action]] = defaultdict(list)
        for action in page.object_list:
            cells[(action.stream_id, action.status)].append(action)
        # Each cell with its status: on a phone the columns' headings are gone and each cell says it.
        rows = [
            (stream, [(status, cells[(stream.pk, status)]) for status in columns])
            for stream in Stream.objects.all()
        ]
        if any(cells[(None, status)] for status in columns):
            rows.append((None, [(status, cells[(None, status)]) for status in columns]))
        return {"rows": rows, "count": page.paginator.count, "page": page}

    return render(
        request,
        "meetings/action_board.html",
        {
            "filter": filterset,
            "columns": columns,
            # Lazy: the board is rendered from the table cache until an action changes ({% tablecache %}).
            "board": SimpleLazyObject(board),
            "today": timezone.localdate(),
            "tables": BOARD_TABLES,
        },
    )


def _action_or_404(pk: int) -> Action:
    return get_object_or_404(Action.objects.with_related(), pk=pk)


@permission_required(VIEW_ACTION, raise_exception=True)
@require_http_methods(["GET", "POST"])
def action_detail(request: HttpRequest, pk: int) -> HttpResponse:
    """An action and its log; its owners and the coordinators report progress here (POST)."""
    action = _action_or_404(pk)
    can_update = action.can_be_updated_by(request.user)
    meeting = None
    meeting_pk = request.GET.get("meeting") or request.POST.get("meeting")
    if meeting_pk and str(meeting_pk).isdigit():
        meeting = Meeting.objects.filter(pk=meeting_pk).first()
    form = ActionUpdateForm(request.POST or None, action=action, initial={"meeting": meeting})
    if request.method == "POST":
        if not can_update:
            raise PermissionDenied("Only the action's owners and the coordinators may update it.")
        if form.is_valid():
            with refusal_shown_on(form):
                action.record_update(
                    by=request.user,
                    text=form.cleaned_data["text"],
                    status=form.cleaned_data["status"],
                    meeting=form.cleaned_data["meeting"],
                )
                messages.success(
                    request, f"Action #{action.pk} updated: {action.get_status_display().lower()}."
                )
                return redirect(meeting or action)
    return render(
        request,
        "meetings/action_detail.html",
        {
            "action": action,
            "updates": list(action.updates.select_related("author", "meeting")),
            "reviews": list(action.reviews.select_related("meeting").order_by("meeting__starts_at")),
            "form": form if can_update else None,
            "meeting": meeting,
            "can_edit": request.user.has_perm(CHANGE_ACTION),
        },
    )


@permission_required(ADD_ACTION, raise_exception=True)
@require_http_methods(["GET", "POST"])
def action_create(request: HttpRequest) -> HttpResponse:
    initial: dict[str, Any] = {}
    meeting_pk = request.GET.get("meeting")
    if meeting_pk and meeting_pk.isdigit():
        meeting = Meeting.objects.filter(pk=meeting_pk).first()
        if meeting is not None:
            initial = {"raised_at": meeting.pk, "due_date": meeting.default_due_date()}
    # A liaison of one experiment raises actions about it: chosen for them (they may still change it).
    experiments = list(request.user.liaison_experiments.values_list("pk", flat=True)[:2])
    if len(experiments) == 1:
        initial["experiment"] = experiments[0]
    form = ActionForm(request.POST or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        fields = {name: data[name] for name in ("stream", "due_date", "qos_class", "experiment")}
        with refusal_shown_on(form):
            if data["raised_at"] is not None:
                action = data["raised_at"].raise_action(
                    by=request.user, text=data["text"], owners=list(data["owners"]), **fields
                )
            else:
                action = Action.objects.create_action(
                    by=request.user, text=data["text"], owners=list(data["owners"]), **fields
                )
            messages.success(request, f"Action #{action.pk} raised.")
            return redirect(action)
    return render(request, "meetings/action_form.html", {"form": form, "action": None})


@permission_required(CHANGE_ACTION, raise_exception=True)
@require_http_methods(["GET", "POST"])
def action_edit(request: HttpRequest, pk: int) -> HttpResponse:
    action = _action_or_404(pk)
    before = action.snapshot()
    form = ActionForm(request.POST or None, instance=action)
    if request.method == "POST" and form.is_valid():
        with transaction.atomic():
            form.save()
            action.refresh_from_db()
            update = action.record_edit(by=request.user, before=before, note=form.cleaned_data["note"])
        messages.success(request, f"Action #{action.pk} saved." if update else "Nothing was changed.")
        return redirect(action)
    return render(request, "meetings/action_form.html", {"form": form, "action": action})


# --- people -------------------------------------------------------------------------------------------------
@permission_required(VIEW_PERSON, raise_exception=True)
def person_list(request: HttpRequest) -> HttpResponse:
    people = Person.objects.select_related("user").prefetch_related("led_streams")
    page = Paginator(people, 100).get_page(request.GET.get("page"))
    return render(request, "meetings/person_list.html", {"page": page})


@permission_required(VIEW_PERSON, raise_exception=True)
def person_detail(request: HttpRequest, pk: int) -> HttpResponse:
    person = get_object_or_404(Person.objects.select_related("user"), pk=pk)
    actions = list(person.actions.with_related().order_by("status", "due_date", "pk"))
    may_see_feed = person.may_manage_calendar(request.user)
    return render(
        request,
        "meetings/person_detail.html",
        {
            "person": person,
            "open_actions": [a for a in actions if a.is_open],
            "closed_actions": [a for a in actions if not a.is_open],
            "meetings": list(person.meetings_attended.select_related("series").order_by("-starts_at")[:20]),
            # The secret feed address is shown only to the person and to coordinators.
            "feed_url": person_feed_url(request, person) if may_see_feed else None,
        },
    )


@require_POST
def person_calendar_address(request: HttpRequest, pk: int) -> HttpResponse:
    """A new secret calendar address for the person: the one given out so far stops working (e.g. leaked)."""
    person = get_object_or_404(Person, pk=pk)
    if not person.may_manage_calendar(request.user):
        raise PermissionDenied("Only the person and the coordinators may renew their calendar address.")
    person.renew_calendar_secret()
    messages.success(
        request, "New calendar address made: the old one no longer works. Subscribe to the one below instead."
    )
    return redirect(person)


@permission_required(ADD_PERSON, raise_exception=True)
@require_http_methods(["GET", "POST"])
def person_create(request: HttpRequest) -> HttpResponse:
    form = PersonForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        person = form.save()
        messages.success(request, f"{person} added.")
        return redirect(person)
    return render(request, "meetings/person_form.html", {"form": form, "person": None})


@permission_required(CHANGE_PERSON, raise_exception=True)
@require_http_methods(["GET", "POST"])
def person_edit(request: HttpRequest, pk: int) -> HttpResponse:
    person = get_object_or_404(Person, pk=pk)
    form = PersonForm(request.POST or None, instance=person)
    if request.method == "POST" and form.is_valid():
        form.save()
        messages.success(request, f"{person} saved.")
        return redirect(person)
    return render(request, "meetings/person_form.html", {"form": form, "person": person})


def person_feed_url(request: HttpRequest, person: Person) -> str:
    return request.build_absolute_uri(
        reverse("meetings:calendar-feed", args=[exports.person_feed_token(person)])
    )


def series_feed_url(request: HttpRequest, series: MeetingSeries) -> str:
    return request.build_absolute_uri(
        reverse("meetings:calendar-feed", args=[exports.feed_token("series", series.slug)])
    )
