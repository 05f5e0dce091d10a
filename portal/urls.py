from csp.decorators import csp_update
from django.contrib import admin
from django.contrib.auth.decorators import login_required
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView

from . import metrics, views
from .api.urls import urlpatterns as api_urlpatterns
from .iam import views as iam_views

app_urls = (
    [
        path("", views.dashboard, name="dashboard"),
    ],
    "portal",
)

# The API docs page (Swagger UI). The split view serves its start-up script from ?script, as the
# Content-Security-Policy wants; Swagger UI draws its logo and icons as data: images, allowed on this page only.
api_docs = csp_update({"img-src": ["data:"]})(
    login_required(
        SpectacularSwaggerSplitView.as_view(url_name="api-schema", template_name="portal/api_docs.html")
    )
)

# Django tries these in order, and an include with an empty prefix ("", below) pattern by pattern, raising
# Resolver404 with the list it tried each time it finds nothing: the API's URLs, placed after the four such
# includes, took 55-110 us to resolve, 20-75 us placed before them (bench/README.md, sixth round). The
# includes' own URLs start with words no prefixed entry uses (tests/portal/test_urls.py), so no order between
# them changes what a path resolves to.
urlpatterns = [
    path("", include(app_urls)),
    path("healthz", views.healthz, name="healthz"),
    # Prometheus: a bearer token (METRICS_TOKEN) or a QoS admin's session (portal/metrics.py).
    path("metrics", metrics.metrics, name="metrics"),
    path("qos/", include("qos.urls")),
    path("api/v1/", include(api_urlpatterns)),
    path("api/schema/", SpectacularAPIView.as_view(), name="api-schema"),
    # DRF views opt out of LoginRequiredMiddleware; the docs page is for people, so send them to log in.
    path("api/docs/", api_docs, name="api-docs"),
    path("api/auth/", include("rest_framework.urls")),
    # Stream coordination: meetings, actions, people, calendars (meetings/urls.py).
    path("", include("meetings.urls")),
    # Experiment engagement: /experiments/... and /requirements/... (engagement/urls.py).
    path("", include("engagement.urls")),
    # Login: the IAM button first when IAM is configured, local accounts while LOCAL_LOGIN_ENABLED (portal/iam/).
    path("accounts/login/", iam_views.LoginView.as_view(), name="login"),
    path("accounts/logout/", iam_views.LogoutView.as_view(), name="logout"),
    # mozilla-django-oidc's own URLs, as it documents them: /oidc/authenticate/, /oidc/callback/, /oidc/logout/.
    path("oidc/", include("mozilla_django_oidc.urls")),
    path("", include("portal.iam.urls")),  # /account/
    # The signed one-click unsubscribe links of mails, which work without a login (notifications/).
    path("", include("notifications.urls")),
    path("admin/", admin.site.urls),
]

# Refusals and errors in the site's layout with the reason and a way back; JSON under /api/, like every other
# API error (portal/error_pages.py).
handler403 = "portal.error_pages.permission_denied"
handler404 = "portal.error_pages.page_not_found"
handler500 = "portal.error_pages.server_error"
