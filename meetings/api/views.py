"""API of stream coordination: streams, people, meetings (timetable, minutes) and actions."""

from __future__ import annotations

import datetime

import django_filters
from django.db.models import Prefetch
from django.urls import reverse
from django.utils import timezone
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import PermissionDenied
from rest_framework.response import Response

from common.api.cached_lists import TableCachedListMixin
from common.api.schema import CONFLICT
from common.api.viewsets import WritableViewSet

from .. import exports
from ..filters import ActionFilterSet, MeetingFilterSet
from ..models import Action, Meeting, Person, Stream, TimetableItem
from .serializers import (
    ActionProgressSerializer,
    ActionSerializer,
    ActionUpdateSerializer,
    CalendarAddressSerializer,
    MeetingSerializer,
    MinutesSectionSerializer,
    MinutesUpdateSerializer,
    NextMeetingSerializer,
    PersonSerializer,
    StreamSerializer,
)


class StreamViewSet(viewsets.ReadOnlyModelViewSet):
    """The task group's streams, looked up by letter (``/streams/A/``)."""

    queryset = Stream.objects.prefetch_related("leads__user")
    serializer_class = StreamSerializer
    lookup_field = "letter"
    filterset_class = None
    pagination_class = None


class PersonFilterSet(django_filters.FilterSet):
    name = django_filters.CharFilter(lookup_expr="icontains")
    username = django_filters.CharFilter(field_name="user__username")

    class Meta:
        model = Person
        fields = ["name", "username"]


class PersonViewSet(WritableViewSet):
    """Attendees and action owners; ``username`` links a person to their portal account."""

    queryset = Person.objects.select_related("user")
    serializer_class = PersonSerializer
    filterset_class = PersonFilterSet
    ordering_fields = ["name", "affiliation"]
    # Who may renew is decided per person (Person.may_manage_calendar): the person themselves, or coordinators.
    action_permissions = {"rotate_calendar": ["meetings.view_person"]}

    @extend_schema(request=None, responses=CalendarAddressSerializer)
    @action(detail=True, methods=["post"], url_path="rotate-calendar", filterset_class=None)
    def rotate_calendar(self, request, pk=None):
        """A new secret address for the person's calendar feed; the old one stops working at once. The person
        themselves and coordinators only."""
        person = self.get_object()
        if not person.may_manage_calendar(request.user):
            raise PermissionDenied("Only the person and the coordinators may renew their calendar address.")
        person.renew_calendar_secret()
        token = exports.person_feed_token(person)
        return Response(
            {
                "detail": "New calendar address made: the old one no longer works.",
                "calendar_url": request.build_absolute_uri(reverse("meetings:calendar-feed", args=[token])),
            }
        )


