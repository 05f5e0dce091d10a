"""The notification preferences' API route, included under /api/v1/ by portal/api/urls.py."""

from django.urls import path

from .views import PreferencesView

urlpatterns = [
    # Mine, beside /api/v1/me/ (portal/iam/).
    path("me/notifications/", PreferencesView.as_view(), name="me-notifications"),
]
