"""Engagement pages: /experiments/... and /requirements/... (included at the site's root)."""

from django.urls import path, register_converter
from django.urls.converters import StringConverter

from common.urls import model_paths
from qos.urls import LabelConverter

from . import views


class ShortNameConverter(StringConverter):
    """An experiment's short name, as its model validates it (e.g. CTA)."""

    regex = r"[A-Za-z0-9][A-Za-z0-9_-]{0,31}"


register_converter(ShortNameConverter, "short_name")
register_converter(LabelConverter, "class_label")

app_name = "engagement"

urlpatterns = [
    # Fixed paths first: the short names "new", "records" and "documents" are refused by the model.
    path("experiments/records/", views.record_list, name="record-list"),
    path("experiments/documents/", views.document_list, name="document-list"),
    *model_paths("experiments/", "<short_name:short_name>", views, "experiment"),
    path(
        "experiments/<short_name:short_name>/requirements/new/",
        views.requirement_create,
        name="experiment-requirement-create",
    ),
    path("experiments/<short_name:short_name>/records/new/", views.record_form, name="record-create"),
    path("experiments/<short_name:short_name>/records/<int:pk>/edit/", views.record_form, name="record-edit"),
    path("experiments/<short_name:short_name>/documents/new/", views.document_form, name="document-create"),
    path(
        "experiments/<short_name:short_name>/documents/<int:pk>/edit/",
        views.document_form,
        name="document-edit",
    ),
    path("experiments/<short_name:short_name>/contacts/new/", views.contact_form, name="contact-create"),
    path(
        "experiments/<short_name:short_name>/contacts/<int:pk>/edit/",
        views.contact_form,
        name="contact-edit",
    ),
    *model_paths("requirements/", "<int:pk>", views, "requirement"),
    path("requirements/gaps/", views.requirement_gaps, name="requirement-gaps"),
    path("requirements/coverage/", views.requirement_coverage, name="requirement-coverage"),
    path("requirements/<int:pk>/comments/", views.requirement_comment, name="requirement-comment"),
    path("requirements/<int:pk>/classes/", views.requirement_link, name="requirement-link"),
    path(
        "requirements/<int:pk>/classes/<class_label:label>/unlink/",
        views.requirement_unlink,
        name="requirement-unlink",
    ),
    path("requirements/<int:pk>/<slug:action>/", views.requirement_transition, name="requirement-transition"),
]
