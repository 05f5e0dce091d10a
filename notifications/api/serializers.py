from drf_spectacular.utils import extend_schema_serializer
from rest_framework import serializers

from ..choices import PERSONAL_KINDS, Delivery


@extend_schema_serializer(many=False)
class PreferencesSerializer(serializers.Serializer):
    """How the caller hears of each kind of notification: ``immediately``, in the daily ``digest``, or ``off``.
    A PATCH gives any of them; the others stay as they were."""

    def get_fields(self) -> dict:
        return {
            kind.value: serializers.ChoiceField(
                choices=Delivery.choices, required=False, help_text=kind.label
            )
            for kind in PERSONAL_KINDS
        }
