from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from . import views
from .api.urls import router

app_urls = (
    [
        path("", views.dashboard, name="dashboard"),
    ],
    "portal",
)

urlpatterns = [
    path("", include(app_urls)),
    path("healthz", views.healthz, name="healthz"),
    path("qos/", include("qos.urls")),
    path("accounts/login/", auth_views.LoginView.as_view(redirect_authenticated_user=True), name="login"),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("api/v1/", include(router.urls)),
    path("api/schema/", SpectacularAPIView.as_view(), name="api-schema"),
    # DRF views opt out of LoginRequiredMiddleware; the docs page is for people, so send them to log in.
    path("api/docs/", login_required(SpectacularSwaggerView.as_view(url_name="api-schema")), name="api-docs"),
    path("api/auth/", include("rest_framework.urls")),
    path("admin/", admin.site.urls),
]
