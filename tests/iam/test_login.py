"""Logging in with IAM (a real OpenID provider on loopback): users, their roles from IAM groups, refusals."""

from urllib.parse import parse_qs, urlsplit

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group

from portal.choices import Role
from portal.iam.models import IamIdentity
from tests.oidc import ENTITLEMENT_NAMESPACE, USERS

pytestmark = pytest.mark.django_db

User = get_user_model()


def roles_of(user) -> set[str]:
    return set(user.groups.filter(name__in=Role.values).values_list("name", flat=True))


def liaison_of(user) -> set[str]:
    return set(user.liaison_experiments.values_list("short_name", flat=True))


def test_login_starts_an_authorization_code_flow_with_pkce_state_and_nonce(iam, client):
    params = parse_qs(urlsplit(iam.start(client)).query)
    assert params["response_type"] == ["code"]
    assert params["client_id"] == ["portal"]
    assert params["redirect_uri"] == ["http://testserver/oidc/callback/"]
    assert params["scope"] == ["openid profile email wlcg.groups"]
    assert params["code_challenge_method"] == ["S256"]
    assert len(params["code_challenge"][0]) == 43
    assert len(params["state"][0]) >= 32 and len(params["nonce"][0]) >= 32


def test_first_login_creates_the_user_with_the_roles_of_their_groups(iam, client, experiments):
    response = iam.login(client, "liam", next_url="/qos/")
    assert response.status_code == 302 and response.url == "/qos/"
    user = User.objects.get(username="liam")
    assert (user.first_name, user.last_name, user.email) == ("Liam", "Liaison", "liam@cta.example")
    assert not user.has_usable_password()  # IAM users never log in with a local password
    assert roles_of(user) == {Role.MEMBER, Role.LIAISON}
    assert liaison_of(user) == {"CTA"}
    identity = user.iam_identity
    assert (identity.issuer, identity.subject) == (iam.provider.issuer, USERS["liam"]["sub"])
    assert identity.groups == ["escape", "escape/cta"]
    assert client.get("/qos/").status_code == 200
    assert int(client.session["_auth_user_id"]) == user.pk


def test_qos_admins_group_gives_the_qos_admin_role_and_its_permissions(iam, client):
    iam.login(client, "ada")
    user = User.objects.get(username="ada")
    assert roles_of(user) == {Role.MEMBER, Role.QOS_ADMIN}
    assert user.has_perm("qos.approve_storageqosclass")
    assert client.get("/qos/new/").status_code == 200


def test_second_login_with_changed_groups_changes_the_roles(iam, client, experiments):
    iam.login(client, "liam")
    user = User.objects.get(username="liam")
    assert roles_of(user) == {Role.MEMBER, Role.LIAISON}

    iam.provider.set_groups("liam", ["escape", "escape/lofar", "escape/qos/admins"])
    client.logout()
    iam.login(client, "liam")
    assert roles_of(user) == {Role.MEMBER, Role.LIAISON, Role.QOS_ADMIN}
    assert liaison_of(user) == {"LOFAR"}  # removed from escape/cta: no longer CTA's liaison

    iam.provider.set_groups("liam", ["escape"])
    client.logout()
    iam.login(client, "liam")
    assert roles_of(user) == {Role.MEMBER}
    assert liaison_of(user) == set()
    assert User.objects.filter(username__startswith="liam").count() == 1


def test_name_and_email_are_updated_at_each_login_but_the_user_stays_the_same(iam, client):
    iam.login(client, "mona")
    user = User.objects.get(username="mona")
    iam.provider.update_user(
        "mona",
        email="mona.new@escape.example",
        given_name="Mona",
        family_name="Renamed",
        preferred_username="m2",
    )
    client.logout()
    iam.login(client, "mona")
    user.refresh_from_db()
    assert (user.username, user.last_name, user.email) == ("mona", "Renamed", "mona.new@escape.example")
    assert IamIdentity.objects.count() == 1


def test_users_are_matched_on_the_iam_subject_never_on_the_email(iam, client, django_user_model):
    local = django_user_model.objects.create_user(
        "mona", email="mona@escape.example", password="local-pw-123"
    )
    local.groups.add(Group.objects.get(name=Role.QOS_ADMIN))
    iam.login(client, "mona")
    iam_user = IamIdentity.objects.get(subject=USERS["mona"]["sub"]).user
    assert iam_user != local
    assert iam_user.username.startswith("mona-")  # the local account keeps its name; nothing is merged
    assert roles_of(iam_user) == {Role.MEMBER}
    assert roles_of(local) == {Role.QOS_ADMIN}
    assert int(client.session["_auth_user_id"]) == iam_user.pk


def test_roles_given_locally_to_local_accounts_are_left_alone(iam, client, admin, liaison_cta):
    iam.provider.set_groups("liam", ["escape"])
    iam.login(client, "liam")
    assert roles_of(admin) == {Role.MEMBER, Role.QOS_ADMIN}
    assert liaison_of(liaison_cta) == {"CTA"}


