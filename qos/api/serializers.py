from functools import cached_property

from django.core.exceptions import ValidationError as DjangoValidationError
from drf_spectacular.utils import extend_schema_field, extend_schema_serializer
from rest_framework import serializers
from rest_framework.exceptions import ValidationError

from common.api.fields import UsernameField

from ..choices import ASSIGNABLE_STATUSES
from ..models import (
    CONTENT_FIELDS,
    RSE,
    Conformance,
    Probe,
    Push,
    PushAttempt,
    RucioInstance,
    StorageQoSClass,
    StorageQoSClassRevision,
)
from ..rse_expressions import MAX_LENGTH as MAX_EXPRESSION_LENGTH


class RevisionSerializer(serializers.ModelSerializer):
    author = serializers.SlugRelatedField(slug_field="username", read_only=True, allow_null=True)

    class Meta:
        model = StorageQoSClassRevision
        fields = ["number", "kind", "status", "author", "created_at", "comment", "changed_fields", "data"]
        read_only_fields = fields


class PendingProposalSerializer(serializers.Serializer):
    revision = serializers.IntegerField(source="number")
    # allow_null, no default: null for a deleted author (a default would drop the field from a PATCH's answer).
    author = UsernameField()
    created_at = serializers.DateTimeField()
    comment = serializers.CharField()
    content = serializers.JSONField(source="data")


class StorageQoSClassSerializer(serializers.ModelSerializer):
    """A class's content in force, its lifecycle state, and any change awaiting approval.

    Writes go through the model's lifecycle methods, never straight to the row: an edit of an approved class
    becomes a proposal, and ``base_revision`` (when given) refuses a stale edit with 409.
    """

    url = serializers.HyperlinkedIdentityField(view_name="qos-class-detail", lookup_field="label")
    pending_proposal = PendingProposalSerializer(source="pending_revision", read_only=True, allow_null=True)
    comment = serializers.CharField(write_only=True, required=False, allow_blank=True, default="")
    base_revision = serializers.IntegerField(
        write_only=True, required=False, help_text="The revision your edit starts from; 409 if it is stale."
    )

    class Meta:
        model = StorageQoSClass
        fields = [
            "url",
            *CONTENT_FIELDS,
            "status",
            "revision",
            "label_locked",
            "pending_proposal",
            "created_at",
            "updated_at",
            "approved_at",
            "comment",
            "base_revision",
        ]
        read_only_fields = ["status", "revision", "label_locked", "created_at", "updated_at", "approved_at"]

    def create(self, validated_data):
        validated_data.pop("base_revision", None)
        comment = validated_data.pop("comment", "")
        return StorageQoSClass.objects.create_draft(
            by=self.context["request"].user, comment=comment, **validated_data
        )

    def update(self, instance, validated_data):
        comment = validated_data.pop("comment", "")
        base_revision = validated_data.pop("base_revision", None)
        instance.edit(
            by=self.context["request"].user,
            changes=validated_data,
            comment=comment,
            base_revision=base_revision,
        )
        return instance


class TransitionSerializer(serializers.Serializer):
    comment = serializers.CharField(required=False, allow_blank=True, default="")
    base_revision = serializers.IntegerField(
        required=False, help_text="The revision you reviewed; 409 if the class changed since."
    )


BASE_REVISION_REQUIRED = (
    "Give base_revision: the class's revision when you reviewed it. A proposal is approved or rejected only "
    "as you saw it."
)


class ReviewSerializer(TransitionSerializer):
    """Approve or reject a proposal: as the reviewer saw it, so ``base_revision`` is required."""

    # Without it, content edited after the reviewer read it would be approved unseen.
    base_revision = serializers.IntegerField(
        help_text="The class's revision when you reviewed it (required); 409 if the class changed since.",
        error_messages={"required": BASE_REVISION_REQUIRED, "null": BASE_REVISION_REQUIRED},
    )


class RejectSerializer(ReviewSerializer):
    reason = serializers.CharField(help_text="Why the proposal is rejected.")


class DiffRowSerializer(serializers.Serializer):
    field = serializers.CharField()
    label = serializers.CharField()
    old = serializers.CharField()
    new = serializers.CharField()


