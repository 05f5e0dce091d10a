"""Stream coordination: streams, people, meeting series and meetings (timetable, attendees, minutes per
section, attachments), and the actions raised at meetings, reviewed at every following one until closed.

Times are stored in UTC. A meeting also keeps the IANA time zone it is held in (Europe/Zurich for the task
group), so that "the next meeting, same time" stays at 14:00 local time across the CET/CEST change.
"""

from __future__ import annotations

import datetime
import functools
import secrets
import zoneinfo
from collections.abc import Mapping
from typing import Any

from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator, RegexValidator
from django.db import DatabaseError, IntegrityError, models, transaction
from django.db.models import Q
from django.urls import reverse
from django.utils import timezone

from common.errors import DomainError
from common.links import validate_https_link
from common.models import optional_link, user_link
from common.urls import object_url

from . import notices
from .choices import OPEN_ACTION_STATUSES, ActionStatus
from .querysets import ActionQuerySet, MeetingQuerySet

DEFAULT_MEETING_TIME_ZONE = "Europe/Zurich"
# Meetings of the task group start in these years, on pages and in the API alike. Outside them a meeting could
# not be shown: before 1894 Zurich's clock was local mean time (+00:34:08, no valid RFC 3339 offset), and late
# in year 9999 the local time overflows.
MEETING_YEARS = range(2000, 2200)


def validate_meeting_year(value: datetime.date) -> None:
    """A meeting's start (a date, or a datetime on the clock it is given in) must fall in MEETING_YEARS."""
    if value.year not in MEETING_YEARS:
        raise ValidationError(
            f"A meeting starts between {MEETING_YEARS.start} and {MEETING_YEARS.stop - 1}.", code="year"
        )


@functools.cache
def known_time_zones() -> frozenset[str]:
    return frozenset(zoneinfo.available_timezones())


def validate_time_zone(value: str) -> None:
    if value not in known_time_zones():
        raise ValidationError(f"{value!r} is not a known time zone; use an IANA name such as Europe/Zurich.")


def _wall_clock(moment: datetime.datetime, zone: zoneinfo.ZoneInfo) -> datetime.datetime:
    """What a clock in ``zone`` shows at ``moment`` (a naive datetime)."""
    return moment.astimezone(zone).replace(tzinfo=None)


class MeetingError(DomainError):
    """A meeting or action operation refused by a rule; nothing was changed."""

    # What the API has always answered for these (one kind so far: a time the series cannot take).
    code = "conflict"


def new_calendar_secret() -> str:
    """A fresh random secret for a person's calendar feed address."""
    return secrets.token_urlsafe(24)


class Person(models.Model):
    """Someone who attends meetings or owns actions. Needs no account; may be linked to one.

    ``calendar_secret`` is part of the address of their calendar feed (meetings/exports.py): a new secret makes
    every address given out before it stop working, for this person only.
    """

    name = models.CharField(max_length=200, help_text="As people say it, e.g. Paul Millar.")
    affiliation = models.CharField(max_length=200, blank=True, help_text="e.g. DESY")
    email = models.EmailField(
        "e-mail",
        blank=True,
        help_text="Where reminders of their actions go, if they have no account (else their account's).",
    )
    user = user_link(
        field=models.OneToOneField,
        related_name="person",
        help_text="The portal account of this person, if any: they may then update the actions they own.",
    )
    created_at = models.DateTimeField(auto_now_add=True)
    calendar_secret = models.CharField(max_length=64, default=new_calendar_secret, editable=False)

    class Meta:
        # The table keeps the name it had when meetings lived in the portal app (migration 0001).
        db_table = "portal_person"
        ordering = ["name", "affiliation"]
        verbose_name_plural = "people"
        constraints = [
            models.UniqueConstraint(fields=["name", "affiliation"], name="portal_person_name_affiliation"),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.affiliation})" if self.affiliation else self.name

    def get_absolute_url(self) -> str:
        return object_url("meetings:person-detail", self.pk)

    def may_manage_calendar(self, user: Any) -> bool:
        """Whether ``user`` may see this person's secret calendar address and make a new one: the person
        themselves, and who may change people (coordinators)."""
        if not user.is_authenticated:
            return False
        is_themselves = self.user_id is not None and self.user_id == user.pk
        return is_themselves or user.has_perm("meetings.change_person")

    def renew_calendar_secret(self) -> None:
        """A new calendar secret: every address of this person's calendar feed given out so far stops working."""
        self.calendar_secret = new_calendar_secret()
        self.save(update_fields=["calendar_secret"])


