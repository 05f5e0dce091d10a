from drf_spectacular.utils import extend_schema
from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from ..models import Preference
from .serializers import PreferencesSerializer


class PreferencesView(APIView):
    """My notification preferences, per kind: /api/v1/me/notifications/."""

    # Everyone logged in chooses for themselves only: there is no other user's to read or change.
    permission_classes = [IsAuthenticated]
    serializer_class = PreferencesSerializer

    @extend_schema(responses=PreferencesSerializer, summary="How I hear of each kind of notification")
    def get(self, request: Request) -> Response:
        return Response(Preference.objects.of_user(request.user))

    @extend_schema(
        request=PreferencesSerializer,
        responses=PreferencesSerializer,
        summary="Change how I hear of some kinds",
    )
    def patch(self, request: Request) -> Response:
        serializer = PreferencesSerializer(data=request.data, partial=True)
        serializer.is_valid(raise_exception=True)
        Preference.objects.choose_many(request.user, serializer.validated_data)
        return Response(Preference.objects.of_user(request.user))