class RucioInstanceSerializer(serializers.ModelSerializer):
    """A Rucio server. Where it connects and as whom is set in the deployment's environment (``<env_prefix>_*``
    variables, credentials included): only ``attribute_key``, ``conformance_attribute`` and ``enabled`` can be
    changed here."""

    # Each field set by the deployment, and the variable that sets it.
    DEPLOYMENT_FIELDS = {
        "name": "INSTANCE_NAME",
        "host": "HOST",
        "auth_host": "AUTH_HOST",
        "account": "ACCOUNT",
        "auth_type": "AUTH_TYPE",
        "ca_bundle": "CA_CERT",
        "env_prefix": None,
    }
    # A plain string: read-only, the model's URLField would be documented as a URL, which "" is not.
    auth_host = serializers.CharField(
        read_only=True, help_text="Rucio auth server URL; empty: same as the server."
    )

    class Meta:
        model = RucioInstance
        fields = [
            "name",
            "host",
            "auth_host",
            "account",
            "auth_type",
            "attribute_key",
            "conformance_attribute",
            "ca_bundle",
            "env_prefix",
            "enabled",
            "last_synced_at",
            "last_error",
        ]
        read_only_fields = [
            "name",
            "host",
            "auth_host",
            "account",
            "auth_type",
            "ca_bundle",
            "env_prefix",
            "last_synced_at",
            "last_error",
        ]

    def validate(self, attrs: dict) -> dict:
        # DRF ignores read-only fields silently: a client trying to re-point an instance must hear that it
        # cannot, and why. A value is only compared with the current one (the same value is no change): the
        # answer never depends on the worker's files, so it cannot tell whether a path exists.
        refused = {
            field: [self._set_by_deployment(variable)]
            for field, variable in self.DEPLOYMENT_FIELDS.items()
            if field in self.initial_data
            and self.instance is not None
            and str(self.initial_data[field]) != str(getattr(self.instance, field))
        }
        if refused:
            raise ValidationError(refused)
        key = attrs.get("attribute_key", getattr(self.instance, "attribute_key", "QOS"))
        refusal = RucioInstance.attributes_refusal(
            key, attrs.get("conformance_attribute", getattr(self.instance, "conformance_attribute", ""))
        )
        if refusal:
            raise ValidationError({"conformance_attribute": [refusal]})
        return attrs

    def update(self, instance: RucioInstance, validated_data: dict) -> RucioInstance:
        # Only these three are writable; what each change does to the RSEs is the model's.
        instance.change_settings(
            attribute_key=validated_data.get("attribute_key", instance.attribute_key),
            conformance_attribute=validated_data.get("conformance_attribute", instance.conformance_attribute),
            enabled=validated_data.get("enabled", instance.enabled),
            by=self.context["request"].user,
        )
        return instance

    def _set_by_deployment(self, variable: str | None) -> str:
        prefix = self.instance.env_prefix
        where = f"{prefix}_{variable}" if variable else "RUCIO_HOST or RUCIO_INSTANCES"
        return (
            f"Set in the deployment's environment ({where}; see README, Configuration), so that no one can "
            "have the portal send an instance's credentials elsewhere: it cannot be changed here."
        )


class PushAttemptSerializer(serializers.ModelSerializer):
    class Meta:
        model = PushAttempt
        fields = ["started_at", "finished_at", "outcome", "value_before", "error"]


class PushSerializer(serializers.ModelSerializer):
    rse = serializers.SlugRelatedField(slug_field="name", read_only=True)
    requested_by = serializers.SlugRelatedField(slug_field="username", read_only=True, allow_null=True)
    attempt_log = PushAttemptSerializer(many=True, read_only=True)

    class Meta:
        model = Push
        fields = [
            "id",
            "rse",
            "key",
            "value",
            "operation",
            "reason",
            "requested_by",
            "state",
            "attempts",
            "last_error",
            "created_at",
            "finished_at",
            "attempt_log",
        ]
        read_only_fields = fields


# What the portal last read from Rucio, or did to it: never written by a client.
FROM_RUCIO = [
    "rucio_value",
    "rucio_attributes",
    "sync_state",
    "missing_in_rucio",
    "last_read_at",
    "last_pushed_at",
]


class BlankAsNullField(serializers.CharField):
    """A text field the model keeps blank when there is nothing to say, null in the API."""

    def to_representation(self, value: str) -> str | None:
        return value or None


