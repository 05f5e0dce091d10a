"""Forms of the meetings and actions pages. Local date + time + time zone in, UTC out."""

from __future__ import annotations

import datetime
import zoneinfo
from typing import Any

from django import forms
from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import UploadedFile

from common import uploads
from common.forms import change_note
from common.links import validate_https_link
from engagement.models import Experiment
from qos.models import StorageQoSClass

from . import indico, models
from .choices import ActionStatus

DATE_INPUT = forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d")
TIME_INPUT = forms.TimeInput(attrs={"type": "time"}, format="%H:%M")


def time_zone_choices() -> list[tuple[str, str]]:
    return [(name, name) for name in sorted(models.known_time_zones())]


def combine_local(date: datetime.date, time: datetime.time, zone_name: str) -> datetime.datetime:
    """A wall-clock date and time in a zone, as an aware UTC datetime."""
    local = datetime.datetime.combine(date, time, tzinfo=zoneinfo.ZoneInfo(zone_name))
    return local.astimezone(datetime.UTC)


class PersonChoiceField(forms.ModelMultipleChoiceField):
    def label_from_instance(self, obj: models.Person) -> str:
        return str(obj)


class LocalStartMixin(forms.Form):
    """Date, time and time zone fields that together give ``starts_at`` in UTC."""

    date = forms.DateField(widget=DATE_INPUT, validators=[models.validate_meeting_year])
    time = forms.TimeField(widget=TIME_INPUT, help_text="On the meeting's own clock.")
    time_zone = forms.ChoiceField(choices=time_zone_choices, initial=models.DEFAULT_MEETING_TIME_ZONE)

    def local_start(self) -> datetime.datetime | None:
        data = self.cleaned_data
        if all(data.get(name) for name in ("date", "time", "time_zone")):
            return combine_local(data["date"], data["time"], data["time_zone"])
        return None


class MeetingForm(LocalStartMixin, forms.ModelForm):
    """Create or edit a meeting: when (on its own clock), where, and who attended."""

    attendees = PersonChoiceField(
        queryset=models.Person.objects.all(), required=False, widget=forms.SelectMultiple(attrs={"size": 10})
    )
    indico_url = forms.URLField(
        required=False, label="Indico event", assume_scheme="https", validators=[validate_https_link]
    )

    class Meta:
        model = models.Meeting
        fields = ["series", "title", "duration_minutes", "location", "indico_url", "attendees"]
        labels = {"duration_minutes": "Duration (minutes)"}

    field_order = ["series", "title", "date", "time", "time_zone", "duration_minutes", "location"]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if self.instance.pk:
            local = self.instance.local_start
            self.initial.update(date=local.date(), time=local.time(), time_zone=self.instance.time_zone)
            self.fields["series"].disabled = True
        else:
            series = models.MeetingSeries.objects.first()
            if series is not None:
                self.initial.setdefault("series", series.pk)
                self.initial.setdefault("time_zone", series.time_zone)
                self.initial.setdefault("title", series.name)
                self.initial.setdefault("duration_minutes", series.duration_minutes)

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        starts_at = self.local_start()
        if starts_at is not None:
            self.instance.starts_at = starts_at
            self.instance.time_zone = data["time_zone"]
            # A new meeting has no series until one is chosen: then "This field is required." says it all.
            series = data.get("series") or (self.instance.series if self.instance.series_id else None)
            if series is not None:
                models.Meeting.objects.check_time_free(series, starts_at, other_than=self.instance)
        return data

    def meeting_fields(self) -> dict[str, Any]:
        """What a new meeting is made of (``Meeting.objects.create_with_agenda``), its start in UTC."""
        data = self.cleaned_data
        return {
            **{name: data[name] for name in self._meta.fields},
            "starts_at": self.local_start(),
            "time_zone": data["time_zone"],
        }


class NextMeetingForm(LocalStartMixin, forms.Form):
    """Confirm (or change) the proposed date of the next meeting."""


class MeetingSeriesForm(forms.ModelForm):
    time_zone = forms.ChoiceField(choices=time_zone_choices, initial=models.DEFAULT_MEETING_TIME_ZONE)

    class Meta:
        model = models.MeetingSeries
        fields = ["name", "slug", "time_zone", "interval_days", "duration_minutes", "location", "description"]
        labels = {"interval_days": "Every (days)", "duration_minutes": "Duration (minutes)"}
        widgets = {"description": forms.Textarea(attrs={"rows": 3})}


