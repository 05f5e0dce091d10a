from datetime import timedelta
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError as DjangoValidationError
from django.shortcuts import get_object_or_404
from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    OpenApiParameter,
    OpenApiResponse,
    extend_schema,
    extend_schema_view,
    inline_serializer,
)
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import MethodNotAllowed, NotFound, ValidationError
from rest_framework.renderers import JSONRenderer
from rest_framework.response import Response

from common.api.cached_lists import TableCachedListMixin
from common.api.schema import CONFLICT, VALIDATION_ERROR
from common.api.viewsets import WritableViewSet, step_action

from .. import consequences, tasks
from ..catalogue_io import export_catalogue
from ..filters import PushFilterSet, RSEFilterSet, StorageQoSClassFilterSet
from ..models import RSE, Probe, Push, RucioInstance, StorageQoSClass, revision_diff
from ..rse_expressions import InstanceNotNamed, InvalidExpression, compare, instance_for
from .serializers import (
    AssignmentPlanRequestSerializer,
    AssignmentPlanSerializer,
    DiffRowSerializer,
    ProbeSerializer,
    PushSerializer,
    RejectSerializer,
    ReviewSerializer,
    RevisionSerializer,
    RSEExpressionQuerySerializer,
    RSEExpressionSerializer,
    RSESerializer,
    RucioInstanceSerializer,
    StorageQoSClassSerializer,
    TransitionSerializer,
)

QueueUnavailableSerializer = inline_serializer(
    "QueueUnavailable", {"detail": serializers.CharField(), "code": serializers.CharField()}
)


def queued_response(queued: bool, what: str) -> Response:
    """202 when a background task (``what``: "sync of test") was queued; 503 when the task queue did not take
    it, and nothing was queued."""
    if not queued:
        return Response(
            {
                "detail": f"The {what} could not be queued: the task queue does not answer. Try again shortly.",
                "code": "queue_unavailable",
            },
            status=status.HTTP_503_SERVICE_UNAVAILABLE,
            headers={"Retry-After": "60"},
        )
    return Response({"detail": f"{what[0].upper()}{what[1:]} queued."}, status=status.HTTP_202_ACCEPTED)


def queued_schema(name: str) -> Any:
    """The schema of an action that queues a background task and answers with ``queued_response``; ``name``
    names its 202 body."""
    return extend_schema(
        request=None,
        responses={
            202: inline_serializer(name, {"detail": serializers.CharField()}),
            503: OpenApiResponse(QueueUnavailableSerializer, description="The task queue does not answer"),
        },
    )


REVIEW_NOT_VALID = OpenApiResponse(
    VALIDATION_ERROR,
    description='No `base_revision` (`{"base_revision": ["Give base_revision: ..."]}`), the revision reviewed, '
    "which an approval and a rejection must name; or, to reject, no `reason`. Nothing was changed.",
)


def _class_step(
    method: str, doc: str, serializer_class: Any, text_argument: str = "comment", *, reviewed: bool = False
) -> Any:
    """The API action that takes the catalogue step ``method`` (a method of the class) with the body
    ``serializer_class`` reads, its text passed as ``text_argument``; a review (``reviewed``) names the revision
    it reviewed, and answers 400 without it."""
    responses = {200: StorageQoSClassSerializer, 409: CONFLICT}
    if reviewed:
        responses = {200: StorageQoSClassSerializer, 400: REVIEW_NOT_VALID, 409: CONFLICT}
    return step_action(
        method,
        doc,
        lambda viewset, request: viewset._transition(request, method, serializer_class, text_argument),
        request=serializer_class,
        responses=responses,
    )


