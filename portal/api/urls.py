"""One router for the whole API (/api/v1/): every app registers its viewsets here."""

from rest_framework.routers import DefaultRouter

from engagement.api.views import (
    ContactViewSet,
    DocumentViewSet,
    EngagementRecordViewSet,
    ExperimentViewSet,
    RequirementViewSet,
)
from qos.api.views import PushViewSet, RSEViewSet, RucioInstanceViewSet, StorageQoSClassViewSet

from ..iam.api.views import MeViewSet
from .views import ActionViewSet, MeetingViewSet, PersonViewSet, StreamViewSet

router = DefaultRouter()
router.register("qos-classes", StorageQoSClassViewSet, basename="qos-class")
router.register("rucio-instances", RucioInstanceViewSet, basename="rucio-instance")
router.register("rses", RSEViewSet, basename="rse")
router.register("pushes", PushViewSet, basename="push")
# Stream coordination (portal/api/views.py).
router.register("streams", StreamViewSet, basename="stream")
router.register("people", PersonViewSet, basename="person")
router.register("meetings", MeetingViewSet, basename="meeting")
router.register("actions", ActionViewSet, basename="action")
# Experiment engagement (engagement/api/views.py).
router.register("experiments", ExperimentViewSet, basename="experiment")
router.register("requirements", RequirementViewSet, basename="requirement")
router.register("engagement-records", EngagementRecordViewSet, basename="engagement-record")
router.register("documents", DocumentViewSet, basename="document")
router.register("contacts", ContactViewSet, basename="contact")
router.register("me", MeViewSet, basename="me")  # who I am: portal/iam/
