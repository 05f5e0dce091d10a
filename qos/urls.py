from django.urls import path, register_converter
from django.urls.converters import StringConverter

from common.urls import model_paths

from . import views


class LabelConverter(StringConverter):
    """A class label in a URL: upper case only, so lower-case paths (``/qos/rses/``) never clash with it."""

    regex = r"[A-Z0-9][A-Z0-9_-]{0,63}"


register_converter(LabelConverter, "label")

app_name = "qos"

urlpatterns = [
    *model_paths("", "<label:label>", views, "class"),
    path("rses/", views.rse_list, name="rse-list"),
    path("rses/assign/", views.rse_assign, name="rse-assign"),
    path("rse-expression/", views.rse_expression, name="rse-expression"),
    path("rses/<str:name>/", views.rse_detail, name="rse-detail"),
    path("rses/<str:name>/reconcile/", views.rse_reconcile, name="rse-reconcile"),
    path("rses/<str:name>/adopt/", views.rse_adopt, name="rse-adopt"),
    path("rses/<str:name>/probe/", views.rse_probe, name="rse-probe"),
    path("pushes/", views.push_list, name="push-list"),
    path("rucio/<slug:name>/", views.instance_detail, name="instance-detail"),
    path("rucio/<slug:name>/sync/", views.instance_sync, name="instance-sync"),
    path("<label:label>/history/", views.class_history, name="class-history"),
    path("<label:label>/<slug:action>/", views.class_transition, name="class-transition"),
]
