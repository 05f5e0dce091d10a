"""Answers to a logged-in user say ``Cache-Control: private``: no shared cache may keep them for someone else."""

import pytest
from django.test import Client
from rest_framework.test import APIClient

pytestmark = pytest.mark.django_db


def test_a_page_for_a_logged_in_user_is_private(client_for, member):
    response = client_for(member).get("/qos/")
    assert response.status_code == 200
    assert response["Cache-Control"] == "private"


def test_an_api_answer_for_a_session_user_is_private(client_for, member):
    response = client_for(member).get("/api/v1/qos-classes/")
    assert response.status_code == 200
    assert response["Cache-Control"] == "private"


def test_an_api_answer_for_a_bearer_token_is_private(iam):
    # The user of a bearer token is known only once DRF has authenticated the request, inside the view.
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {iam.provider.tokens_for('mona')['access_token']}")
    response = client.get("/api/v1/qos-classes/")
    assert response.status_code == 200
    assert response["Cache-Control"] == "private"


def test_what_a_view_says_about_caching_is_left_as_it_is(client_for, member):
    # never_cache: stricter than private already, and the view's own choice.
    response = client_for(member).get("/healthz")
    assert response["Cache-Control"] == "max-age=0, no-cache, no-store, must-revalidate, private"


def test_anonymous_answers_are_not_marked():
    response = Client().get("/qos/")  # to the login page
    assert response.status_code == 302
    assert "Cache-Control" not in response
