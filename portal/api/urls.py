"""The API under /api/v1/: each app's routes (``<app>/api/urls.py``) in one router, so that the API root
lists every endpoint and the URLs stay flat (/api/v1/rses/, /api/v1/actions/)."""

from rest_framework.routers import DefaultRouter

from engagement.api.urls import router as engagement_router
from engagement.api.urls import urlpatterns as engagement_urlpatterns
from meetings.api.urls import router as meetings_router
from notifications.api.urls import urlpatterns as notifications_urlpatterns
from qos.api.urls import router as qos_router

from ..iam.api.views import MeViewSet

router = DefaultRouter()
for app_router in (qos_router, meetings_router, engagement_router):
    router.registry.extend(app_router.registry)
router.register("me", MeViewSet, basename="me")  # who I am: portal/iam/

# Routes that are no viewset of a router: my notification preferences under me/ (before the router's me/<pk>/),
# engagement's impact of a proposal under qos-classes/.
urlpatterns = [*notifications_urlpatterns, *router.urls, *engagement_urlpatterns]
