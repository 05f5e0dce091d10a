"""Engagement pages: /experiments/... and /requirements/... (included at the site's root)."""

from collections.abc import Callable

from django.http import HttpResponse
from django.urls import URLPattern, include, path, register_converter
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


def item_paths(collection: str, view: Callable[..., HttpResponse], name: str) -> list[URLPattern]:
    """The two pages of an experiment's records, documents or contacts (``collection``), both drawn by
    ``view``: a form to add one (``<name>-create``) and one to change it (``<name>-edit``)."""
    return [
        path(f"experiments/<short_name:short_name>/{collection}/new/", view, name=f"{name}-create"),
        path(f"experiments/<short_name:short_name>/{collection}/<int:pk>/edit/", view, name=f"{name}-edit"),
    ]


# What is done to one requirement, below its page (requirements/<pk>/...).
requirement_pages = [
    path("comments/", views.requirement_comment, name="requirement-comment"),
    path("classes/", views.requirement_link, name="requirement-link"),
    path("classes/<class_label:label>/unlink/", views.requirement_unlink, name="requirement-unlink"),
    path("<slug:action>/", views.requirement_transition, name="requirement-transition"),
]

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
    *item_paths("records", views.record_form, "record"),
    *item_paths("documents", views.document_form, "document"),
    *item_paths("contacts", views.contact_form, "contact"),
    *model_paths("requirements/", "<int:pk>", views, "requirement"),
    path("requirements/gaps/", views.requirement_gaps, name="requirement-gaps"),
    path("requirements/coverage/", views.requirement_coverage, name="requirement-coverage"),
    # After requirement-edit: a lifecycle step's slug is never "edit".
    path("requirements/<int:pk>/", include(requirement_pages)),
]
