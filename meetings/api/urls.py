"""Stream coordination's API routes, included under /api/v1/ by portal/api/urls.py."""

from rest_framework.routers import SimpleRouter

from .views import ActionViewSet, MeetingViewSet, PersonViewSet, StreamViewSet

router = SimpleRouter()
router.register("streams", StreamViewSet, basename="stream")
router.register("people", PersonViewSet, basename="person")
router.register("meetings", MeetingViewSet, basename="meeting")
router.register("actions", ActionViewSet, basename="action")
