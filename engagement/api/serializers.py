"""Engagement as JSON. Experiments are named by short name, classes by label, users by username."""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers
from rest_framework.exceptions import PermissionDenied, ValidationError

from common.api.fields import UsernameField
from qos.models import StorageQoSClass

from ..choices import RequirementStatus
from ..coverage import ClassCoverage, coverage_of_links
from ..matching import ApprovedClasses, approved_classes
from ..models import (
    LINK_COPIES_BOUNDS,
    NEED_FIELDS,
    NEED_RANGE_MESSAGES,
    ClassLink,
    Contact,
    Document,
    EngagementRecord,
    Experiment,
    Requirement,
    RequirementComment,
    RequirementEvent,
)

User = get_user_model()

# When a row was made and last changed: last of its fields (``timestamped``), and read-only.
TIMESTAMPS = ("created_at", "updated_at")


def timestamped(*fields: str) -> list[str]:
    """A serializer's ``fields``, then its row's ``TIMESTAMPS``."""
    return [*fields, *TIMESTAMPS]


def experiment_field(**kwargs: Any) -> serializers.SlugRelatedField:
    return serializers.SlugRelatedField(
        slug_field="short_name",
        queryset=Experiment.objects.all(),
        help_text="Short name, e.g. CTA.",
        **kwargs,
    )


def username_field(**kwargs: Any) -> serializers.SlugRelatedField:
    return serializers.SlugRelatedField(slug_field="username", queryset=User.objects.all(), **kwargs)


class ContactBriefSerializer(serializers.ModelSerializer):
    class Meta:
        model = Contact
        fields = ["id", "name", "role", "email"]


class ExperimentSerializer(serializers.ModelSerializer):
    """An experiment with its liaisons (usernames) and contacts (people without accounts)."""

    url = serializers.HyperlinkedIdentityField(view_name="experiment-detail", lookup_field="short_name")
    liaisons = username_field(many=True, required=False)
    contacts = ContactBriefSerializer(many=True, read_only=True)

    class Meta:
        model = Experiment
        fields = timestamped(
            "url", "short_name", "name", "description", "website", "iam_group", "liaisons", "contacts"
        )
        read_only_fields = ["iam_group", *TIMESTAMPS]

    def validate_short_name(self, value: str) -> str:
        if self.instance is not None and value != self.instance.short_name:
            raise ValidationError("Fixed: pages, the API and the IAM group use it.")
        return value

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        candidate = Experiment(
            pk=getattr(self.instance, "pk", None),
            short_name=attrs.get("short_name", getattr(self.instance, "short_name", "")),
        )
        # DRF's is_valid() turns a Django ValidationError raised in validate() into its own (a 400 by field).
        candidate.clean()
        return attrs


class ClassCheckSerializer(serializers.Serializer):
    property = serializers.CharField(source="name")
    label = serializers.CharField()
    needed = serializers.CharField()
    offered = serializers.CharField()
    fits = serializers.BooleanField()
    reason = serializers.CharField()


class ClassMatchSerializer(serializers.Serializer):
    qos_class = serializers.CharField(source="qos_class.label")
    fits = serializers.BooleanField()
    checks = ClassCheckSerializer(many=True)


class ClassLinkSerializer(serializers.ModelSerializer):
    qos_class = serializers.CharField(source="qos_class.label")
    # allow_null, no default: null when nobody is set (a default would drop the field from a PATCH's answer).
    linked_by = UsernameField()

    class Meta:
        model = ClassLink
        fields = ["qos_class", "copies", "linked_by", "linked_at", "note"]


class RSESpaceSerializer(serializers.Serializer):
    """An RSE in sync advertising a linked class, and its usable space."""

    name = serializers.CharField()
    usable_bytes = serializers.IntegerField(
        allow_null=True, help_text="Free space minus Rucio's MinFreeSpace; null when Rucio did not report it."
    )


