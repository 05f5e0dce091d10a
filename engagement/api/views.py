"""Engagement API: experiments (by short name), requirements, contacts and meetings, documents, contacts."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework import generics, status
from rest_framework.decorators import action
from rest_framework.exceptions import NotFound
from rest_framework.permissions import BasePermission
from rest_framework.response import Response

from common.api.cached_lists import TableCachedListMixin
from common.api.permissions import ModelPermissions
from common.api.schema import CONFLICT
from common.api.viewsets import WritableViewSet, step_action
from qos.models import StorageQoSClass

from ..filters import ContactFilterSet, DocumentFilterSet, EngagementRecordFilterSet, RequirementFilterSet
from ..impact import impact_of_proposal
from ..models import (
    TRANSITIONS,
    Contact,
    Document,
    EngagementRecord,
    Experiment,
    Requirement,
)
from .permissions import EngagementPermissions
from .serializers import (
    CommentSerializer,
    ContactSerializer,
    DocumentSerializer,
    EngagementRecordSerializer,
    EventSerializer,
    ExperimentSerializer,
    LinkClassSerializer,
    LinkSerializer,
    ProposalImpactSerializer,
    RequirementDetailSerializer,
    RequirementSerializer,
    RequirementTransitionSerializer,
)

REVIEW = ["engagement.review_requirement"]
READ = ["engagement.view_requirement"]


class ExperimentViewSet(WritableViewSet):
    """Experiments and their liaisons. Coordinators create and change them."""

    queryset = Experiment.objects.prefetch_related("liaisons", "contacts")
    serializer_class = ExperimentSerializer
    lookup_field = "short_name"
    lookup_value_regex = r"[A-Za-z0-9][A-Za-z0-9_-]{0,31}"
    filterset_fields = ["short_name"]
    ordering_fields = ["short_name", "name"]


def _step(name: str, doc: str) -> Any:
    """The API action that takes the lifecycle step ``name`` (``TRANSITIONS``), with ``{"comment"}``."""
    return step_action(
        name,
        doc,
        lambda viewset, request: viewset._take(request, name),
        request=RequirementTransitionSerializer,
        responses={200: RequirementDetailSerializer, 409: CONFLICT},
    )


# An edit refused by the lifecycle (e.g. of an accepted requirement) answers 409, as the steps do.
@extend_schema_view(
    update=extend_schema(responses={200: RequirementSerializer, 409: CONFLICT}),
    partial_update=extend_schema(responses={200: RequirementSerializer, 409: CONFLICT}),
)
class RequirementViewSet(TableCachedListMixin, WritableViewSet):
    """Storage requirements of experiments, filed by their liaisons and reviewed by QoS admins.

    Filter by ``experiment`` (short name, repeatable), ``status`` (repeatable), ``gap`` (true/false),
    ``at_risk`` (true/false: accepted or satisfied, and a linked class short of RSEs in sync), ``q``.
    """

    # Gaps are found by the serializer, against the approved classes loaded once per page (matching.py):
    # with_class_flags() would scan the catalogue in SQL for every row (the ``gap`` filter still uses it).
    queryset = Requirement.objects.for_lists().with_coverage_flag()
    # The rows' needs, experiment, filer, links and their classes; the classes that fit; RSEs in sync (coverage).
    cache_tables = (
        "engagement_requirement",
        "engagement_experiment",
        "auth_user",
        "engagement_classlink",
        "qos_storageqosclass",
        "qos_rse",
    )
    serializer_class = RequirementSerializer
    permission_classes = [EngagementPermissions]
    filterset_class = RequirementFilterSet
    ordering_fields = ["created_at", "needed_by", "status", "status_changed_at"]
    action_permissions = {
        **{
            name: (REVIEW if t.by_reviewer else ["engagement.change_requirement"])
            for name, t in TRANSITIONS.items()
        },
        "link": REVIEW,
        "unlink": REVIEW,
        "history": READ,
        # Reading the thread needs view_requirement; writing is checked by Requirement.add_comment.
        "comments": READ,
    }

    def get_serializer_class(self):
        if self.action == "retrieve":
            return RequirementDetailSerializer
        return super().get_serializer_class()

    def get_serializer_context(self) -> dict[str, Any]:
        # A list's rows name a few of the classes that fit (RequirementSerializer.get_matching_classes).
        return {**super().get_serializer_context(), "in_list": self.action == "list"}

    def _detail(self, requirement: Requirement) -> Response:
        fresh = self.get_queryset().get(pk=requirement.pk)
        return Response(RequirementDetailSerializer(fresh, context=self.get_serializer_context()).data)

    def _requirement_and_body(self, request, serializer_class) -> tuple[Requirement, dict[str, Any]]:
        """The requirement of the address, and the body of the request as ``serializer_class`` reads it."""
        # The requirement first: its permission and its existence are checked before the body.
        requirement = self.get_object()
        serializer = serializer_class(data=request.data)
        serializer.is_valid(raise_exception=True)
        return requirement, serializer.validated_data

    def _take(self, request, name: str) -> Response:
        requirement, body = self._requirement_and_body(request, RequirementTransitionSerializer)
        requirement.take(name, by=request.user, comment=body["comment"])
        return self._detail(requirement)

    review = _step("review", "Start the review of a filed requirement (QoS admins).")
    accept = _step("accept", "Accept a filed or reviewed requirement (QoS admins).")
    reject = _step(
        "reject", "Reject a filed or reviewed requirement; ``comment`` (why) is required (QoS admins)."
    )
    satisfy = _step(
        "satisfy", "Mark an accepted requirement satisfied; it needs a linked approved class (QoS admins)."
    )
    withdraw = _step("withdraw", "Withdraw a requirement (the experiment's liaisons).")
    refile = _step("refile", "File a rejected or withdrawn requirement again (the experiment's liaisons).")

    @extend_schema(request=LinkClassSerializer, responses={200: RequirementDetailSerializer, 409: CONFLICT})
    @action(detail=True, methods=["post"])
    def link(self, request, pk=None):
        """Link an approved class by hand (QoS admins), with the copies wanted in it (default 1):
        ``{"qos_class": "SAFE", "copies": 2, "note": "..."}``."""
        requirement, body = self._requirement_and_body(request, LinkClassSerializer)
        requirement.link_class(body["qos_class"], by=request.user, note=body["note"], copies=body["copies"])
        return self._detail(requirement)

    @extend_schema(request=LinkSerializer, responses={200: RequirementDetailSerializer})
    @action(detail=True, methods=["post"])
    def unlink(self, request, pk=None):
        """Remove a class linked by hand (QoS admins): ``{"qos_class": "SAFE"}``."""
        requirement, body = self._requirement_and_body(request, LinkSerializer)
        requirement.unlink_class(body["qos_class"], by=request.user, comment=body["note"])
        return self._detail(requirement)

    @extend_schema(responses=EventSerializer(many=True))
    @action(detail=True, methods=["get"], filterset_class=None, ordering_fields=None)
    def history(self, request, pk=None):
        """Every step of the requirement (filed, edited, status changes, links), newest first."""
        requirement = self.get_object()
        page = self.paginate_queryset(requirement.events.select_related("author", "qos_class"))
        return self.get_paginated_response(EventSerializer(page, many=True).data)

    @extend_schema(methods=["GET"], responses=CommentSerializer(many=True))
    @extend_schema(methods=["POST"], request=CommentSerializer, responses={201: CommentSerializer})
    @action(detail=True, methods=["get", "post"], filterset_class=None, ordering_fields=None)
    def comments(self, request, pk=None):
        """The thread: GET lists it, oldest first; POST ``{"text"}`` adds to it (liaisons of the
        experiment and QoS admins)."""
        requirement = self.get_object()
        if request.method == "POST":
            serializer = CommentSerializer(data=request.data)
            serializer.is_valid(raise_exception=True)
            comment = requirement.add_comment(by=request.user, text=serializer.validated_data["text"])
            return Response(CommentSerializer(comment).data, status=status.HTTP_201_CREATED)
        page = self.paginate_queryset(requirement.comments.select_related("author"))
        return self.get_paginated_response(CommentSerializer(page, many=True).data)


class EngagementRecordViewSet(WritableViewSet):
    """Contacts and meetings with experiments. Filter by ``experiment``, ``kind``, ``status``."""

    queryset = EngagementRecord.objects.select_related("experiment", "created_by").prefetch_related(
        "contacts"
    )
    serializer_class = EngagementRecordSerializer
    permission_classes = [EngagementPermissions]
    filterset_class = EngagementRecordFilterSet
    ordering_fields = ["date", "status"]


class DocumentViewSet(WritableViewSet):
    """Documents awaiting experiments' approval. Filter by ``experiment``, ``status``."""

    queryset = Document.objects.select_related("experiment", "owner", "status_changed_by")
    serializer_class = DocumentSerializer
    permission_classes = [EngagementPermissions]
    filterset_class = DocumentFilterSet
    ordering_fields = ["status_changed_at", "status", "title"]