# An edit refused by the lifecycle (a retired class, a stale ``base_revision``) answers 409, as the steps do.
@extend_schema_view(
    update=extend_schema(responses={200: StorageQoSClassSerializer, 409: CONFLICT}),
    partial_update=extend_schema(responses={200: StorageQoSClassSerializer, 409: CONFLICT}),
)
class StorageQoSClassViewSet(TableCachedListMixin, WritableViewSet):
    """The Storage QoS Class catalogue. Classes are never deleted: deprecate, then retire them."""

    queryset = StorageQoSClass.objects.select_related("pending_revision__author")
    serializer_class = StorageQoSClassSerializer
    cache_tables = ("qos_storageqosclass", "qos_storageqosclassrevision", "auth_user")
    filterset_class = StorageQoSClassFilterSet
    ordering_fields = ["label", "status", "updated_at"]
    lookup_field = "label"
    lookup_value_regex = r"[A-Z0-9][A-Z0-9_-]{0,63}"
    action_permissions = {
        "propose": ["qos.change_storageqosclass"],
        "approve": ["qos.approve_storageqosclass"],
        "reject": ["qos.approve_storageqosclass"],
        "deprecate": ["qos.change_storageqosclass"],
        "retire": ["qos.change_storageqosclass"],
        "revisions": ["qos.view_storageqosclass"],
        "diff": ["qos.view_storageqosclass"],
        "export": ["qos.view_storageqosclass"],
    }

    def _transition(self, request, method: str, serializer_class, text_argument: str = "comment"):
        qos_class = self.get_object()
        serializer = serializer_class(data=request.data)
        serializer.is_valid(raise_exception=True)
        text = serializer.validated_data.get("reason", serializer.validated_data.get("comment", ""))
        getattr(qos_class, method)(
            by=request.user,
            base_revision=serializer.validated_data.get("base_revision"),
            **{text_argument: text},
        )
        return Response(StorageQoSClassSerializer(qos_class, context=self.get_serializer_context()).data)

    propose = _class_step("propose", "Put a draft up for approval.", TransitionSerializer)
    approve = _class_step(
        "approve",
        "Approve the proposal awaiting approval, as it was at `base_revision` (required; 409 if the class\n"
        "changed since). Refused (409) to anyone who wrote part of it.",
        ReviewSerializer,
        reviewed=True,
    )
    reject = _class_step(
        "reject",
        "Reject the proposal awaiting approval, as it was at `base_revision` (required; 409 if the class\n"
        "changed since); a reason is required.",
        RejectSerializer,
        "reason",
        reviewed=True,
    )
    deprecate = _class_step("deprecate", "Deprecate an approved class.", TransitionSerializer, "reason")
    retire = _class_step("retire", "Retire a deprecated class.", TransitionSerializer, "reason")

    @extend_schema(responses=RevisionSerializer(many=True))
    @action(detail=True, methods=["get"], filterset_class=None, ordering_fields=None)
    def revisions(self, request, label=None):
        """Every revision of the class, newest first."""
        qos_class = self.get_object()
        page = self.paginate_queryset(qos_class.revisions.select_related("author"))
        return self.get_paginated_response(RevisionSerializer(page, many=True).data)

    @extend_schema(
        parameters=[
            OpenApiParameter("from", int, required=True, description="Older revision number"),
            OpenApiParameter("to", int, required=True, description="Newer revision number"),
        ],
        responses={
            200: DiffRowSerializer(many=True),
            400: OpenApiResponse(description="Bad revision numbers"),
        },
    )
    @action(detail=True, methods=["get"], filterset_class=None, pagination_class=None)
    def diff(self, request, label=None):
        """Field-by-field difference between two revisions."""
        qos_class = self.get_object()
        numbers = {}
        for name in ("from", "to"):
            try:
                numbers[name] = int(request.query_params[name])
            except (KeyError, ValueError):
                raise ValidationError({name: "Give a revision number."}) from None
        old = get_object_or_404(qos_class.revisions, number=numbers["from"])
        new = get_object_or_404(qos_class.revisions, number=numbers["to"])
        return Response(DiffRowSerializer(revision_diff(old, new), many=True).data)

    @extend_schema(
        responses={200: OpenApiResponse(OpenApiTypes.OBJECT, description="The catalogue export (version 1)")}
    )
    @action(
        detail=False,
        methods=["get"],
        filterset_class=None,
        pagination_class=None,
        renderer_classes=[JSONRenderer],
    )
    def export(self, request):
        """The whole catalogue (classes with every revision, RSE assignments) as a file for
        `manage.py import_catalogue`; the same data the other reads show."""
        response = Response(export_catalogue())
        name = f"qos-catalogue-{timezone.now():%Y%m%d-%H%M%S}.json"
        response["Content-Disposition"] = f'attachment; filename="{name}"'
        return response