class ActionForm(forms.ModelForm):
    """Create or edit an action (coordinators). The note is kept in the action's log."""

    owners = PersonChoiceField(
        queryset=models.Person.objects.all(), widget=forms.SelectMultiple(attrs={"size": 8})
    )
    note = change_note("Why this change? Kept in the action's log.")

    class Meta:
        model = models.Action
        fields = ["text", "owners", "stream", "raised_at", "due_date", "qos_class", "experiment"]
        widgets = {"text": forms.Textarea(attrs={"rows": 3}), "due_date": DATE_INPUT}
        labels = {"raised_at": "Raised at meeting", "qos_class": "QoS class"}

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["raised_at"].queryset = models.Meeting.objects.select_related("series")
        self.fields["qos_class"].queryset = StorageQoSClass.objects.order_by("label")
        self.fields["experiment"].queryset = Experiment.objects.order_by("short_name")
        if not self.instance.pk:
            del self.fields["note"]


class ActionUpdateForm(forms.Form):
    """Report progress on an action: a note, a new status, or both."""

    status = forms.ChoiceField(choices=ActionStatus.choices)
    text = forms.CharField(
        label="Update", required=False, widget=forms.Textarea(attrs={"rows": 3}), help_text="What happened?"
    )
    meeting = forms.ModelChoiceField(
        queryset=models.Meeting.objects.all(), required=False, widget=forms.HiddenInput
    )

    def __init__(self, *args: Any, action: models.Action, **kwargs: Any) -> None:
        kwargs.setdefault("initial", {})
        kwargs["initial"].setdefault("status", action.status)
        super().__init__(*args, **kwargs)
        allowed = {action.status, *models.Action.ALLOWED_STEPS[ActionStatus(action.status)]}
        self.fields["status"].choices = [(v, label) for v, label in ActionStatus.choices if v in allowed]
        self.action = action

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        if data.get("status") == self.action.status and not (data.get("text") or "").strip():
            raise ValidationError("Say what happened, or change the status.")
        return data


class MinutesForm(forms.Form):
    """The minutes editor: one Markdown box per section, and an action that can be raised from it.

    "Save minutes" saves the sections; "Save and raise action" also raises the action, notes it in the
    chosen section, and keeps everything typed if any part is wrong (nothing is saved then).
    """

    action_text = forms.CharField(
        label="Action",
        required=False,
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text="What must be done.",
    )
    action_owners = PersonChoiceField(
        label="Owners",
        queryset=models.Person.objects.all(),
        required=False,
        widget=forms.SelectMultiple(attrs={"size": 6}),
    )
    action_section = forms.ChoiceField(label="Noted in section", required=False)
    action_stream = forms.ModelChoiceField(
        label="Stream", queryset=models.Stream.objects.all(), required=False
    )
    action_due_date = forms.DateField(
        label="Due", required=False, widget=DATE_INPUT, help_text="Empty: the next meeting."
    )

    def __init__(
        self, *args: Any, meeting: models.Meeting, sections: list[models.MinutesSection], **kwargs: Any
    ) -> None:
        super().__init__(*args, **kwargs)
        self.meeting = meeting
        self.sections = sections
        for section in sections:
            self.fields[self.section_field(section)] = forms.CharField(
                label=section.title,
                required=False,
                initial=section.body,
                widget=forms.Textarea(attrs={"rows": 8}),
                help_text="Markdown.",
            )
        self.fields["action_section"].choices = [("", "—")] + [(str(s.pk), s.title) for s in sections]

    @staticmethod
    def section_field(section: models.MinutesSection) -> str:
        return f"section_{section.pk}"

    def section_fields(self) -> list[forms.BoundField]:
        return [self[self.section_field(section)] for section in self.sections]

    def action_fields(self) -> list[forms.BoundField]:
        return [self[name] for name in self.fields if name.startswith("action_")]

    def validate_action(self) -> None:
        """Called when the action is to be raised: then text and owners are required."""
        if not (self.cleaned_data.get("action_text") or "").strip():
            self.add_error("action_text", "Say what must be done.")
        if not self.cleaned_data.get("action_owners"):
            self.add_error("action_owners", "Give at least one owner.")

    def chosen_section(self) -> models.MinutesSection | None:
        chosen = self.cleaned_data.get("action_section")
        return next((s for s in self.sections if str(s.pk) == chosen), None)

    def bodies(self, *, noting: models.Action | None = None) -> dict[int, str]:
        """The sections' Markdown as typed, by section id; an action raised from here (``noting``) is noted
        at the end of the section chosen for it."""
        bodies = {section.pk: self.cleaned_data[self.section_field(section)] for section in self.sections}
        section = self.chosen_section()
        if noting is not None and section is not None:
            owners = ", ".join(owner.name for owner in noting.owners.all())
            bodies[section.pk] = (
                bodies[section.pk].rstrip() + f"\n\n**Action #{noting.pk}** ({owners}): {noting.text}\n"
            )
        return bodies