class Stream(models.Model):
    """A work stream of the task group (A prototyping and demonstration, B engagement with experiments, C
    software developments), with its leads. Looked up by its letter."""

    letter = models.CharField(
        max_length=8,
        unique=True,
        validators=[RegexValidator(r"^[A-Z][A-Z0-9]{0,7}$", "One to eight upper-case letters or digits.")],
        help_text="How people say it: stream A.",
    )
    name = models.CharField(max_length=200, help_text="e.g. prototyping and demonstration")
    description = models.TextField(blank=True, help_text="Markdown.")
    leads = models.ManyToManyField(Person, blank=True, related_name="led_streams")

    class Meta:
        # The table keeps the name it had when meetings lived in the portal app (migration 0001).
        db_table = "portal_stream"
        ordering = ["letter"]

    def __str__(self) -> str:
        return f"Stream {self.letter}: {self.name}"


# The streams of the ESCAPE QoS task group, as its minutes name them.
DEFAULT_STREAMS = [
    ("A", "prototyping and demonstration"),
    ("B", "engagement with experiments"),
    ("C", "software developments"),
]


def seed_streams(apps: Any = None, using: str = "default") -> None:
    """Create the default streams on a database that has no stream at all. Run after every migrate (also
    after a flush), so renamed or removed streams are never brought back on a database in use."""
    try:
        model = apps.get_model("meetings", "Stream") if apps is not None else Stream
        if model.objects.using(using).exists():
            return
    except (LookupError, DatabaseError):
        return  # not in the state, or no table yet (migrating backwards, or before this app's migrations)
    model.objects.using(using).bulk_create(
        model(letter=letter, name=name) for letter, name in DEFAULT_STREAMS
    )


class MeetingSeries(models.Model):
    """A recurring meeting (the fortnightly T2.2 meeting): new meetings take its time zone, interval and
    duration, and its open actions are carried from one meeting to the next."""

    name = models.CharField(max_length=200)
    slug = models.SlugField(unique=True, help_text="In addresses, e.g. t22-fortnightly.")
    time_zone = models.CharField(
        max_length=64,
        default=DEFAULT_MEETING_TIME_ZONE,
        validators=[validate_time_zone],
        help_text="Where the meeting's clock is, e.g. Europe/Zurich: the next meeting keeps its local time.",
    )
    interval_days = models.PositiveSmallIntegerField(
        default=14, validators=[MinValueValidator(1), MaxValueValidator(366)], help_text="14: fortnightly."
    )
    duration_minutes = models.PositiveSmallIntegerField(
        default=60, validators=[MinValueValidator(5), MaxValueValidator(24 * 60)]
    )
    location = models.CharField(max_length=300, blank=True, help_text="Room or video-conference link.")
    description = models.TextField(blank=True, help_text="Markdown.")

    class Meta:
        # The table keeps the name it had when meetings lived in the portal app (migration 0001).
        db_table = "portal_meetingseries"
        ordering = ["name"]
        verbose_name_plural = "meeting series"

    def __str__(self) -> str:
        return self.name

    def get_absolute_url(self) -> str:
        return reverse("meetings:meeting-list") + f"?series={self.slug}"


