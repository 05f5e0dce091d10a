"""Experiment engagement's API routes, included under /api/v1/ by portal/api/urls.py."""

from django.urls import path
from rest_framework.routers import SimpleRouter

from .views import (
    ContactViewSet,
    DocumentViewSet,
    EngagementRecordViewSet,
    ExperimentViewSet,
    ProposalImpactView,
    RequirementViewSet,
)

router = SimpleRouter()
router.register("experiments", ExperimentViewSet, basename="experiment")
router.register("requirements", RequirementViewSet, basename="requirement")
router.register("engagement-records", EngagementRecordViewSet, basename="engagement-record")
router.register("documents", DocumentViewSet, basename="document")
router.register("contacts", ContactViewSet, basename="contact")

# A route under the catalogue's qos-classes/: what a proposal would change for the requirements, which the
# catalogue's API (below this app) cannot know.
urlpatterns = [
    path("qos-classes/<str:label>/impact/", ProposalImpactView.as_view(), name="qos-class-impact"),
]