class RSECapacitySerializer(serializers.Serializer):
    """An RSE's capacity as Rucio last reported it, in bytes; null where unknown (never 0 for unknown)."""

    total_bytes = serializers.IntegerField(source="capacity_total_bytes", allow_null=True, read_only=True)
    used_bytes = serializers.IntegerField(source="capacity_used_bytes", allow_null=True, read_only=True)
    free_bytes = serializers.IntegerField(source="capacity_free_bytes", allow_null=True, read_only=True)
    min_free_bytes = serializers.IntegerField(
        source="capacity_min_free_bytes",
        allow_null=True,
        read_only=True,
        help_text="Rucio's MinFreeSpace limit: space its daemons keep free.",
    )
    usable_bytes = serializers.IntegerField(
        allow_null=True, read_only=True, help_text="Free space minus MinFreeSpace: what new data may take."
    )
    source = BlankAsNullField(
        source="capacity_source",
        allow_null=True,
        read_only=True,
        help_text="Rucio's usage source read: storage (the site's report), else rucio (Rucio's own count).",
    )
    read_at = serializers.DateTimeField(source="capacity_read_at", allow_null=True, read_only=True)
    error = BlankAsNullField(
        source="capacity_error", allow_null=True, read_only=True, help_text="Why the capacity is unknown."
    )


class ProbeSerializer(serializers.ModelSerializer):
    """One probe of an RSE: a small file written through Rucio, read back and deleted, and what it measured."""

    qos_class = serializers.CharField(
        source="qos_class_label", read_only=True, help_text="The class the RSE carried then (empty: none)."
    )
    error = BlankAsNullField(
        read_only=True, allow_null=True, help_text="Rucio's error, when the probe failed."
    )
    fault = BlankAsNullField(
        read_only=True,
        allow_null=True,
        help_text="Why it failed: transient or permanent (Rucio's fault), or not_probeable (what to set is said).",
    )

    class Meta:
        model = Probe
        fields = [
            "started_at",
            "duration_seconds",
            "ok",
            "size_bytes",
            "write_mbps",
            "read_mbps",
            "latency_seconds",
            "fault",
            "error",
            "qos_class",
        ]
        read_only_fields = fields


class ConformanceSerializer(serializers.ModelSerializer):
    """Whether the RSE delivers the class it advertises, as its probes measured it, and why."""

    reasons = serializers.ListField(child=serializers.CharField(), read_only=True)
    qos_class = serializers.CharField(
        source="qos_class_label", read_only=True, help_text="The class the verdict is about."
    )
    pending_verdict = BlankAsNullField(
        read_only=True,
        allow_null=True,
        help_text="Another verdict the last probes agree on, taken once QOS_PROBE_CONFIRMATIONS of them do.",
    )
    last_probe = ProbeSerializer(read_only=True, allow_null=True)

    class Meta:
        model = Conformance
        fields = [
            "verdict",
            "reasons",
            "qos_class",
            "checked_at",
            "pending_verdict",
            "pending_count",
            "last_probe",
        ]
        read_only_fields = fields


class RSESerializer(serializers.ModelSerializer):
    """An RSE. ``PATCH {"qos_class": "SAFE"}`` assigns (and pushes); ``null`` unassigns (and removes)."""

    url = serializers.HyperlinkedIdentityField(view_name="rse-detail", lookup_field="name")
    instance = serializers.SlugRelatedField(slug_field="name", read_only=True)
    qos_class = serializers.SlugRelatedField(
        slug_field="label", queryset=StorageQoSClass.objects.all(), allow_null=True, required=False
    )
    planned_class = serializers.SlugRelatedField(slug_field="label", read_only=True, allow_null=True)
    desired_value = serializers.CharField(read_only=True, allow_null=True)
    expression_may_be_stale = serializers.BooleanField(
        read_only=True, help_text="Rucio may still serve the old value in RSE expressions (up to 15 minutes)."
    )
    capacity = RSECapacitySerializer(source="*", read_only=True)
    conformance = serializers.SerializerMethodField()
    reason = serializers.CharField(write_only=True, required=False, allow_blank=True, default="")

    class Meta:
        model = RSE
        fields = [
            "url",
            "name",
            "instance",
            "qos_class",
            "planned_class",
            "desired_value",
            *FROM_RUCIO,
            "expression_may_be_stale",
            "capacity",
            "conformance",
            "reason",
        ]
        read_only_fields = ["name", *FROM_RUCIO]

    @extend_schema_field(ConformanceSerializer)
    def get_conformance(self, rse: RSE) -> dict:
        return self._conformance_serializer.to_representation(Conformance.of(rse))

    @cached_property
    def _conformance_serializer(self) -> ConformanceSerializer:
        # One for every row of a list: a serializer built per row (its fields copied and bound each time) was
        # most of the RSE list's cost without the table cache (bench/README.md).
        return ConformanceSerializer()

    def update(self, instance, validated_data):
        if "qos_class" in validated_data:
            try:
                RSE.objects.filter(pk=instance.pk).assign(
                    validated_data["qos_class"],
                    by=self.context["request"].user,
                    reason=validated_data.get("reason", ""),
                )
            except DjangoValidationError as error:
                # Not the usual 400: what the model says is about the class the client gave, whatever it names.
                raise ValidationError({"qos_class": error.messages}) from error
        instance.refresh_from_db()
        return instance