class Meeting(models.Model):
    """One meeting of a series: its start (UTC) and the time zone it is held in, its timetable, attendees,
    minutes per section, attachments, the actions it raised and the open actions it reviews."""

    series = models.ForeignKey(MeetingSeries, on_delete=models.PROTECT, related_name="meetings")
    title = models.CharField(max_length=200)
    starts_at = models.DateTimeField(help_text="Stored in UTC.")
    time_zone = models.CharField(
        max_length=64, default=DEFAULT_MEETING_TIME_ZONE, validators=[validate_time_zone]
    )
    duration_minutes = models.PositiveSmallIntegerField(
        default=60, validators=[MinValueValidator(5), MaxValueValidator(24 * 60)]
    )
    location = models.CharField(max_length=300, blank=True, help_text="Room or video-conference link.")
    # https only: shown as a link on the meeting's page (common/links.py).
    indico_url = models.URLField("Indico event", blank=True, validators=[validate_https_link])
    attendees = models.ManyToManyField(Person, blank=True, related_name="meetings_attended")
    created_by = user_link()
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = MeetingQuerySet.as_manager()

    class Meta:
        # The table keeps the name it had when meetings lived in the portal app (migration 0001).
        db_table = "portal_meeting"
        ordering = ["-starts_at"]
        constraints = [
            models.UniqueConstraint(fields=["series", "starts_at"], name="portal_meeting_series_start"),
        ]

    def __str__(self) -> str:
        return f"{self.title}, {self.local_start:%Y-%m-%d}"

    def get_absolute_url(self) -> str:
        return object_url("meetings:meeting-detail", self.pk)

    # --- time -----------------------------------------------------------------------------------------------
    @property
    def zone(self) -> zoneinfo.ZoneInfo:
        return zoneinfo.ZoneInfo(self.time_zone)

    @property
    def ends_at(self) -> datetime.datetime:
        return self.starts_at + datetime.timedelta(minutes=self.duration_minutes)

    @property
    def local_start(self) -> datetime.datetime:
        """The start on the meeting's own clock (14:00 CET in winter, 14:00 CEST in summer)."""
        return self.starts_at.astimezone(self.zone)

    @property
    def local_end(self) -> datetime.datetime:
        return self.ends_at.astimezone(self.zone)

    @property
    def local_date(self) -> datetime.date:
        return self.local_start.date()

    def proposed_next_start(self) -> datetime.datetime:
        """The series' interval later at the same local time, whatever the UTC offset is then.

        Adding a timedelta to an aware datetime in a ZoneInfo zone is wall-clock arithmetic: 14:00 CET plus
        14 days is 14:00 CEST when summer time began in between (13:00 UTC becomes 12:00 UTC).
        """
        local = self.local_start + datetime.timedelta(days=self.series.interval_days)
        # Round-trip through UTC: normalises a wall time that does not exist (inside the spring-forward gap).
        return local.astimezone(datetime.UTC)

    # --- neighbours -------------------------------------------------------------------------------------------
    def previous_meeting(self) -> Meeting | None:
        return self.series.meetings.filter(starts_at__lt=self.starts_at).order_by("-starts_at").first()

    def next_meeting(self) -> Meeting | None:
        return self.series.meetings.filter(starts_at__gt=self.starts_at).order_by("starts_at").first()

    def default_due_date(self) -> datetime.date:
        """An action raised here is due at the next meeting: the one planned, or else the proposed date."""
        following = self.next_meeting()
        if following is not None:
            return following.local_date
        return self.proposed_next_start().astimezone(self.zone).date()

    # --- the agenda -------------------------------------------------------------------------------------------
    def open_actions_to_review(self) -> ActionQuerySet:
        """Open actions this meeting should review: raised at an earlier meeting of the series, or at none."""
        return Action.objects.open().filter(
            Q(raised_at__series=self.series, raised_at__starts_at__lt=self.starts_at)
            | Q(raised_at__isnull=True)
        )

    def carry_over_open_actions(self) -> int:
        """Put every open action not yet on this meeting's agenda onto it. Returns how many were added.

        Idempotent: an action already on the agenda is skipped, and the unique constraint (with
        ``ignore_conflicts``) keeps two coordinators pressing the button at once from adding it twice.
        """
        missing = self.open_actions_to_review().exclude(reviews__meeting=self).values_list("pk", flat=True)
        reviews = [ActionReview(meeting=self, action_id=pk) for pk in missing]
        ActionReview.objects.bulk_create(reviews, ignore_conflicts=True)
        return len(reviews)

    def create_next(self, *, by: Any, starts_at: datetime.datetime | None = None) -> Meeting:
        """Create the next meeting of the series: same title, zone, duration and place; the timetable's
        shape and the minutes' sections without their text; every open action carried onto its agenda."""
        starts_at = starts_at or self.proposed_next_start()
        if starts_at <= self.starts_at:
            raise MeetingError("The next meeting must start after this one.")
        try:
            validate_meeting_year(starts_at.astimezone(self.zone))
        except ValidationError as error:
            raise MeetingError(error.messages[0]) from None
        try:
            with transaction.atomic():
                following = Meeting.objects.create(
                    series=self.series,
                    title=self.title,
                    starts_at=starts_at,
                    time_zone=self.time_zone,
                    duration_minutes=self.duration_minutes,
                    location=self.location,
                    created_by=by if getattr(by, "pk", None) else None,
                )
                following.copy_agenda_from(self)
                following.carry_over_open_actions()
        except IntegrityError:
            raise MeetingError(
                f"The series already has a meeting at {starts_at.astimezone(self.zone):%Y-%m-%d %H:%M %Z}."
            ) from None
        return following

    def copy_agenda_from(self, other: Meeting) -> None:
        """The timetable's items at the same times after the start on the meeting's own clock (without
        speakers or notes, which change every time) and the minutes' sections (without their text)."""
        items = list(other.timetable_items.all())
        copies: dict[int, TimetableItem] = {}
        for item in sorted(items, key=lambda i: i.parent_id is not None):
            copies[item.pk] = TimetableItem.objects.create(
                meeting=self,
                parent=copies.get(item.parent_id) if item.parent_id else None,
                position=item.position,
                title=item.title,
                starts_at=self.same_time_as(item.starts_at, other) if item.starts_at else None,
                duration_minutes=item.duration_minutes,
                stream=item.stream,
            )
        sections = list(other.minutes_sections.all())
        if sections:
            MinutesSection.objects.bulk_create(
                MinutesSection(meeting=self, position=s.position, title=s.title, stream=s.stream)
                for s in sections
            )
        else:
            self.add_default_sections()

    def same_time_as(self, moment: datetime.datetime, other: Meeting) -> datetime.datetime:
        """The time in this meeting of ``moment`` in ``other``: as long after this meeting's start on this
        meeting's clock as it was after the other's start on the other's clock. An item at 14:10 in a meeting at
        14:00 CET is at 14:10 CEST in a meeting at 14:00 CEST.

        Not ``moment + (self.starts_at - other.starts_at)``: Python subtracts two datetimes of the same zone
        on their wall clocks, ignoring the change of offset between them, but datetimes of different zones
        (or UTC, as read from the database) as instants: the result depended on where the starts came from.
        """
        offset = _wall_clock(moment, other.zone) - _wall_clock(other.starts_at, other.zone)
        local = (_wall_clock(self.starts_at, self.zone) + offset).replace(tzinfo=self.zone)
        # Round-trip through UTC: normalises a wall time that does not exist (inside the spring-forward gap).
        return local.astimezone(datetime.UTC)

    def add_default_sections(self) -> None:
        """News, one section per stream, AOB: the shape of the task group's minutes."""
        sections = [MinutesSection(meeting=self, position=0, title="News")]
        for position, stream in enumerate(Stream.objects.all(), start=1):
            sections.append(MinutesSection(meeting=self, position=position, title=str(stream), stream=stream))
        sections.append(MinutesSection(meeting=self, position=len(sections), title="AOB"))
        MinutesSection.objects.bulk_create(sections)

    def add_default_timetable(self) -> None:
        """News 10m, Round table 40m with one item per stream, AOB 10m."""
        news = TimetableItem.objects.create(
            meeting=self, position=0, title="News", starts_at=self.starts_at, duration_minutes=10
        )
        round_table = TimetableItem.objects.create(
            meeting=self,
            position=1,
            title="Round table",
            starts_at=news.starts_at + datetime.timedelta(minutes=10),
            duration_minutes=40,
        )
        for position, stream in enumerate(Stream.objects.all()):
            TimetableItem.objects.create(
                meeting=self, parent=round_table, position=position, title=str(stream), stream=stream
            )
        TimetableItem.objects.create(
            meeting=self,
            position=2,
            title="AOB",
            starts_at=round_table.starts_at + datetime.timedelta(minutes=40),
            duration_minutes=10,
        )

    def raise_action(
        self,
        *,
        by: Any,
        text: str,
        owners: list[Person],
        stream: Stream | None = None,
        due_date: datetime.date | None = None,
        **links: Any,
    ) -> Action:
        """An action raised at this meeting, due at the next meeting unless said otherwise. If the next
        meeting already exists, the action joins its agenda at once."""
        with transaction.atomic():
            action = Action.objects.create_action(
                by=by,
                text=text,
                owners=owners,
                stream=stream,
                raised_at=self,
                due_date=due_date or self.default_due_date(),
                **links,
            )
            following = self.next_meeting()
            if following is not None:
                ActionReview.objects.get_or_create(meeting=following, action=action)
        return action

    # --- the minutes ----------------------------------------------------------------------------------------
    def save_minutes(self, *, by: Any, bodies: Mapping[int, str]) -> list[MinutesSection]:
        """Save the minutes: ``bodies`` gives the Markdown of sections of this meeting, by id. A section whose
        text changed records who changed it (``by``) and when; the others stay as they were. Raises
        ValidationError, and saves nothing, if an id is not that of a section of this meeting. Returns the
        sections changed."""
        sections = {section.pk: section for section in self.minutes_sections.all()}
        for pk, body in bodies.items():
            if pk not in sections:
                # Names the entry as the API received it, so that a client sees which one is wrong.
                raise ValidationError(
                    {
                        "sections": "Each entry needs the id of a section of this meeting and a body: "
                        f"{dict(id=pk, body=body)!r}"
                    }
                )
        changed = [sections[pk] for pk, body in bodies.items() if body != sections[pk].body]
        with transaction.atomic():
            for section in changed:
                section.body = bodies[section.pk]
                section.updated_by = by if getattr(by, "pk", None) else None
                section.save(update_fields=["body", "updated_by", "updated_at"])
            if any(section.body.strip() for section in changed):
                notices.minutes_saved(self, by=by)
        return changed


