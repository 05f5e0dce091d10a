from drf_spectacular.utils import extend_schema_serializer
from rest_framework import serializers


class GrantSerializer(serializers.Serializer):
    group = serializers.CharField(help_text="The IAM group, normalised: escape/cta.")
    experiment = serializers.CharField(
        allow_null=True, help_text="For a liaison: the experiment's short name."
    )


class RoleSerializer(serializers.Serializer):
    role = serializers.CharField(help_text="member, liaison, coordinator or qos-admin.")
    label = serializers.CharField()
    iam_groups = GrantSerializer(
        many=True, help_text="The IAM groups that gave this role (empty: given locally)."
    )


class IamIdentitySerializer(serializers.Serializer):
    issuer = serializers.CharField()
    subject = serializers.CharField()
    groups = serializers.ListField(child=serializers.CharField(), help_text="IAM groups at the last login.")
    last_seen_at = serializers.DateTimeField()


# Answered by MeViewSet.list, but one object: not the array drf-spectacular documents for a ``list`` action.
@extend_schema_serializer(many=False)
class MeSerializer(serializers.Serializer):
    """The user the request is authenticated as: a session or an IAM bearer token."""

    username = serializers.CharField()
    name = serializers.CharField()
    email = serializers.CharField()
    account = serializers.ChoiceField(choices=["iam", "local"], help_text="How the account logs in.")
    roles = RoleSerializer(many=True)
    liaison_of = serializers.ListField(
        child=serializers.CharField(), help_text="Short names of the experiments this user is a liaison of."
    )
    iam = IamIdentitySerializer(allow_null=True)

    def to_representation(self, summary):
        user = summary.user
        identity = summary.identity
        return {
            "username": user.username,
            "name": user.get_full_name(),
            "email": user.email,
            "account": summary.kind,
            "roles": [
                {
                    "role": role,
                    "label": label,
                    "iam_groups": [
                        {"group": grant["group"], "experiment": grant["experiment"]} for grant in grants
                    ],
                }
                for role, label, grants in summary.role_rows
            ],
            "liaison_of": summary.liaison_of,
            "iam": None
            if identity is None
            else {
                "issuer": identity.issuer,
                "subject": identity.subject,
                "groups": identity.groups,
                "last_seen_at": serializers.DateTimeField().to_representation(identity.last_seen_at),
            },
        }