class RSEExpressionQuerySerializer(serializers.Serializer):
    """The query of ``GET /api/v1/rse-expression/``."""

    expression = serializers.CharField(
        max_length=MAX_EXPRESSION_LENGTH,
        trim_whitespace=False,  # a space is an error in Rucio's grammar: Rucio's answer to it is shown
        help_text="An RSE expression in Rucio's grammar, e.g. QOS=SAFE&country=DE.",
    )
    instance = serializers.CharField(
        required=False,
        allow_blank=True,
        help_text="The Rucio instance's name; may be left out when the portal knows only one.",
    )


class RSEExpressionDifferenceSerializer(serializers.Serializer):
    rse = serializers.CharField()
    in_rucio = serializers.BooleanField()
    in_portal = serializers.BooleanField()
    reason = serializers.CharField()


def _rse_names(help_text: str, *, nullable: bool = False) -> serializers.ListField:
    """A list of RSE names (or null, when ``nullable``)."""
    return serializers.ListField(child=serializers.CharField(), allow_null=nullable, help_text=help_text)


# One answer, not a list, though the route is the viewset's ``list``.
@extend_schema_serializer(many=False)
class RSEExpressionSerializer(serializers.Serializer):
    """An RSE expression evaluated by Rucio and by the portal (see ``qos.rse_expressions.Comparison``)."""

    expression = serializers.CharField()
    instance = serializers.CharField(source="instance.name")
    rucio = _rse_names(
        "The RSEs Rucio selects ([] when none matches); null when Rucio could not be asked.", nullable=True
    )
    rucio_error = serializers.CharField(
        allow_blank=True, help_text="Why Rucio could not be asked; empty if it was."
    )
    portal = _rse_names(
        "The RSEs the portal selects from what it knows of their attributes; null when it cannot tell.",
        nullable=True,
    )
    portal_error = serializers.CharField(
        allow_blank=True, help_text="Why the portal cannot tell, besides unknown_keys; empty otherwise."
    )
    unknown_keys = _rse_names("Rucio RSE properties in the expression, which the portal does not read.")
    agrees = serializers.BooleanField(allow_null=True, help_text="null when either could not tell.")
    differences = RSEExpressionDifferenceSerializer(many=True)
    recently_pushed = _rse_names("RSEs pushed so recently that Rucio may answer from its cache.")


class AssignmentPlanRequestSerializer(serializers.Serializer):
    """What an assignment would do, asked before it is done: the RSEs and the class (null: remove it)."""

    rses = serializers.SlugRelatedField(
        slug_field="name", queryset=RSE.objects.all(), many=True, allow_empty=False, help_text="RSE names."
    )
    qos_class = serializers.SlugRelatedField(
        slug_field="label",
        queryset=StorageQoSClass.objects.filter(status__in=ASSIGNABLE_STATUSES),
        allow_null=True,
        help_text="An approved class (pushed), a draft or proposed one (planned), or null (removed).",
    )


class PlanRowSerializer(serializers.Serializer):
    """One RSE of a plan: the value the portal wants in Rucio now, Rucio's, and the one after."""

    name = serializers.CharField(source="rse.name")
    current = serializers.CharField(source="from", allow_null=True)
    rucio = serializers.CharField(allow_null=True)
    after = serializers.CharField(source="to", allow_null=True)
    planned = serializers.BooleanField(
        help_text="The class awaits approval: planned now, pushed once approved."
    )
    changes = serializers.BooleanField(help_text="A push would be sent.")


class AssignmentPlanSerializer(serializers.Serializer):
    """An assignment's plan, RSE by RSE, and what it would do beyond the catalogue (``consequences``: the apps
    above say it; engagement gives ``coverage_changes``, the requirements whose coverage changes)."""

    qos_class = serializers.CharField(allow_null=True)
    rses = PlanRowSerializer(many=True)
    consequences = serializers.DictField(
        help_text="By the app that says it: coverage_changes (engagement), as in a requirement's coverage."
    )
