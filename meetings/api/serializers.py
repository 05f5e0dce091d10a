"""Serializers of streams, people, meetings (with timetable and minutes) and actions.

Objects refer to each other by natural keys where they have one: a stream by its letter, an account by its
username, a series by its slug, a QoS class by its label, an experiment by its short name. People and
meetings have no natural key and are referred to by id.
"""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError as DjangoValidationError
from drf_spectacular.utils import inline_serializer
from rest_framework import serializers
from rest_framework.exceptions import ValidationError
from rest_framework.validators import UniqueValidator

from common.api.fields import UsernameField
from engagement.models import Experiment
from qos.models import StorageQoSClass

from .. import models
from ..choices import ActionStatus

# What renewing a person's calendar address (``rotate-calendar``) answers: the new address.
CalendarAddressSerializer = inline_serializer(
    "CalendarAddress", {"detail": serializers.CharField(), "calendar_url": serializers.URLField()}
)


class PersonBriefSerializer(serializers.ModelSerializer):
    # allow_null, no default: null without an account (a default would drop the field from a PATCH's answer).
    username = UsernameField(source="user.username")

    class Meta:
        model = models.Person
        fields = ["id", "name", "affiliation", "username"]
        read_only_fields = fields


class PersonSerializer(serializers.ModelSerializer):
    url = serializers.HyperlinkedIdentityField(view_name="person-detail")
    username = serializers.SlugRelatedField(
        source="user",
        slug_field="username",
        queryset=get_user_model().objects.all(),
        allow_null=True,
        required=False,
        help_text="The username of their portal account, if any.",
        # An account belongs to one person (a unique column): say so, instead of failing on the database.
        validators=[
            UniqueValidator(
                queryset=models.Person.objects.all(),
                message="This account is already linked to another person.",
            )
        ],
    )

    class Meta:
        model = models.Person
        fields = ["id", "url", "name", "affiliation", "username", "email"]
        extra_kwargs = {
            "email": {
                "help_text": "Where reminders of their actions go if they have no account (else their "
                "account's). Shown only to those who may change people, as on the person's edit page."
            }
        }

    def to_representation(self, instance: models.Person) -> dict[str, Any]:
        data = super().to_representation(instance)
        # An address is for reminders, not a directory: those who may edit people see it, the others do not.
        request = self.context.get("request")
        if request is None or not request.user.has_perm("meetings.change_person"):
            data.pop("email", None)
        return data


class StreamSerializer(serializers.ModelSerializer):
    url = serializers.HyperlinkedIdentityField(view_name="stream-detail", lookup_field="letter")
    leads = PersonBriefSerializer(many=True, read_only=True)

    class Meta:
        model = models.Stream
        fields = ["url", "letter", "name", "description", "leads"]
        read_only_fields = fields


class TimetableItemSerializer(serializers.ModelSerializer):
    speaker = PersonBriefSerializer(read_only=True, allow_null=True)
    stream = serializers.SlugRelatedField(slug_field="letter", read_only=True, allow_null=True)

    class Meta:
        model = models.TimetableItem
        fields = [
            "id",
            "parent",
            "position",
            "title",
            "starts_at",
            "duration_minutes",
            "speaker",
            "stream",
            "description",
        ]
        read_only_fields = fields


class MinutesSectionSerializer(serializers.ModelSerializer):
    stream = serializers.SlugRelatedField(slug_field="letter", read_only=True, allow_null=True)

    class Meta:
        model = models.MinutesSection
        fields = ["id", "position", "title", "stream", "body", "updated_at"]
        read_only_fields = ["id", "position", "title", "stream", "updated_at"]


# Meetings of the task group start in MEETING_YEARS: the pages' rule (meetings/models.py), so that both agree.
validate_meeting_start = models.validate_meeting_year


class MeetingSerializer(serializers.ModelSerializer):
    """A meeting: ``starts_at`` is an instant (ISO 8601 with offset, answered in UTC); ``local_start`` is
    the same instant on the meeting's own clock (``time_zone``)."""

    url = serializers.HyperlinkedIdentityField(view_name="meeting-detail")
    series = serializers.SlugRelatedField(slug_field="slug", queryset=models.MeetingSeries.objects.all())
    time_zone = serializers.ChoiceField(choices=[], required=False)
    local_start = serializers.SerializerMethodField()
    attendees = serializers.PrimaryKeyRelatedField(
        many=True, queryset=models.Person.objects.all(), required=False, help_text="Person ids."
    )
    timetable = TimetableItemSerializer(source="timetable_items", many=True, read_only=True)
    minutes = MinutesSectionSerializer(source="minutes_sections", many=True, read_only=True)
    actions_raised = serializers.PrimaryKeyRelatedField(many=True, read_only=True)
    actions_reviewed = serializers.SerializerMethodField()

    class Meta:
        model = models.Meeting
        fields = [
            "id",
            "url",
            "series",
            "title",
            "starts_at",
            "time_zone",
            "local_start",
            "duration_minutes",
            "location",
            "indico_url",
            "attendees",
            "timetable",
            "minutes",
            "actions_raised",
            "actions_reviewed",
        ]
        # The (series, starts_at) clash is checked in validate() with a message that says which meeting.
        validators = []
        extra_kwargs = {"starts_at": {"validators": [validate_meeting_start]}}

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["time_zone"].choices = sorted(models.known_time_zones())

    def get_local_start(self, meeting: models.Meeting) -> str:
        return meeting.local_start.isoformat()

    def get_actions_reviewed(self, meeting: models.Meeting) -> list[int]:
        return [review.action_id for review in meeting.action_reviews.all()]

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if (
            isinstance(self.instance, models.Meeting)
            and attrs.get("series", self.instance.series) != self.instance.series
        ):
            raise ValidationError({"series": "A meeting cannot move to another series."})
        series = attrs.get("series") or getattr(self.instance, "series", None)
        if self.instance is None and "time_zone" not in attrs and series is not None:
            attrs["time_zone"] = series.time_zone
        starts_at = attrs.get("starts_at")
        if series is not None and starts_at is not None:
            try:
                models.Meeting.objects.check_time_free(series, starts_at, other_than=self.instance)
            except DjangoValidationError as error:
                raise ValidationError({"starts_at": error.messages}) from error
        return attrs

    def create(self, validated_data: dict[str, Any]) -> models.Meeting:
        return models.Meeting.objects.create_with_agenda(by=self.context["request"].user, **validated_data)


