from django.urls import path, register_converter
from django.urls.converters import StringConverter

from . import views


class LabelConverter(StringConverter):
    """A class label in a URL: upper case only, so lower-case paths (``/qos/rses/``) never clash with it."""

    regex = r"[A-Z0-9][A-Z0-9_-]{0,63}"


register_converter(LabelConverter, "label")

app_name = "qos"

urlpatterns = [
    path("", views.class_list, name="class-list"),
    path("rses/", views.rse_list, name="rse-list"),
    path("rses/assign/", views.rse_assign, name="rse-assign"),
    path("rses/<str:name>/", views.rse_detail, name="rse-detail"),
    path("rses/<str:name>/reconcile/", views.rse_reconcile, name="rse-reconcile"),
    path("rses/<str:name>/adopt/", views.rse_adopt, name="rse-adopt"),
    path("rses/<str:name>/probe/", views.rse_probe, name="rse-probe"),
    path("pushes/", views.push_list, name="push-list"),
    path("rucio/<slug:name>/sync/", views.instance_sync, name="instance-sync"),
    path("new/", views.class_create, name="class-create"),
    path("<label:label>/", views.class_detail, name="class-detail"),
    path("<label:label>/edit/", views.class_edit, name="class-edit"),
    path("<label:label>/history/", views.class_history, name="class-history"),
    path("<label:label>/<slug:action>/", views.class_transition, name="class-transition"),
]