class ClassCoverageSerializer(serializers.Serializer):
    """One linked class: copies wanted, the RSEs in sync advertising it with their usable space, and whether a
    copy of the requirement's volume fits on enough of them."""

    qos_class = serializers.CharField(source="qos_class.label")
    copies = serializers.IntegerField(source="wanted", help_text="Copies wanted in the class.")
    rses = serializers.ListField(
        child=serializers.CharField(), help_text="Names of the RSEs in sync that advertise the class."
    )
    available = serializers.IntegerField(help_text="How many RSEs in sync advertise the class.")
    covered = serializers.BooleanField(help_text="Enough RSEs in sync, each with usable space for a copy.")
    short_by = serializers.IntegerField(
        help_text="RSEs in sync missing, whatever their space; 0 when enough."
    )
    volume_bytes = serializers.IntegerField(help_text="The space one copy takes: the requirement's volume.")
    space = serializers.SerializerMethodField(
        help_text="Each RSE in sync advertising the class, in name order."
    )
    rses_with_room = serializers.IntegerField(help_text="How many of them have usable space for a copy.")
    fits = serializers.BooleanField(
        allow_null=True,
        help_text="Every copy fits on a distinct RSE in sync with room for it; false when short of RSEs or of "
        "space; null when it depends on a capacity Rucio did not report.",
    )
    short_of_space_bytes = serializers.IntegerField(
        allow_null=True,
        help_text="Usable space missing on the best RSEs in sync without room (at least this much when some "
        "capacity is unknown); 0 when space is not short; null when unknown.",
    )

    @extend_schema_field(RSESpaceSerializer(many=True))
    def get_space(self, line: ClassCoverage) -> list[dict[str, Any]]:
        return [{"name": name, "usable_bytes": usable} for name, usable in line.space]


# How many labels of fitting classes a row of a requirement list names (matching_classes).
MATCHING_CLASSES_IN_LISTS = 20


class RequirementSerializer(serializers.ModelSerializer):
    """A requirement, the approved classes that fit it, those linked by hand, and whether it is a gap.

    Writes go through the model: filing checks that the user is a liaison of the experiment (403 otherwise),
    and every change is recorded with who, when and ``comment``.
    """

    url = serializers.HyperlinkedIdentityField(view_name="requirement-detail")
    experiment = experiment_field()
    filed_by = UsernameField()
    matching_classes = serializers.SerializerMethodField(
        help_text=f"Labels of approved classes that fit, in label order. In a list, the first "
        f"{MATCHING_CLASSES_IN_LISTS} only (how many there are: matching_class_count); the requirement's own "
        "record lists them all."
    )
    matching_class_count = serializers.SerializerMethodField(help_text="How many approved classes fit.")
    linked_classes = ClassLinkSerializer(source="links", many=True, read_only=True)
    is_gap = serializers.SerializerMethodField()
    coverage_at_risk = serializers.BooleanField(
        read_only=True,
        help_text="Accepted or satisfied, and a linked class has fewer RSEs in sync than the copies wanted.",
    )
    comment = serializers.CharField(
        write_only=True, required=False, allow_blank=True, default="", help_text="Why; kept in the history."
    )

    class Meta:
        model = Requirement
        fields = [
            "url",
            "id",
            "experiment",
            *NEED_FIELDS,
            "status",
            "filed_by",
            "matching_classes",
            "matching_class_count",
            "linked_classes",
            "is_gap",
            "coverage_at_risk",
            "created_at",
            "updated_at",
            "status_changed_at",
            "comment",
        ]
        read_only_fields = ["status", "created_at", "updated_at", "status_changed_at"]
        extra_kwargs = {
            **{name: {"error_messages": messages} for name, messages in NEED_RANGE_MESSAGES.items()},
            "storage_media": {
                "error_messages": {
                    "invalid_choice": "Unknown storage media “{input}”: use disk, ssd, tape or disk+tape."
                }
            },
            "access_latency": {
                "error_messages": {"invalid_choice": "Unknown access latency “{input}”: online or nearline."}
            },
        }

    def _classes(self) -> list[StorageQoSClass]:
        # Loaded once per response: the context is shared by every row of a list.
        if "approved_classes" not in self.context:
            self.context["approved_classes"] = approved_classes()
        return self.context["approved_classes"]

    def _index(self) -> ApprovedClasses:
        # Loaded once per response, like _classes(): a whole page is held against the same classes.
        if "approved_index" not in self.context:
            self.context["approved_index"] = ApprovedClasses.cached()
        return self.context["approved_index"]

    def get_matching_classes(self, requirement: Requirement) -> list[str]:
        # A list row names a few: a requirement may fit thousands of classes, and a page of 50 rows listing
        # them all ran to 800 KB on a large catalogue.
        limit = MATCHING_CLASSES_IN_LISTS if self.context.get("in_list") else None
        return self._index().fitting_labels(requirement, limit)

    def get_matching_class_count(self, requirement: Requirement) -> int:
        return self._index().fitting_count(requirement)

    def get_is_gap(self, requirement: Requirement) -> bool:
        return self._index().is_gap(requirement)

    def validate_experiment(self, experiment: Experiment) -> Experiment:
        if self.instance is not None:
            if experiment != self.instance.experiment:
                raise ValidationError("A requirement stays with its experiment; file a new one.")
            return experiment
        if not experiment.can_write_requirements(self.context["request"].user):
            # 403, not 400: the request is well-formed, the user may not do it.
            raise PermissionDenied(experiment.requirements_refusal())
        return experiment

    def create(self, validated_data: dict[str, Any]) -> Requirement:
        comment = validated_data.pop("comment", "")
        experiment = validated_data.pop("experiment")
        return Requirement.objects.file(
            by=self.context["request"].user, experiment=experiment, comment=comment, **validated_data
        )

    def update(self, instance: Requirement, validated_data: dict[str, Any]) -> Requirement:
        comment = validated_data.pop("comment", "")
        validated_data.pop("experiment", None)
        instance.edit(by=self.context["request"].user, changes=validated_data, comment=comment)
        return instance


