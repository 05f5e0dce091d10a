from django.urls import path, register_converter

from . import views


class LabelConverter:
    """A class label in a URL: upper case only, so lower-case paths (``/qos/rses/``) never clash with it."""

    regex = r"[A-Z0-9][A-Z0-9_-]{0,63}"

    def to_python(self, value: str) -> str:
        return value

    def to_url(self, value: str) -> str:
        return value


register_converter(LabelConverter, "label")

app_name = "qos"

urlpatterns = [
    path("", views.class_list, name="class-list"),
    path("new/", views.class_create, name="class-create"),
    path("<label:label>/", views.class_detail, name="class-detail"),
    path("<label:label>/edit/", views.class_edit, name="class-edit"),
    path("<label:label>/history/", views.class_history, name="class-history"),
    path("<label:label>/<slug:action>/", views.class_transition, name="class-transition"),
]
