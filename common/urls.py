"""URL patterns that every app lays out the same way."""

from __future__ import annotations

from types import ModuleType

from django.urls import URLPattern, path


def model_paths(prefix: str, key: str, views: ModuleType, name: str) -> list[URLPattern]:
    """The four pages of one kind of row, the same in every app: its list (``<prefix>``), a form to add one
    (``<prefix>new/``), one row (``<prefix><key>/``) and its form (``<prefix><key>/edit/``). They are the
    ``views`` ``<name>_list``, ``<name>_create``, ``<name>_detail`` and ``<name>_edit``, and are named like
    them: ``<name>-list``, ``<name>-create``, ``<name>-detail``, ``<name>-edit``. Paths of the app that the
    ``key`` would also match (``experiments/records/``) go before these."""
    return [
        path(prefix, getattr(views, f"{name}_list"), name=f"{name}-list"),
        path(f"{prefix}new/", getattr(views, f"{name}_create"), name=f"{name}-create"),
        path(f"{prefix}{key}/", getattr(views, f"{name}_detail"), name=f"{name}-detail"),
        path(f"{prefix}{key}/edit/", getattr(views, f"{name}_edit"), name=f"{name}-edit"),
    ]