def test_other_groups_a_local_admin_gave_an_iam_user_survive_the_next_login(iam, client):
    iam.login(client, "mona")
    user = User.objects.get(username="mona")
    helpers = Group.objects.create(name="newsletter")
    user.groups.add(helpers, Group.objects.get(name=Role.COORDINATOR))
    client.logout()
    iam.login(client, "mona")
    assert set(user.groups.values_list("name", flat=True)) == {"newsletter", Role.MEMBER}  # roles are IAM's


def test_a_user_in_none_of_the_required_groups_is_refused_with_a_page_that_says_why(iam, client, experiments):
    response = iam.login(client, "otto")
    assert response.status_code == 403
    page = response.content.decode()
    assert "You cannot use this portal yet" in page
    assert "in none of the groups that give a role" in page
    assert (
        "<code>escape</code>" in page
        and "<code>escape/qos/admins</code>" in page
        and "<code>escape/cta</code>" in page
    )
    assert "<code>other-vo/escape</code>" in page  # what IAM said, so they can tell their administrators
    assert not User.objects.exists()
    assert "_auth_user_id" not in client.session
    assert client.get("/").status_code == 302


def test_a_user_removed_from_every_group_is_refused_and_keeps_no_role(iam, client, experiments):
    iam.login(client, "liam")
    user = User.objects.get(username="liam")
    iam.provider.set_groups("liam", ["other-vo"])
    client.logout()
    response = iam.login(client, "liam")
    assert response.status_code == 403
    assert roles_of(user) == set() and liaison_of(user) == set()
    assert "_auth_user_id" not in client.session


def test_a_disabled_portal_account_cannot_log_in_with_iam(iam, client):
    iam.login(client, "mona")
    User.objects.filter(username="mona").update(is_active=False)
    client.logout()
    response = iam.login(client, "mona")
    assert response.status_code == 403
    assert "Your portal account is disabled" in response.content.decode()
    assert "_auth_user_id" not in client.session


def test_groups_from_the_wlcg_profile_only_give_the_same_roles(iam, client, experiments):
    iam.login(client, "wanda")
    user = User.objects.get(username="wanda")
    assert user.iam_identity.groups == ["escape", "escape/lofar"]
    assert roles_of(user) == {Role.MEMBER, Role.LIAISON}
    assert liaison_of(user) == {"LOFAR"}


def test_groups_from_aarc_entitlements_only_give_the_same_roles(iam, client, settings):
    settings.OIDC_RP_SCOPES = "openid profile email eduperson_entitlement"
    settings.OIDC_ENTITLEMENT_NAMESPACE = ENTITLEMENT_NAMESPACE
    iam.login(client, "erik")
    user = User.objects.get(username="erik")
    assert roles_of(user) == {Role.MEMBER, Role.QOS_ADMIN}


@pytest.mark.parametrize("namespace", ["", "urn:geant:other.org"])
def test_entitlements_of_a_namespace_the_portal_does_not_trust_give_nothing(iam, client, settings, namespace):
    # Erik's entitlements are urn:geant:escape.eu:group:escape…: another namespace than the one configured,
    # or, by default, no namespace trusted at all.
    settings.OIDC_RP_SCOPES = "openid profile email eduperson_entitlement"
    settings.OIDC_ENTITLEMENT_NAMESPACE = namespace
    response = iam.login(client, "erik")
    assert response.status_code == 403
    assert "in none of the groups that give a role" in response.content.decode()
    assert not User.objects.filter(username="erik").exists()
    assert "_auth_user_id" not in client.session


def test_groups_only_in_the_id_token_count(iam, client, experiments):
    iam.login(client, "ivan")  # the provider leaves them out of its userinfo answer for this user
    user = User.objects.get(username="ivan")
    assert roles_of(user) == {Role.MEMBER, Role.LIAISON}
    assert liaison_of(user) == {"CTA"}


def test_a_mapping_setting_can_make_coordinators(iam, client, settings):
    settings.OIDC_GROUP_ROLES = '{"escape": "member", "escape/qos/coordinators": "coordinator"}'
    iam.login(client, "carol")
    assert roles_of(User.objects.get(username="carol")) == {Role.MEMBER, Role.COORDINATOR}


def test_without_the_coordinator_mapping_carol_is_only_a_member(iam, client):
    iam.login(client, "carol")
    assert roles_of(User.objects.get(username="carol")) == {Role.MEMBER}


def test_iam_answering_with_an_error_shows_it(iam, client):
    iam.start(client)
    state = next(iter(client.session["oidc_states"]))
    response = client.get(
        "/oidc/callback/",
        {"error": "access_denied", "error_description": "End-User aborted interaction", "state": state},
    )
    assert response.status_code == 400
    assert "IAM answered: End-User aborted interaction." in response.content.decode()
    assert state not in client.session.get("oidc_states", {})  # the state cannot be used any more


def test_a_user_disabled_by_a_portal_admin_loses_their_open_session(iam, client):
    iam.login(client, "mona")
    assert client.get("/qos/").status_code == 200
    User.objects.filter(username="mona").update(is_active=False)
    assert client.get("/qos/").status_code == 302