class TimetableItem(models.Model):
    """A slot of a meeting's timetable (News 10m, with its speaker) or a sub-item of one (a stream's part
    of the round table, a talk inside News)."""

    meeting = models.ForeignKey(Meeting, on_delete=models.CASCADE, related_name="timetable_items")
    parent = optional_link("self", on_delete=models.CASCADE, related_name="children")
    position = models.PositiveSmallIntegerField(default=0)
    title = models.CharField(max_length=300)
    starts_at = models.DateTimeField(null=True, blank=True, help_text="Sub-items usually have no time.")
    duration_minutes = models.PositiveSmallIntegerField(
        null=True, blank=True, validators=[MaxValueValidator(24 * 60)]
    )
    speaker = optional_link(Person, on_delete=models.SET_NULL, related_name="timetable_items")
    stream = optional_link(Stream, on_delete=models.SET_NULL, related_name="timetable_items")
    description = models.TextField(blank=True, help_text="Markdown.")

    class Meta:
        # The table keeps the name it had when meetings lived in the portal app (migration 0001).
        db_table = "portal_timetableitem"
        ordering = ["position", "pk"]

    def __str__(self) -> str:
        return self.title

    @property
    def ends_at(self) -> datetime.datetime | None:
        if self.starts_at is None or self.duration_minutes is None:
            return None
        return self.starts_at + datetime.timedelta(minutes=self.duration_minutes)


