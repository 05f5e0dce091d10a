"""The catalogue's and the Rucio push's API routes, included under /api/v1/ by portal/api/urls.py."""

from rest_framework.routers import SimpleRouter

from .views import PushViewSet, RSEExpressionViewSet, RSEViewSet, RucioInstanceViewSet, StorageQoSClassViewSet

router = SimpleRouter()
router.register("qos-classes", StorageQoSClassViewSet, basename="qos-class")
router.register("rucio-instances", RucioInstanceViewSet, basename="rucio-instance")
router.register("rses", RSEViewSet, basename="rse")
router.register("pushes", PushViewSet, basename="push")
router.register("rse-expression", RSEExpressionViewSet, basename="rse-expression")
