"""Experiment engagement's API routes, included under /api/v1/ by portal/api/urls.py."""

from rest_framework.routers import SimpleRouter

from .views import (
    ContactViewSet,
    DocumentViewSet,
    EngagementRecordViewSet,
    ExperimentViewSet,
    RequirementViewSet,
)

router = SimpleRouter()
router.register("experiments", ExperimentViewSet, basename="experiment")
router.register("requirements", RequirementViewSet, basename="requirement")
router.register("engagement-records", EngagementRecordViewSet, basename="engagement-record")
router.register("documents", DocumentViewSet, basename="document")
router.register("contacts", ContactViewSet, basename="contact")