class MeetingViewSet(WritableViewSet):
    """Meetings with their timetable, attendees, minutes and actions (ids). Never deleted."""

    queryset = Meeting.objects.select_related("series").prefetch_related(
        "attendees",
        Prefetch("timetable_items", queryset=TimetableItem.objects.select_related("speaker__user", "stream")),
        "minutes_sections__stream",
        "actions_raised",
        "action_reviews",
    )
    serializer_class = MeetingSerializer
    filterset_class = MeetingFilterSet
    ordering_fields = ["starts_at"]
    action_permissions = {
        "next": ["meetings.add_meeting"],
        "carry_over": ["meetings.change_meeting"],
    }

    @extend_schema(request=NextMeetingSerializer, responses={201: MeetingSerializer, 409: CONFLICT})
    @action(detail=True, methods=["post"], filterset_class=None)
    def next(self, request, pk=None):
        """Create the next meeting of the series (default: +interval, same local time), open actions carried."""
        meeting = self.get_object()
        body = NextMeetingSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        following = meeting.create_next(by=request.user, starts_at=body.validated_data.get("starts_at"))
        following = self.get_queryset().get(pk=following.pk)
        return Response(self.get_serializer(following).data, status=status.HTTP_201_CREATED)

    @extend_schema(
        request=None,
        responses=inline_serializer("CarryOver", {"carried": serializers.IntegerField()}),
    )
    @action(detail=True, methods=["post"], url_path="carry-over", filterset_class=None)
    def carry_over(self, request, pk=None):
        """Put every open action not yet on this meeting's agenda onto it (idempotent)."""
        return Response({"carried": self.get_object().carry_over_open_actions()})

    @extend_schema(
        methods=["GET"],
        responses=inline_serializer(
            "Minutes",
            {"sections": MinutesSectionSerializer(many=True), "markdown": serializers.CharField()},
        ),
    )
    @extend_schema(
        methods=["PATCH"], request=MinutesUpdateSerializer, responses=MinutesSectionSerializer(many=True)
    )
    @action(detail=True, methods=["get", "patch"], filterset_class=None, pagination_class=None)
    def minutes(self, request, pk=None):
        """The minutes by section, and as one Markdown document. PATCH changes sections' bodies."""
        meeting = self.get_object()
        if request.method == "PATCH":
            if not request.user.has_perm("meetings.change_meeting"):
                raise PermissionDenied("Only coordinators edit minutes.")
            body = MinutesUpdateSerializer(data=request.data)
            body.is_valid(raise_exception=True)
            bodies = {entry["id"]: entry["body"] for entry in body.validated_data["sections"]}
            meeting.save_minutes(by=request.user, bodies=bodies)
            return Response(MinutesSectionSerializer(meeting.minutes_sections.all(), many=True).data)
        return Response(
            {
                "sections": MinutesSectionSerializer(
                    meeting.minutes_sections.select_related("stream"), many=True
                ).data,
                "markdown": exports.minutes_markdown(meeting, request.build_absolute_uri("/").rstrip("/")),
            }
        )


class ActionViewSet(TableCachedListMixin, WritableViewSet):
    """Actions. Filters: ``owner`` (person id or username), ``stream`` (letter), ``status`` (repeatable),
    ``due``, ``due_before``, ``due_after``, ``overdue``, ``mine``. Never deleted: drop them instead.

    Coordinators create and edit actions; an action's owners, and coordinators, report progress through
    ``POST {id}/updates/`` (status and/or note), which is the only way the status changes.
    """

    queryset = Action.objects.with_related()
    serializer_class = ActionSerializer
    # The action, its owners (people and their accounts), stream, meeting, class and experiment.
    cache_tables = (
        "portal_action",
        "portal_action_owners",
        "portal_person",
        "auth_user",
        "portal_stream",
        "portal_meeting",
        "qos_storageqosclass",
        "engagement_experiment",
    )
    filterset_class = ActionFilterSet

    def cache_valid_until(self, rows):
        # is_overdue (and the overdue filter) change at midnight, with no write.
        tomorrow = timezone.localdate() + datetime.timedelta(days=1)
        return datetime.datetime.combine(
            tomorrow, datetime.time(), tzinfo=timezone.get_current_timezone()
        ).timestamp()

    ordering_fields = ["due_date", "created_at", "status", "id"]
    # Reads of the log need only view; who may post to it is decided per action, below.
    action_permissions = {"updates": ["meetings.view_action"]}

    @extend_schema(methods=["GET"], responses=ActionUpdateSerializer(many=True))
    @extend_schema(
        methods=["POST"], request=ActionProgressSerializer, responses={201: ActionUpdateSerializer}
    )
    @action(detail=True, methods=["get", "post"], filterset_class=None, ordering_fields=None)
    def updates(self, request, pk=None):
        """The action's log (GET), or a new entry (POST: the action's owners and coordinators only)."""
        the_action = self.get_object()
        if request.method == "GET":
            page = self.paginate_queryset(the_action.updates.select_related("author"))
            return self.get_paginated_response(ActionUpdateSerializer(page, many=True).data)
        if not the_action.can_be_updated_by(request.user):
            raise PermissionDenied("Only the action's owners and the coordinators may update it.")
        body = ActionProgressSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        update = the_action.record_update(
            by=request.user,
            text=body.validated_data.get("text", ""),
            status=body.validated_data.get("status"),
            meeting=body.validated_data.get("meeting"),
        )
        return Response(ActionUpdateSerializer(update).data, status=status.HTTP_201_CREATED)
