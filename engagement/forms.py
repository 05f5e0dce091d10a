"""Forms of the engagement pages. Validation lives on the models; these only pick fields and widgets."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib.auth import get_user_model

from common.forms import change_note
from qos.models import StorageQoSClass

from .models import (
    LINK_COPIES_BOUNDS,
    NEED_FIELDS,
    NEED_RANGE_MESSAGES,
    Contact,
    Document,
    EngagementRecord,
    Experiment,
    Requirement,
)

DATE = forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d")


def people() -> Any:
    return get_user_model().objects.filter(is_active=True).order_by("username")


class UsernameChoiceField(forms.ModelMultipleChoiceField):
    def label_from_instance(self, obj: Any) -> str:
        full_name = obj.get_full_name()
        return f"{obj.username} ({full_name})" if full_name else obj.username


class ExperimentForm(forms.ModelForm):
    """An experiment and its liaisons (coordinators)."""

    website = forms.URLField(required=False, assume_scheme="https")
    liaisons = UsernameChoiceField(
        queryset=people(),
        required=False,
        widget=forms.SelectMultiple(attrs={"size": 8}),
        help_text="Users who file requirements and keep records for this experiment.",
    )

    class Meta:
        model = Experiment
        fields = ["short_name", "name", "website", "description", "liaisons"]
        widgets = {"description": forms.Textarea(attrs={"rows": 5})}

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if self.instance.pk:
            self.fields["short_name"].disabled = True
            self.fields["short_name"].help_text = "Fixed: pages, the API and the IAM group use it."


class RequirementForm(forms.ModelForm):
    """A requirement's needs. ``experiments`` are those the user may file for (None: experiment fixed)."""

    experiment = forms.ModelChoiceField(
        queryset=Experiment.objects.none(), to_field_name="short_name", empty_label="Choose your experiment"
    )
    comment = change_note("Anything the reviewers should know about this change. Kept in the history.")

    class Meta:
        model = Requirement
        fields = ["experiment", *NEED_FIELDS]
        widgets = {
            "description": forms.Textarea(attrs={"rows": 5}),
            "needed_by": DATE,
            "min_durability": forms.NumberInput(attrs={"step": "any"}),
            "volume_tb": forms.NumberInput(attrs={"step": "any"}),
        }
        error_messages = {
            # Form fields check bounds before the model does, with Django's generic words.
            **{name: dict(messages) for name, messages in NEED_RANGE_MESSAGES.items()},
            "storage_media": {
                "invalid_choice": "Unknown storage media “%(value)s”: choose disk, SSD, tape or disk + tape."
            },
            "access_latency": {"invalid_choice": "Unknown access latency “%(value)s”: online or nearline."},
        }

    def __init__(self, *args: Any, experiments: Any = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if experiments is None:
            del self.fields["experiment"]
        else:
            self.fields["experiment"].queryset = experiments
        self.fields["storage_media"].choices = [("", "Any"), *self.fields["storage_media"].choices[1:]]
        self.fields["access_latency"].choices = [("", "Any"), *self.fields["access_latency"].choices[1:]]

    def needs(self) -> dict[str, Any]:
        return {name: self.cleaned_data[name] for name in NEED_FIELDS}


class TransitionForm(forms.Form):
    comment = change_note("Kept in the history.", label="Why", rows=3)

    def __init__(self, *args: Any, reason_required: bool = False, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if reason_required:
            self.fields["comment"].required = True
            self.fields["comment"].error_messages["required"] = "Say why, for the experiment's liaisons."


class CommentForm(forms.Form):
    text = forms.CharField(
        label="Comment",
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text="Markdown.",
        error_messages={"required": "Write something."},
    )


class LinkClassForm(forms.Form):
    qos_class = forms.ModelChoiceField(
        label="Class",
        queryset=StorageQoSClass.objects.approved().order_by("label"),
        to_field_name="label",
        empty_label="Choose an approved class",
        error_messages={"invalid_choice": "Choose one of the approved classes."},
    )
    copies = forms.IntegerField(
        required=False,
        initial=1,
        help_text="Copies wanted on RSEs of this class, e.g. 2 for two copies on SAFE. Empty: one.",
        **LINK_COPIES_BOUNDS,
    )
    note = forms.CharField(
        required=False, max_length=500, help_text="Why this class answers the requirement."
    )

    def clean_copies(self) -> int:
        copies = self.cleaned_data["copies"]
        return 1 if copies is None else copies


class ContactForm(forms.ModelForm):
    class Meta:
        model = Contact
        fields = ["name", "role", "email", "notes"]
        widgets = {"notes": forms.Textarea(attrs={"rows": 3})}


class EngagementRecordForm(forms.ModelForm):
    """A contact or meeting of the experiment the instance belongs to."""

    class Meta:
        model = EngagementRecord
        fields = ["kind", "subject", "date", "status", "who", "contacts", "next_step", "outcome"]
        widgets = {
            "date": DATE,
            "outcome": forms.Textarea(attrs={"rows": 4}),
            "contacts": forms.CheckboxSelectMultiple,
        }

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # Only the experiment's own people can take part in its records.
        self.fields["contacts"].queryset = self.instance.experiment.contacts.all()


class DocumentForm(forms.ModelForm):
    """A document awaiting the experiment's approval; the status moves draft → submitted → approved ..."""

    link = forms.URLField(required=False, max_length=500, assume_scheme="https")
    # Among active accounts, as the experiment's liaisons are (the model's field would offer every account).
    owner = forms.ModelChoiceField(
        queryset=people(), required=False, help_text=Document.owner.field.help_text
    )

    class Meta:
        model = Document
        fields = ["title", "link", "owner", "status", "status_note"]
        widgets = {"status_note": forms.Textarea(attrs={"rows": 3})}