class ContactViewSet(WritableViewSet):
    """People at experiments who have no account. Filter by ``experiment`` (short name)."""

    queryset = Contact.objects.select_related("experiment")
    serializer_class = ContactSerializer
    permission_classes = [EngagementPermissions]
    filterset_class = ContactFilterSet
    ordering_fields = ["name"]


class ReadsRequirements(BasePermission):
    """An impact names requirements: reading it needs their view permission too."""

    message = "Reading requirements needs the view permission of requirements."

    def has_permission(self, request: Any, view: Any) -> bool:
        return request.user.has_perms(READ)


class ProposalImpactView(generics.GenericAPIView):
    """What approving the proposal awaiting approval on a class would change: the active requirements it would
    start or stop matching and, for a new class planned on RSEs, whose coverage its approval changes.

    404 when nothing awaits approval on the class. The catalogue's API does not know requirements, so this
    route of ``qos-classes`` is engagement's (``engagement/api/urls.py``).
    """

    queryset = StorageQoSClass.objects.select_related("pending_revision")
    serializer_class = ProposalImpactSerializer
    permission_classes = [ModelPermissions, ReadsRequirements]
    lookup_field = "label"
    filter_backends: list = []
    pagination_class = None

    def get(self, request: Any, label: str) -> Response:
        qos_class = self.get_object()
        impact = impact_of_proposal(qos_class)
        if impact is None:
            raise NotFound(f"Nothing awaits approval on {qos_class.label}: there is no proposal to weigh.")
        return Response(self.get_serializer(impact).data)