class RequirementDetailSerializer(RequirementSerializer):
    """One requirement with every approved class held against it, property by property."""

    matches = serializers.SerializerMethodField()

    coverage = serializers.SerializerMethodField()

    class Meta(RequirementSerializer.Meta):
        fields = [*RequirementSerializer.Meta.fields, "description_html", "matches", "coverage"]

    description_html = serializers.SerializerMethodField()

    def get_description_html(self, requirement: Requirement) -> str:
        from common.markdown import render_markdown

        return str(render_markdown(requirement.description))

    def get_matches(self, requirement: Requirement) -> list[dict[str, Any]]:
        return ClassMatchSerializer(requirement.matches(self._classes()), many=True).data

    @extend_schema_field(ClassCoverageSerializer(many=True))
    def get_coverage(self, requirement: Requirement) -> list[dict[str, Any]]:
        return ClassCoverageSerializer(coverage_of_links(requirement.links.all()), many=True).data


class RequirementTransitionSerializer(serializers.Serializer):
    comment = serializers.CharField(required=False, allow_blank=True, default="", help_text="Why.")


class LinkSerializer(serializers.Serializer):
    qos_class = serializers.SlugRelatedField(
        slug_field="label", queryset=StorageQoSClass.objects.all(), help_text="Label, e.g. SAFE."
    )
    note = serializers.CharField(required=False, allow_blank=True, default="", max_length=500)


class LinkClassSerializer(LinkSerializer):
    """What ``link`` takes: the class, and the copies wanted in it (2 for two copies on SAFE; default 1)."""

    copies = serializers.IntegerField(
        required=False, default=1, help_text="Copies wanted on RSEs of this class.", **LINK_COPIES_BOUNDS
    )


class EventSerializer(serializers.ModelSerializer):
    author = UsernameField()
    qos_class = serializers.CharField(source="qos_class.label", read_only=True, allow_null=True)
    # Declared, not generated: a generated read-only field forgets that the model allows blank (when filed).
    from_status = serializers.ChoiceField(choices=RequirementStatus.choices, allow_blank=True, read_only=True)

    class Meta:
        model = RequirementEvent
        fields = [
            "kind",
            "from_status",
            "to_status",
            "author",
            "created_at",
            "comment",
            "changed_fields",
            "qos_class",
        ]
        read_only_fields = fields


class CommentSerializer(serializers.ModelSerializer):
    author = UsernameField()

    class Meta:
        model = RequirementComment
        fields = ["id", "author", "created_at", "text"]
        read_only_fields = ["id", "author", "created_at"]


def item_fields(*fields: str) -> list[str]:
    """The fields of a record, document or contact: its address, id and experiment, then its own ``fields``,
    then its timestamps."""
    return timestamped("url", "id", "experiment", *fields)


class ExperimentItemSerializer(serializers.ModelSerializer):
    """Records, documents and contacts: written by the experiment's liaisons (and coordinators)."""

    experiment = experiment_field()

    def validate_experiment(self, experiment: Experiment) -> Experiment:
        if self.instance is not None:
            if experiment != self.instance.experiment:
                raise ValidationError("It stays with its experiment.")
            return experiment
        model_name = self.Meta.model._meta.model_name
        if not experiment.can_write_engagement(self.context["request"].user, model_name, "add"):
            raise PermissionDenied(experiment.engagement_refusal(model_name))
        return experiment

    def _save(self, instance: Any, validated_data: dict[str, Any]) -> Any:
        many = {
            name: validated_data.pop(name)
            for name in list(validated_data)
            if instance._meta.get_field(name).many_to_many
        }
        for name, value in validated_data.items():
            setattr(instance, name, value)
        # The model's own validation, which DRF does not run (a 400 if it fails: common/api/errors.py).
        instance.full_clean()
        instance.save_by(self.context["request"].user)
        for name, value in many.items():
            getattr(instance, name).set(value)
        return instance

    def create(self, validated_data: dict[str, Any]) -> Any:
        instance = self.Meta.model()
        if hasattr(instance, "created_by_id"):
            instance.created_by = self.context["request"].user
        return self._save(instance, validated_data)

    def update(self, instance: Any, validated_data: dict[str, Any]) -> Any:
        return self._save(instance, validated_data)