class MinutesSection(models.Model):
    """The minutes of one part of a meeting (News, a stream, AOB), in Markdown; sanitised when shown."""

    meeting = models.ForeignKey(Meeting, on_delete=models.CASCADE, related_name="minutes_sections")
    position = models.PositiveSmallIntegerField(default=0)
    title = models.CharField(max_length=200)
    stream = optional_link(Stream, on_delete=models.SET_NULL, related_name="minutes_sections")
    body = models.TextField(blank=True, help_text="Markdown.")
    updated_at = models.DateTimeField(auto_now=True)
    updated_by = user_link()

    class Meta:
        # The table keeps the name it had when meetings lived in the portal app (migration 0001).
        db_table = "portal_minutessection"
        ordering = ["position", "pk"]

    def __str__(self) -> str:
        return self.title


class MeetingAttachment(models.Model):
    """A link (slides, a wiki page) or a small uploaded file attached to a meeting.

    Files are kept in the database rather than on a media volume: they are few and small (slides of a
    one-hour meeting, at most UPLOAD_MAX_BYTES, of the kinds ``common/uploads.py`` accepts), served only to
    members as a download through a view, and backed up with everything else.
    """

    meeting = models.ForeignKey(Meeting, on_delete=models.CASCADE, related_name="attachments")
    title = models.CharField(max_length=200)
    # https only: shown as a link on the meeting's page (common/links.py).
    url = models.URLField(blank=True, max_length=500, validators=[validate_https_link])
    file_name = models.CharField(max_length=200, blank=True)
    content_type = models.CharField(max_length=100, blank=True)
    size = models.PositiveIntegerField(default=0)
    data = models.BinaryField(null=True, blank=True, editable=False)
    added_by = user_link()
    added_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        # The table keeps the name it had when meetings lived in the portal app (migration 0001).
        db_table = "portal_meetingattachment"
        ordering = ["added_at", "pk"]
        constraints = [
            models.CheckConstraint(
                condition=(Q(url="") & ~Q(file_name="")) | (~Q(url="") & Q(file_name="")),
                name="portal_attachment_link_or_file",
            ),
        ]

    def __str__(self) -> str:
        return self.title

    def get_absolute_url(self) -> str:
        if self.is_file:
            return reverse("meetings:attachment-download", args=[self.pk])
        return self.url

    @property
    def is_file(self) -> bool:
        return bool(self.file_name)


