from drf_spectacular.utils import extend_schema
from rest_framework import viewsets
from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response

from ..models import account_summary
from .serializers import MeSerializer


class MeViewSet(viewsets.ViewSet):
    """Who the caller is: for scripts checking what their IAM token lets them do."""

    # Anyone authenticated may see themselves, with or without a role: that is how they learn why not.
    permission_classes = [IsAuthenticated]

    @extend_schema(responses=MeSerializer, summary="Who I am, my roles and the IAM groups that gave them")
    def list(self, request: Request) -> Response:
        return Response(MeSerializer(account_summary(request.user)).data)