class TimetableItemForm(forms.ModelForm):
    """One row of the timetable editor; the start is a wall-clock time on the meeting's date."""

    start = forms.TimeField(required=False, widget=TIME_INPUT, help_text="Empty for sub-items.")

    class Meta:
        model = models.TimetableItem
        fields = ["position", "title", "start", "duration_minutes", "speaker", "stream", "parent"]
        labels = {"duration_minutes": "Minutes", "parent": "Part of", "position": "#"}
        # Their widths are in portal.css: the CSP refuses style attributes.

    def __init__(self, *args: Any, meeting: models.Meeting, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.meeting = meeting
        self.fields["parent"].queryset = meeting.timetable_items.filter(parent__isnull=True)
        self.fields["speaker"].queryset = models.Person.objects.all()
        if self.instance.starts_at:
            self.initial["start"] = self.instance.starts_at.astimezone(meeting.zone).time()

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        if self.instance.pk and data.get("parent") and data["parent"].pk == self.instance.pk:
            self.add_error("parent", "An item cannot be part of itself.")
        start = data.get("start")
        self.instance.starts_at = (
            combine_local(self.meeting.local_date, start, self.meeting.time_zone) if start else None
        )
        return data


class BaseTimetableFormSet(forms.BaseModelFormSet):
    def __init__(self, *args: Any, meeting: models.Meeting, **kwargs: Any) -> None:
        self.meeting = meeting
        super().__init__(*args, **kwargs)

    def get_form_kwargs(self, index: int | None) -> dict[str, Any]:
        return {**super().get_form_kwargs(index), "meeting": self.meeting}


# One empty row adds an item (another appears once it is saved): three made the editor mostly blanks.
TimetableFormSet = forms.modelformset_factory(
    models.TimetableItem, form=TimetableItemForm, formset=BaseTimetableFormSet, extra=1, can_delete=True
)


class IndicoImportForm(forms.Form):
    """An Indico event's JSON export (``/export/event/<id>.json?detail=subcontributions``): a file or a URL."""

    file = forms.FileField(required=False, label="Export file", help_text="The .json file Indico exported.")
    url = forms.URLField(
        required=False,
        label="or its address",
        assume_scheme="https",
        help_text="e.g. https://indico.example/export/event/123.json?detail=subcontributions",
    )

    def clean_file(self) -> UploadedFile | None:
        upload = self.cleaned_data.get("file")
        if upload:
            uploads.check_size(upload, settings.INDICO_EXPORT_MAX_BYTES)
        return upload

    def clean_url(self) -> str:
        url = self.cleaned_data.get("url") or ""
        # With a file as well, "one of the two" (clean) is what the user needs to hear.
        if url and not self.cleaned_data.get("file"):
            try:
                indico.check_address(url)
            except indico.IndicoImportError as error:
                raise ValidationError(str(error)) from None
        return url

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        if "file" in data and "url" in data and bool(data["file"]) == bool(data["url"]):
            raise ValidationError("Give either the export file or its address (one of the two).")
        return data


class AttachmentForm(forms.Form):
    """Attach a link or a small file to a meeting."""

    title = forms.CharField(max_length=200)
    url = forms.URLField(
        required=False, label="Link", max_length=500, assume_scheme="https", validators=[validate_https_link]
    )
    file = forms.FileField(required=False)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["file"].help_text = (
            f"Up to {uploads.size_text(settings.UPLOAD_MAX_BYTES)}: PDF, slides, documents, spreadsheets, "
            "pictures, text, zip or gzip archives."
        )
        self.file_type: uploads.FileType | None = None

    def clean_file(self) -> UploadedFile | None:
        upload = self.cleaned_data.get("file")
        # With a link as well, "one of the two" (clean) is what the user needs to hear.
        if upload and not self.cleaned_data.get("url"):
            self.file_type = uploads.check_attachment(upload)
        return upload

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        # A file refused by clean_file() already says why; "one of the two" would only confuse.
        if "file" in data and bool(data.get("file")) == bool(data.get("url")):
            raise ValidationError("Give either a link or a file (one of the two).")
        return data


class PersonForm(forms.ModelForm):
    user = forms.ModelChoiceField(
        queryset=get_user_model().objects.order_by("username"),
        required=False,
        to_field_name="username",
        label="Account",
        help_text="Their portal account, if any: they may then update the actions they own.",
    )

    class Meta:
        model = models.Person
        fields = ["name", "affiliation", "email", "user"]


class TimeZoneForm(forms.Form):
    time_zone = forms.ChoiceField(choices=time_zone_choices, label="Show times in")
    next = forms.CharField(required=False, widget=forms.HiddenInput)