class Action(models.Model):
    """Something someone must do ("add the qos key-value pair to the RSE endpoints in the ESCAPE testbed"),
    raised at a meeting, due at the next one by default, reviewed at every meeting until done or dropped.

    Owners (people linked to an account) update their own actions; coordinators manage all. Every change of
    status, and every note, is an :class:`ActionUpdate`. It may name the QoS class or the experiment it is
    about.
    """

    text = models.TextField(help_text="What must be done, as said in the meeting.")
    owners = models.ManyToManyField(Person, related_name="actions")
    stream = optional_link(Stream, on_delete=models.SET_NULL, related_name="actions")
    raised_at = optional_link(
        Meeting,
        on_delete=models.SET_NULL,
        related_name="actions_raised",
        help_text="The meeting where the action was raised.",
    )
    due_date = models.DateField(null=True, blank=True, help_text="Default: the next meeting.")
    status = models.CharField(max_length=16, choices=ActionStatus.choices, default=ActionStatus.OPEN)
    qos_class = optional_link(
        "qos.StorageQoSClass",
        on_delete=models.SET_NULL,
        related_name="actions",
        verbose_name="QoS class",
    )
    experiment = optional_link("engagement.Experiment", on_delete=models.SET_NULL, related_name="actions")
    created_by = user_link()
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    closed_at = models.DateTimeField(null=True, blank=True)

    objects = ActionQuerySet.as_manager()

    class Meta:
        # The table keeps the name it had when meetings lived in the portal app (migration 0001).
        db_table = "portal_action"
        ordering = ["due_date", "pk"]
        indexes = [
            models.Index(fields=["status", "due_date"], name="portal_action_status_due"),
            # The order of every list of actions, so that a page of them is read in order, not sorted.
            models.Index(fields=["due_date", "id"], name="portal_action_due_id"),
            # The board and the overdue ones: open actions, soonest due first.
            models.Index(
                fields=["due_date", "id"],
                name="portal_action_open_due",
                condition=Q(status__in=OPEN_ACTION_STATUSES),
            ),
        ]

    def __str__(self) -> str:
        text = self.text if len(self.text) <= 60 else self.text[:59] + "…"
        return f"#{self.pk} {text}"

    def get_absolute_url(self) -> str:
        return object_url("meetings:action-detail", self.pk)

    @property
    def is_open(self) -> bool:
        return self.status in OPEN_ACTION_STATUSES

    @property
    def is_overdue(self) -> bool:
        return self.is_open and self.due_date is not None and self.due_date < timezone.localdate()

    # --- who may do what --------------------------------------------------------------------------------------
    def is_owned_by_user(self, user: Any) -> bool:
        if not getattr(user, "is_authenticated", False):
            return False
        # Uses the prefetched owners when there are some, so that a list asking this per row stays flat.
        return any(owner.user_id == user.pk for owner in self.owners.all())

    def can_be_updated_by(self, user: Any) -> bool:
        """Owners report progress on their own actions; coordinators on any."""
        return user.has_perm("meetings.change_action") or (
            user.has_perm("meetings.view_action") and self.is_owned_by_user(user)
        )

    # --- changes ----------------------------------------------------------------------------------------------
    ALLOWED_STEPS = {
        ActionStatus.OPEN: {ActionStatus.IN_PROGRESS, ActionStatus.DONE, ActionStatus.DROPPED},
        ActionStatus.IN_PROGRESS: {ActionStatus.OPEN, ActionStatus.DONE, ActionStatus.DROPPED},
        ActionStatus.DONE: {ActionStatus.OPEN},
        ActionStatus.DROPPED: {ActionStatus.OPEN},
    }

    def record_update(
        self, *, by: Any, text: str = "", status: str | None = None, meeting: Meeting | None = None
    ) -> ActionUpdate:
        """Log progress: a note, a change of status, or both. Raises ValidationError and changes nothing
        when there is neither or when the step is not allowed (a closed action is reopened first)."""
        text = (text or "").strip()
        with transaction.atomic():
            locked = Action.objects.select_for_update().get(pk=self.pk)
            new_status = status if status and status != locked.status else ""
            if new_status and new_status not in ActionStatus.values:
                raise ValidationError({"status": f"{new_status!r} is not a status."})
            if new_status and new_status not in self.ALLOWED_STEPS[ActionStatus(locked.status)]:
                raise ValidationError(
                    {
                        "status": f"A {locked.get_status_display().lower()} action cannot become "
                        f"{ActionStatus(new_status).label.lower()}: reopen it first."
                    }
                )
            if not new_status and not text:
                raise ValidationError("Say what happened, or change the status.")
            update = ActionUpdate.objects.create(
                action=locked,
                author=by if getattr(by, "pk", None) else None,
                text=text,
                old_status=locked.status if new_status else "",
                new_status=new_status,
                meeting=meeting,
            )
            if new_status:
                locked.status = new_status
                locked.closed_at = None if new_status in OPEN_ACTION_STATUSES else timezone.now()
                locked.save(update_fields=["status", "closed_at", "updated_at"])
        self.refresh_from_db()
        return update

    def record_edit(self, *, by: Any, before: dict[str, Any], note: str = "") -> ActionUpdate | None:
        """Log what a coordinator's edit changed (text, owners, due date, links), field by field."""
        after = self.snapshot()
        changes = {name: [before[name], after[name]] for name in after if before.get(name) != after[name]}
        if not changes and not note:
            return None
        if "owners" in changes:
            notices.action_assigned(self, by=by)  # only the owners not yet told of it
        return ActionUpdate.objects.create(
            action=self, author=by if getattr(by, "pk", None) else None, text=note, changes=changes
        )

    def snapshot(self) -> dict[str, Any]:
        """The editable content as plain values, to compare before and after an edit."""
        return {
            "text": self.text,
            "owners": sorted(str(owner) for owner in self.owners.all()),
            "stream": self.stream.letter if self.stream_id else None,
            "due_date": self.due_date.isoformat() if self.due_date else None,
            "qos_class": self.qos_class.label if self.qos_class_id else None,
            "experiment": self.experiment.short_name if self.experiment_id else None,
        }


