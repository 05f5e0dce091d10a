"""The login page, "my account" and /api/v1/me/: who I am, my roles, my experiments, and the IAM groups behind them."""

import pytest
from django.contrib.auth.models import Group
from django.db import connection
from django.test.utils import CaptureQueriesContext

from engagement.models import Experiment
from portal.choices import Role
from portal.iam.models import IamIdentity

pytestmark = pytest.mark.django_db


def test_login_page_shows_the_iam_button_before_the_local_form(iam, client):
    page = client.get("/accounts/login/?next=/qos/").content.decode()
    button = page.index('href="/oidc/authenticate/?next=%2Fqos%2F"')
    assert "Log in with ESCAPE IAM" in page
    assert button < page.index("Or with a local account") < page.index('name="password"')


def test_the_iam_button_carries_the_page_asked_for_through_the_login(iam, client, experiments):
    response = iam.login(client, "liam", next_url="/qos/?status=approved")
    assert response.url == "/qos/?status=approved"


def test_with_local_accounts_switched_off_only_iam_remains(iam, client, settings, member):
    settings.LOCAL_LOGIN_ENABLED = False
    page = client.get("/accounts/login/").content.decode()
    assert "Log in with ESCAPE IAM" in page
    assert 'name="password"' not in page
    response = client.post("/accounts/login/", {"username": member.username, "password": "erin-member-pw"})
    assert response.status_code == 403
    assert "Local accounts are switched off" in response.content.decode()
    assert "_auth_user_id" not in client.session
    assert not client.login(username=member.username, password="erin-member-pw")  # the backend refuses too


def test_switching_local_accounts_off_ends_their_sessions(client_for, member, settings):
    client = client_for(member)
    assert client.get("/qos/").status_code == 200
    settings.LOCAL_LOGIN_ENABLED = False
    assert client.get("/qos/").status_code == 302


def test_the_header_links_the_user_name_to_my_account(client_for, member):
    page = client_for(member).get("/").content.decode()
    assert '<a class="who" href="/account/"' in page


def test_my_account_shows_roles_experiments_and_the_iam_groups_that_gave_them(iam, client, experiments):
    iam.login(client, "liam")
    page = client.get("/account/").content.decode()
    assert "IAM account" in page
    assert "Liam Liaison" in page and "liam@cta.example" in page
    assert "Experiment liaison of CTA" in page
    assert "IAM group <code>escape/cta</code> (CTA)" in page
    assert "IAM group <code>escape</code>" in page
    assert "Roles follow your IAM groups" in page


def test_my_account_of_a_local_account_says_who_gave_the_roles(client_for, liaison_cta):
    page = client_for(liaison_cta).get("/account/").content.decode()
    assert "local account" in page
    assert "Experiment liaison of CTA" in page
    assert "a portal admin" in page


def test_a_user_without_role_sees_their_account_page_and_why(client_for, outsider):
    response = client_for(outsider).get("/account/")
    assert response.status_code == 200
    assert "No role" in response.content.decode()


def test_my_account_needs_a_login(client):
    response = client.get("/account/")
    assert response.status_code == 302 and response.url.startswith("/accounts/login/")


def test_api_me_for_a_local_account(api_for, liaison_cta):
    assert api_for(liaison_cta).get("/api/v1/me/").json() == {
        "username": "dave-cta",
        "name": "",
        "email": "",
        "account": "local",
        "roles": [
            {"role": "member", "label": "Member", "iam_groups": []},
            {"role": "liaison", "label": "Experiment liaison", "iam_groups": []},
        ],
        "liaison_of": ["CTA"],
        "iam": None,
    }


def test_api_me_for_an_iam_account_names_the_groups(iam, client, experiments):
    iam.login(client, "ada")
    me = client.get("/api/v1/me/").json()
    assert me["roles"] == [
        {"role": "member", "label": "Member", "iam_groups": [{"group": "escape", "experiment": None}]},
        {
            "role": "qos-admin",
            "label": "QoS admin",
            "iam_groups": [{"group": "escape/qos/admins", "experiment": None}],
        },
    ]
    assert me["iam"]["groups"] == ["escape", "escape/qos/admins"]
    assert me["iam"]["issuer"] == iam.provider.issuer


def test_api_me_needs_authentication(db):
    from rest_framework.test import APIClient

    response = APIClient().get("/api/v1/me/")
    # 401, as the README says, with a challenge to log in (a bearer token's with IAM on: test_bearer_tokens).
    assert response.status_code == 401
    assert response["WWW-Authenticate"] == 'Session realm="escape-qos-portal"'


def _iam_user_liaison_of(django_user_model, count: int):
    user = django_user_model.objects.create_user(f"many-{count}")
    user.groups.add(*Group.objects.filter(name__in=[Role.MEMBER, Role.LIAISON]))
    names = [f"EXP{count}X{i}" for i in range(count)]
    Experiment.objects.bulk_create([Experiment(short_name=name, name=name) for name in names])
    user.liaison_experiments.set(Experiment.objects.filter(short_name__in=names))
    IamIdentity.objects.create(
        user=user,
        issuer="https://iam.example/",
        subject=f"sub-{count}",
        groups=["escape", *[f"escape/{name.lower()}" for name in names]],
        grants=[{"group": "escape", "role": "member", "experiment": None}]
        + [{"group": f"escape/{name.lower()}", "role": "liaison", "experiment": name} for name in names],
    )
    return user


@pytest.mark.parametrize("url", ["/account/", "/api/v1/me/"])
def test_my_account_queries_do_not_grow_with_experiments_and_groups(client_for, django_user_model, url):
    counts = []
    for size in (2, 25):
        client = client_for(_iam_user_liaison_of(django_user_model, size))
        with CaptureQueriesContext(connection) as queries:
            assert client.get(url).status_code == 200
        counts.append(len(queries))
    assert counts[0] == counts[1], counts


def test_my_account_is_not_shown_as_the_dashboard_in_the_menu(client_for, member):
    page = client_for(member).get("/account/").content.decode()
    assert 'aria-current="page"' not in page