class RucioInstanceViewSet(
    mixins.RetrieveModelMixin, mixins.UpdateModelMixin, mixins.ListModelMixin, viewsets.GenericViewSet
):
    """Rucio servers the portal pushes to. The deployment's environment says which there are, where they
    connect and with which credentials; QoS admins choose the attribute key, disable one, and sync now."""

    queryset = RucioInstance.objects.all()
    serializer_class = RucioInstanceSerializer
    lookup_field = "name"
    http_method_names = ["get", "post", "patch", "head", "options"]
    action_permissions = {"sync": ["qos.push_rse"]}

    def http_method_not_allowed(self, request, *args, **kwargs):
        if request.method in ("POST", "PUT", "DELETE"):
            raise MethodNotAllowed(
                request.method,
                detail="Rucio instances are set in the deployment's environment (RUCIO_HOST, RUCIO_INSTANCES; "
                "see README, Configuration): they cannot be added, replaced or removed here.",
            )
        return super().http_method_not_allowed(request, *args, **kwargs)

    @queued_schema("SyncQueued")
    @action(detail=True, methods=["post"])
    def sync(self, request, name=None):
        """Import the instance's RSEs and check every RSE for drift (in the background). 503 when the task
        queue cannot take the sync: nothing was queued, try again later."""
        instance = self.get_object()
        return queued_response(tasks.queue_sync(instance), f"sync of {instance.name}")


class RSEViewSet(
    TableCachedListMixin,
    mixins.RetrieveModelMixin,
    mixins.UpdateModelMixin,
    mixins.ListModelMixin,
    viewsets.GenericViewSet,
):
    """RSEs known to the portal, looked up by name. ``PATCH {"qos_class": "SAFE"}`` assigns and pushes."""

    queryset = RSE.objects.with_related()
    serializer_class = RSESerializer
    cache_tables = ("qos_rse", "qos_rucioinstance", "qos_storageqosclass", "qos_conformance", "qos_probe")

    def cache_valid_until(self, rows):
        # expression_may_be_stale turns false RUCIO_CACHE_MINUTES after a push, with no write.
        now, window = timezone.now(), timedelta(minutes=settings.RUCIO_CACHE_MINUTES)
        ends = [
            rse.last_pushed_at + window
            for rse in rows
            if rse.last_pushed_at and rse.last_pushed_at + window > now
        ]
        return min(ends).timestamp() if ends else None

    filterset_class = RSEFilterSet
    ordering_fields = ["name", "sync_state", "last_read_at"]
    lookup_field = "name"
    lookup_value_regex = r"[^/]+"
    http_method_names = ["get", "patch", "post", "head", "options"]
    action_permissions = {
        "plan": ["qos.push_rse"],
        "partial_update": ["qos.push_rse"],
        "update": ["qos.push_rse"],
        "reconcile": ["qos.push_rse"],
        "adopt": ["qos.push_rse"],
        "probe": ["qos.push_rse"],
    }

    @extend_schema(request=AssignmentPlanRequestSerializer, responses={200: AssignmentPlanSerializer})
    @action(detail=False, methods=["post"], filterset_class=None, pagination_class=None)
    def plan(self, request):
        """What assigning a class to RSEs (or removing it) would do, changing nothing: RSE by RSE, and the
        consequences the apps above report (the plan page's, as JSON)."""
        asked = AssignmentPlanRequestSerializer(data=request.data, context=self.get_serializer_context())
        asked.is_valid(raise_exception=True)
        qos_class = asked.validated_data["qos_class"]
        rows = RSE.objects.filter(pk__in=[rse.pk for rse in asked.validated_data["rses"]]).plan(qos_class)
        # As on the plan page: a class only planned on RSEs moves none of them until it is approved.
        panels = consequences.of_assignment([row["rse"] for row in rows if not row["planned"]], qos_class)
        plan = {
            "qos_class": qos_class.label if qos_class else None,
            "rses": rows,
            "consequences": consequences.as_api(panels, self.get_serializer_context()),
        }
        return Response(AssignmentPlanSerializer(plan).data)

    @queued_schema("ProbeQueued")
    @action(detail=True, methods=["post"])
    def probe(self, request, name=None):
        """Probe the RSE through Rucio now (in the background): write a small file, read it back, delete it,
        and judge the RSE against its class. 503 when the task queue cannot take it: nothing was queued."""
        rse = self.get_object()
        return queued_response(tasks.queue_probe(rse), f"probe of {rse.name}")

    @extend_schema(responses=ProbeSerializer(many=True))
    @action(detail=True, methods=["get"], filterset_class=None, ordering_fields=None)
    def probes(self, request, name=None):
        """The RSE's probes, newest first (raw for QOS_PROBE_RAW_DAYS days; older ones as daily means on its page)."""
        rse = self.get_object()
        page = self.paginate_queryset(Probe.objects.filter(rse=rse).order_by("-started_at", "-pk"))
        return self.get_paginated_response(ProbeSerializer(page, many=True).data)

    @extend_schema(
        request=None, responses={200: RSESerializer, 400: OpenApiResponse(description="Nothing to do")}
    )
    @action(detail=True, methods=["post"])
    def reconcile(self, request, name=None):
        """Push the portal's value to Rucio (or remove a value the portal did not set)."""
        return self._settle_drift(RSE.reconcile)

    @extend_schema(
        request=None, responses={200: RSESerializer, 400: OpenApiResponse(description="Cannot adopt")}
    )
    @action(detail=True, methods=["post"])
    def adopt(self, request, name=None):
        """Take Rucio's value into the portal, when it is an approved class."""
        return self._settle_drift(RSE.adopt)

    def _settle_drift(self, settle) -> Response:
        rse = self.get_object()
        # Not the usual 400 (non_field_errors): why there is nothing to do, or why Rucio's value cannot be
        # adopted, has always come as ``detail``.
        try:
            settle(rse, by=self.request.user)
        except DjangoValidationError as error:
            raise ValidationError({"detail": error.messages}) from error
        # A reconcile's push is written apart from this instance.
        rse.refresh_from_db()
        return Response(RSESerializer(rse, context=self.get_serializer_context()).data)


