from typing import Any

from django import forms

from common.forms import change_note

from .choices import ASSIGNABLE_STATUSES
from .models import CONTENT_FIELDS, RSE, RucioInstance, StorageQoSClass
from .rse_expressions import MAX_LENGTH as MAX_EXPRESSION_LENGTH


class StorageQoSClassForm(forms.ModelForm):
    """Create or edit a class's content. ``base_revision`` carries the revision the editor started from."""

    comment = change_note("Why this change? Kept in the class's history.")
    base_revision = forms.IntegerField(required=False, widget=forms.HiddenInput)

    class Meta:
        model = StorageQoSClass
        fields = list(CONTENT_FIELDS)
        widgets = {
            "description": forms.Textarea(attrs={"rows": 6}),
            "label": forms.TextInput(attrs={"autocapitalize": "characters", "spellcheck": "false"}),
        }

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if self.instance.label_locked:
            self.fields["label"].disabled = True
            self.fields["label"].help_text = "Fixed: the class was approved and Rucio RSEs carry this label."

    def content(self) -> dict:
        return {name: self.cleaned_data[name] for name in CONTENT_FIELDS}


class TransitionForm(forms.Form):
    """Confirm a lifecycle step, with an optional comment."""

    comment = change_note()
    base_revision = forms.IntegerField(widget=forms.HiddenInput)


class RejectForm(TransitionForm):
    comment = forms.CharField(
        label="Reason",
        widget=forms.Textarea(attrs={"rows": 3}),
        error_messages={"required": "Say why the proposal is rejected."},
    )


class CompareForm(forms.Form):
    """Pick two revisions of a class to compare: ``from`` and ``to``, the names the API's diff takes."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # Set here: "from" is a Python keyword, so it cannot be declared as a class attribute.
        for name, label in (("from", "From revision"), ("to", "To revision")):
            self.fields[name] = forms.IntegerField(
                min_value=1,
                label=label,
                error_messages={
                    "required": "Give a revision number, e.g. 1.",
                    "invalid": "Give a revision number, e.g. 1.",
                    "min_value": "Revisions are numbered from 1.",
                },
            )


# A <select> puts every class on every page that shows it; above this many classes a field takes the label.
MAX_CLASSES_TO_LIST = 100


def too_many_classes_to_list() -> bool:
    """Whether the catalogue is too large for a <select> of its classes (one cheap query)."""
    return StorageQoSClass.objects.order_by()[: MAX_CLASSES_TO_LIST + 1].count() > MAX_CLASSES_TO_LIST


def label_input() -> forms.TextInput:
    """Where a <select> of classes would be too long: type the label (checked as the select's choice is)."""
    return forms.TextInput(
        attrs={"placeholder": "label, e.g. SAFE", "autocapitalize": "characters", "spellcheck": "false"}
    )


class AssignForm(forms.Form):
    """Assign a class to RSEs (or plan a class awaiting approval, or unassign). Confirmed after a plan."""

    rses = forms.ModelMultipleChoiceField(
        queryset=RSE.objects.all(),
        to_field_name="name",
        error_messages={"required": "Choose at least one RSE."},
    )
    qos_class = forms.ModelChoiceField(
        queryset=StorageQoSClass.objects.filter(status__in=ASSIGNABLE_STATUSES),
        to_field_name="label",
        required=False,
        empty_label="— none (remove the attribute) —",
        label="Class",
        help_text="Approved classes are pushed now; a draft or proposed one is planned until it is approved.",
    )
    confirm = forms.BooleanField(required=False, widget=forms.HiddenInput)
    reason = forms.CharField(required=False, max_length=200, help_text="Kept with each push.")
    # The RSE list's "Review removing the class" button: removing is chosen there, never by leaving the menu
    # as it was.
    remove = forms.BooleanField(required=False, widget=forms.HiddenInput)

    def clean_qos_class(self) -> StorageQoSClass | None:
        # The RSE list's menu starts on a placeholder, which a browser does not send: no class given is no
        # choice made, where an empty one (the RSE page's "none", the plan's confirmation) removes the class.
        if "qos_class" not in self.data and not self.data.get("remove"):
            raise forms.ValidationError("Choose the class to assign, or “Review removing the class”.")
        return self.cleaned_data["qos_class"]

    def clean(self) -> dict:
        cleaned = super().clean()
        if cleaned.get("remove"):
            # Whatever the label field held when the removal was asked for, it is not used.
            self.errors.pop("qos_class", None)
            cleaned["qos_class"] = None
        return cleaned


class RSEExpressionForm(forms.Form):
    """An RSE expression to evaluate, and on which Rucio instance (a choice only when there are several).

    Sent with GET, so that the page keeps what was typed and its address can be shared. An instance name that
    is not one of the portal's is left for the view to answer 404, as the API does.
    """

    expression = forms.CharField(
        max_length=MAX_EXPRESSION_LENGTH,
        strip=False,  # a space is an error in Rucio's grammar: show Rucio's answer to it, not another expression
        widget=forms.TextInput(
            attrs={"spellcheck": "false", "autocapitalize": "off", "placeholder": "QOS=SAFE&country=DE"}
        ),
        help_text="Rucio's grammar: key=value, key<n, key>n, an RSE name, *; & (and), | (or), \\ (without), "
        "read left to right; parentheses group.",
        error_messages={"required": "Type an RSE expression, e.g. QOS=SAFE."},
    )
    instance = forms.CharField(required=False, label="Rucio instance")

    def __init__(self, *args: Any, instances: list[str] | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        instances = instances or []
        if len(instances) > 1:
            self.fields["instance"].widget = forms.Select(choices=[(name, name) for name in instances])
        else:
            self.fields["instance"].widget = forms.HiddenInput()


class RucioInstanceForm(forms.ModelForm):
    """What the portal may change of a Rucio instance: the rest is the deployment's environment."""

    class Meta:
        model = RucioInstance
        fields = ["attribute_key", "conformance_attribute", "enabled"]
        help_texts = {
            "attribute_key": "The RSE attribute that carries the class label, e.g. QOS. Changing it writes "
            "nothing to Rucio: RSEs that do not carry their class under the new key show as drifted, to "
            "reconcile.",
            "conformance_attribute": "Set to true or false on every RSE by its conformance verdict, e.g. "
            "QOS_OK, so a rule can ask for QOS=FAST&QOS_OK=true; empty: not written back. Changing it pushes "
            "it to every RSE now and removes the former one.",
            "enabled": "A disabled instance is not synced, periodically or on demand.",
        }