class NextMeetingSerializer(serializers.Serializer):
    starts_at = serializers.DateTimeField(
        required=False,
        help_text="Default: the series' interval later, at the same local time.",
        validators=[validate_meeting_start],
    )


class MinutesSectionBodySerializer(serializers.Serializer):
    # A CharField, not any value: it refuses what a text column cannot hold (NUL, which PostgreSQL refuses).
    id = serializers.IntegerField(help_text="A section of this meeting.")
    body = serializers.CharField(allow_blank=True, trim_whitespace=False, help_text="Markdown.")


class MinutesUpdateSerializer(serializers.Serializer):
    sections = MinutesSectionBodySerializer(many=True, help_text='[{"id": 12, "body": "Markdown"}, ...]')


class ActionSerializer(serializers.ModelSerializer):
    """An action. Its status changes only through ``updates/`` (which logs who, when and why)."""

    url = serializers.HyperlinkedIdentityField(view_name="action-detail")
    owners = serializers.PrimaryKeyRelatedField(
        many=True, queryset=models.Person.objects.all(), help_text="Person ids."
    )
    owner_details = PersonBriefSerializer(source="owners", many=True, read_only=True)
    stream = serializers.SlugRelatedField(
        slug_field="letter", queryset=models.Stream.objects.all(), allow_null=True, required=False
    )
    raised_at = serializers.PrimaryKeyRelatedField(
        queryset=models.Meeting.objects.all(), allow_null=True, required=False, help_text="Meeting id."
    )
    qos_class = serializers.SlugRelatedField(
        slug_field="label", queryset=StorageQoSClass.objects.all(), allow_null=True, required=False
    )
    experiment = serializers.SlugRelatedField(
        slug_field="short_name", queryset=Experiment.objects.all(), allow_null=True, required=False
    )
    is_overdue = serializers.BooleanField(read_only=True)
    note = serializers.CharField(
        write_only=True, required=False, allow_blank=True, help_text="Why this edit; kept in the log."
    )

    class Meta:
        model = models.Action
        fields = [
            "id",
            "url",
            "text",
            "owners",
            "owner_details",
            "stream",
            "raised_at",
            "due_date",
            "status",
            "is_overdue",
            "qos_class",
            "experiment",
            "created_at",
            "updated_at",
            "closed_at",
            "note",
        ]
        read_only_fields = ["status", "created_at", "updated_at", "closed_at"]

    def create(self, validated_data: dict[str, Any]) -> models.Action:
        validated_data.pop("note", None)
        user = self.context["request"].user
        meeting = validated_data.pop("raised_at", None)
        owners = list(validated_data.pop("owners"))
        text = validated_data.pop("text")
        if meeting is not None:
            return meeting.raise_action(by=user, text=text, owners=owners, **validated_data)
        return models.Action.objects.create_action(by=user, text=text, owners=owners, **validated_data)

    def update(self, instance: models.Action, validated_data: dict[str, Any]) -> models.Action:
        note = validated_data.pop("note", "")
        before = instance.snapshot()
        instance = super().update(instance, validated_data)
        instance.record_edit(by=self.context["request"].user, before=before, note=note)
        return instance


class ActionUpdateSerializer(serializers.ModelSerializer):
    author = serializers.SlugRelatedField(slug_field="username", read_only=True, allow_null=True)
    # Declared, not generated: a generated read-only field forgets that the model allows blank ("no change").
    old_status = serializers.ChoiceField(choices=ActionStatus.choices, allow_blank=True, read_only=True)
    new_status = serializers.ChoiceField(choices=ActionStatus.choices, allow_blank=True, read_only=True)

    class Meta:
        model = models.ActionUpdate
        fields = ["id", "author", "created_at", "text", "old_status", "new_status", "changes", "meeting"]
        read_only_fields = fields


class ActionProgressSerializer(serializers.Serializer):
    """Report progress: a note, a new status, or both."""

    status = serializers.ChoiceField(choices=ActionStatus.choices, required=False)
    text = serializers.CharField(required=False, allow_blank=True, default="")
    meeting = serializers.PrimaryKeyRelatedField(
        queryset=models.Meeting.objects.all(),
        required=False,
        allow_null=True,
        help_text="Where it was reported.",
    )
