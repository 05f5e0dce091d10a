from csp.decorators import csp_update
from django.contrib import admin
from django.contrib.auth.decorators import login_required
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView

from . import meeting_views, metrics, views
from .api.urls import router
from .iam import views as iam_views

app_urls = (
    [
        path("", views.dashboard, name="dashboard"),
        # Stream coordination: meetings, actions, people, calendars (portal/meeting_views.py).
        path("meetings/", meeting_views.meeting_list, name="meeting-list"),
        path("meetings/new/", meeting_views.meeting_create, name="meeting-create"),
        path("meetings/series/new/", meeting_views.series_create, name="series-create"),
        path(
            "meetings/series/<slug:slug>/calendar.ics", meeting_views.series_calendar, name="series-calendar"
        ),
        path("meetings/time-zone/", meeting_views.set_time_zone, name="set-time-zone"),
        path("meetings/<int:pk>/", meeting_views.meeting_detail, name="meeting-detail"),
        path("meetings/<int:pk>/edit/", meeting_views.meeting_edit, name="meeting-edit"),
        path("meetings/<int:pk>/next/", meeting_views.meeting_next, name="meeting-next"),
        path("meetings/<int:pk>/carry-over/", meeting_views.meeting_carry_over, name="meeting-carry-over"),
        path("meetings/<int:pk>/minutes/", meeting_views.minutes_edit, name="minutes-edit"),
        path("meetings/<int:pk>/timetable/", meeting_views.timetable_edit, name="timetable-edit"),
        path("meetings/<int:pk>/indico/", meeting_views.indico_import, name="indico-import"),
        path("meetings/<int:pk>/attachments/new/", meeting_views.attachment_add, name="attachment-add"),
        path("meetings/<int:pk>/print/", meeting_views.meeting_print, name="meeting-print"),
        path("meetings/<int:pk>/minutes.md", meeting_views.meeting_markdown, name="meeting-markdown"),
        path("meetings/attachments/<int:pk>/", meeting_views.attachment_download, name="attachment-download"),
        path("actions/", meeting_views.action_list, name="action-list"),
        path("actions/new/", meeting_views.action_create, name="action-create"),
        path("actions/<int:pk>/", meeting_views.action_detail, name="action-detail"),
        path("actions/<int:pk>/edit/", meeting_views.action_edit, name="action-edit"),
        path("people/", meeting_views.person_list, name="person-list"),
        path("people/new/", meeting_views.person_create, name="person-create"),
        path("people/<int:pk>/", meeting_views.person_detail, name="person-detail"),
        path("people/<int:pk>/edit/", meeting_views.person_edit, name="person-edit"),
        path("people/<int:pk>/actions.ics", meeting_views.person_calendar, name="person-calendar"),
        path("calendar/<str:token>.ics", meeting_views.calendar_feed, name="calendar-feed"),
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

urlpatterns = [
    path("", include(app_urls)),
    path("healthz", views.healthz, name="healthz"),
    # Prometheus: a bearer token (METRICS_TOKEN) or a QoS admin's session (portal/metrics.py).
    path("metrics", metrics.metrics, name="metrics"),
    path("qos/", include("qos.urls")),
    # Experiment engagement: /experiments/... and /requirements/... (engagement/urls.py).
    path("", include("engagement.urls")),
    # Login: the IAM button first when IAM is configured, local accounts while LOCAL_LOGIN_ENABLED (portal/iam/).
    path("accounts/login/", iam_views.LoginView.as_view(), name="login"),
    path("accounts/logout/", iam_views.LogoutView.as_view(), name="logout"),
    # mozilla-django-oidc's own URLs, as it documents them: /oidc/authenticate/, /oidc/callback/, /oidc/logout/.
    path("oidc/", include("mozilla_django_oidc.urls")),
    path("", include("portal.iam.urls")),  # /account/
    path("api/v1/", include(router.urls)),
    path("api/schema/", SpectacularAPIView.as_view(), name="api-schema"),
    # DRF views opt out of LoginRequiredMiddleware; the docs page is for people, so send them to log in.
    path("api/docs/", api_docs, name="api-docs"),
    path("api/auth/", include("rest_framework.urls")),
    path("admin/", admin.site.urls),
]

# A URL under /api/ that matches no route gets JSON, like every other API error (portal/api/errors.py).
handler404 = "portal.api.errors.not_found"