class PushViewSet(viewsets.ReadOnlyModelViewSet):
    """Every push, newest first, with every attempt and its error."""

    queryset = Push.objects.select_related("rse", "requested_by").prefetch_related("attempt_log")
    serializer_class = PushSerializer
    filterset_class = PushFilterSet


class RSEExpressionViewSet(viewsets.ViewSet):
    """Which RSEs an RSE expression selects: asked of Rucio, and worked out by the portal from what it knows of
    the RSEs' attributes (those read at the last sync, and the classes it pushed), with every RSE where the two
    differ and why. Anyone who may read RSEs."""

    queryset = RSE.objects.none()  # for the permission: qos.view_rse

    @extend_schema(
        parameters=[RSEExpressionQuerySerializer],
        responses={
            200: RSEExpressionSerializer,
            400: OpenApiResponse(
                VALIDATION_ERROR,
                description='The expression is missing or refused, by Rucio with its own message ({"expression": '
                '["Rucio refused this expression: ..."]}); or no instance is named while there are several.',
            ),
            404: OpenApiResponse(description="No Rucio instance of that name."),
        },
    )
    def list(self, request):
        query = RSEExpressionQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        try:
            instance = instance_for(query.validated_data.get("instance"))
        except RucioInstance.DoesNotExist as missing:
            raise NotFound(str(missing) or "No Rucio instance of that name.") from missing
        except InstanceNotNamed as several:
            raise ValidationError({"instance": [str(several)]}) from several
        try:
            comparison = compare(query.validated_data["expression"], instance)
        except InvalidExpression as refusal:
            raise ValidationError({"expression": [refusal.explained()]}) from refusal
        return Response(RSEExpressionSerializer(comparison).data)
