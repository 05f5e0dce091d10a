"""One router for the whole API (/api/v1/): every app registers its viewsets here."""

from rest_framework.routers import DefaultRouter

from qos.api.views import StorageQoSClassViewSet

router = DefaultRouter()
router.register("qos-classes", StorageQoSClassViewSet, basename="qos-class")
