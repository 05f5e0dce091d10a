from django.urls import path

from . import views

app_name = "iam"

urlpatterns = [
    path("account/", views.account, name="account"),
]