class ActionUpdate(models.Model):
    """One entry of an action's log: who reported what and when, any change of status it made, the fields
    a coordinator changed, and the meeting where it was reported."""

    action = models.ForeignKey(Action, on_delete=models.CASCADE, related_name="updates")
    author = user_link()
    created_at = models.DateTimeField(default=timezone.now)
    text = models.TextField(blank=True)
    old_status = models.CharField(max_length=16, choices=ActionStatus.choices, blank=True)
    new_status = models.CharField(max_length=16, choices=ActionStatus.choices, blank=True)
    changes = models.JSONField(default=dict, blank=True, help_text="Edited fields: {name: [before, after]}.")
    meeting = optional_link(Meeting, on_delete=models.SET_NULL, related_name="action_updates")

    class Meta:
        # The table keeps the name it had when meetings lived in the portal app (migration 0001).
        db_table = "portal_actionupdate"
        ordering = ["created_at", "pk"]

    def __str__(self) -> str:
        return f"Update of action #{self.action_id} at {self.created_at:%Y-%m-%d %H:%M}"


class ActionReview(models.Model):
    """An open action on a meeting's agenda for review, carried over from an earlier meeting."""

    meeting = models.ForeignKey(Meeting, on_delete=models.CASCADE, related_name="action_reviews")
    action = models.ForeignKey(Action, on_delete=models.CASCADE, related_name="reviews")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        # The table keeps the name it had when meetings lived in the portal app (migration 0001).
        db_table = "portal_actionreview"
        ordering = ["action__due_date", "action_id"]
        constraints = [
            models.UniqueConstraint(fields=["meeting", "action"], name="portal_review_once_per_meeting"),
        ]

    def __str__(self) -> str:
        return f"Review of action #{self.action_id} at meeting {self.meeting_id}"