class ContactSerializer(ExperimentItemSerializer):
    url = serializers.HyperlinkedIdentityField(view_name="contact-detail")

    class Meta:
        model = Contact
        fields = item_fields("name", "role", "email", "notes")
        read_only_fields = TIMESTAMPS


class EngagementRecordSerializer(ExperimentItemSerializer):
    url = serializers.HyperlinkedIdentityField(view_name="engagement-record-detail")
    contacts = serializers.PrimaryKeyRelatedField(
        many=True,
        required=False,
        queryset=Contact.objects.all(),
        help_text="Ids of the experiment's contacts.",
    )
    created_by = UsernameField()

    class Meta:
        model = EngagementRecord
        fields = item_fields(
            "kind", "subject", "date", "who", "contacts", "outcome", "next_step", "status", "created_by"
        )
        read_only_fields = TIMESTAMPS

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        experiment = attrs.get("experiment") or getattr(self.instance, "experiment", None)
        strangers = [c.name for c in attrs.get("contacts", []) if c.experiment_id != experiment.pk]
        if strangers:
            raise ValidationError({"contacts": f"Not contacts of {experiment}: {', '.join(strangers)}."})
        return attrs


class DocumentSerializer(ExperimentItemSerializer):
    url = serializers.HyperlinkedIdentityField(view_name="document-detail")
    owner = username_field(required=False, allow_null=True, help_text="Who runs it through the experiment.")
    status_changed_by = UsernameField()

    class Meta:
        model = Document
        fields = item_fields(
            "title", "link", "owner", "status", "status_note", "status_changed_at", "status_changed_by"
        )
        read_only_fields = ["status_changed_at", *TIMESTAMPS]


# --- what a proposal awaiting approval would change (GET /api/v1/qos-classes/{label}/impact/) ----------------------
class RequirementRefSerializer(serializers.ModelSerializer):
    """A requirement named in an impact: enough to find it."""

    url = serializers.HyperlinkedIdentityField(view_name="requirement-detail")
    experiment = serializers.CharField(source="experiment.short_name", read_only=True)

    class Meta:
        model = Requirement
        fields = ["id", "url", "experiment", "title", "status", "volume_tb"]
        read_only_fields = fields


class StoppingRequirementSerializer(RequirementRefSerializer):
    """A requirement a proposal would stop matching, and whether it is linked to the class by hand."""

    linked = serializers.SerializerMethodField(help_text="Linked to the class by hand: it stays linked.")

    class Meta(RequirementRefSerializer.Meta):
        fields = [*RequirementRefSerializer.Meta.fields, "linked"]
        read_only_fields = fields

    def get_linked(self, requirement: Requirement) -> bool:
        return requirement.pk in self.context["linked"]


class CoverageChangeSerializer(serializers.Serializer):
    """A requirement's coverage in a linked class now and once RSEs have moved (``coverage.CoverageChange``)."""

    requirement = RequirementRefSerializer()
    qos_class = serializers.CharField(source="now.qos_class.label")
    copies = serializers.IntegerField(source="now.wanted")
    leaving = serializers.ListField(
        child=serializers.CharField(), help_text="RSEs in sync that leave the class."
    )
    arriving = serializers.ListField(
        child=serializers.CharField(), help_text="RSEs that get the class (counted once their push is done)."
    )
    before = ClassCoverageSerializer(source="now")
    after = ClassCoverageSerializer(source="then")
    breaks = serializers.BooleanField(help_text="Leaves an accepted requirement short, or shorter.")


class ProposalImpactSerializer(serializers.Serializer):
    """What approving a class's proposal would change for the requirements (``impact.ProposalImpact``)."""

    qos_class = serializers.CharField(source="qos_class.label")
    revision = serializers.IntegerField(
        help_text="The class's revision: the base_revision an approval names."
    )
    starts_matching = RequirementRefSerializer(
        many=True,
        help_text="Active requirements the proposed content satisfies and the content in force does not.",
    )
    stops_matching = serializers.SerializerMethodField(
        help_text="Active requirements the content in force satisfies and the proposed one does not."
    )
    coverage_changes = CoverageChangeSerializer(
        source="coverage",
        many=True,
        help_text="For a new class planned on RSEs: coverage its approval changes.",
    )

    @extend_schema_field(StoppingRequirementSerializer(many=True))
    def get_stops_matching(self, impact: Any) -> list[dict[str, Any]]:
        context = {**self.context, "linked": impact.linked}
        return StoppingRequirementSerializer(impact.stops_matching, many=True, context=context).data
