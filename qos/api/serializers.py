from django.core.exceptions import ValidationError as DjangoValidationError
from rest_framework import serializers
from rest_framework.exceptions import ValidationError

from ..models import CONTENT_FIELDS, StorageQoSClass, StorageQoSClassRevision


class RevisionSerializer(serializers.ModelSerializer):
    author = serializers.SlugRelatedField(slug_field="username", read_only=True)

    class Meta:
        model = StorageQoSClassRevision
        fields = ["number", "kind", "status", "author", "created_at", "comment", "changed_fields", "data"]
        read_only_fields = fields


class PendingProposalSerializer(serializers.Serializer):
    revision = serializers.IntegerField(source="number")
    author = serializers.CharField(source="author.username", default=None)
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
        try:
            return StorageQoSClass.objects.create_draft(
                by=self.context["request"].user, comment=comment, **validated_data
            )
        except DjangoValidationError as error:
            raise ValidationError(validation_detail(error)) from error

    def update(self, instance, validated_data):
        comment = validated_data.pop("comment", "")
        base_revision = validated_data.pop("base_revision", None)
        try:
            instance.edit(
                by=self.context["request"].user,
                changes=validated_data,
                comment=comment,
                base_revision=base_revision,
            )
        except DjangoValidationError as error:
            raise ValidationError(validation_detail(error)) from error
        return instance


class TransitionSerializer(serializers.Serializer):
    comment = serializers.CharField(required=False, allow_blank=True, default="")
    base_revision = serializers.IntegerField(
        required=False, help_text="The revision you reviewed; 409 if the class changed since."
    )


class RejectSerializer(TransitionSerializer):
    reason = serializers.CharField(help_text="Why the proposal is rejected.")


class DiffRowSerializer(serializers.Serializer):
    field = serializers.CharField()
    label = serializers.CharField()
    old = serializers.CharField()
    new = serializers.CharField()


def validation_detail(error: DjangoValidationError):
    if hasattr(error, "error_dict"):
        return {
            ("non_field_errors" if key == "__all__" else key): value
            for key, value in error.message_dict.items()
        }
    return {"non_field_errors": error.messages}
