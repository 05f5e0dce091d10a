"""IAM's configuration: endpoints from discovery (overridable), failures said plainly, settings checked."""

import json

import pytest
from django.core.cache import cache
from django.core.management import call_command
from django.core.management.base import CommandError

from portal.iam import provider
from portal.iam.checks import check_iam_settings
from tests.oidc import free_port
from tests.portal.test_site import PRODUCTION_ENV, run_manage

pytestmark = pytest.mark.django_db


def test_endpoints_come_from_the_discovery_document(iam):
    document = iam.provider.discovery()
    assert provider.endpoints() == {
        "OIDC_OP_AUTHORIZATION_ENDPOINT": (document["authorization_endpoint"], "discovery"),
        "OIDC_OP_TOKEN_ENDPOINT": (document["token_endpoint"], "discovery"),
        "OIDC_OP_USER_ENDPOINT": (document["userinfo_endpoint"], "discovery"),
        "OIDC_OP_JWKS_ENDPOINT": (document["jwks_uri"], "discovery"),
        "OIDC_OP_LOGOUT_ENDPOINT": (document["end_session_endpoint"], "discovery"),
    }
    # Read once, then kept in the cache for the next requests.
    assert cache.get(provider._cache_key(iam.provider.issuer)) == document


def test_an_explicit_endpoint_variable_wins_over_discovery(iam, client, settings):
    settings.OIDC_OP_AUTHORIZATION_ENDPOINT = "https://iam-proxy.example/authorize"
    response = client.get("/oidc/authenticate/")
    assert response.status_code == 302
    assert response["Location"].startswith("https://iam-proxy.example/authorize?response_type=code&")
    assert provider.endpoints()["OIDC_OP_AUTHORIZATION_ENDPOINT"] == (
        "https://iam-proxy.example/authorize",
        "environment",
    )
    assert provider.endpoints()["OIDC_OP_TOKEN_ENDPOINT"] == (f"{iam.provider.issuer}/token", "discovery")


def test_iam_down_gives_a_page_that_says_so_and_local_accounts_still_work(iam, client, settings, member):
    settings.OIDC_OP_ISSUER = f"http://127.0.0.1:{free_port()}"
    response = client.get("/oidc/authenticate/")
    assert response.status_code == 503
    assert "ESCAPE IAM cannot be reached" in response.content.decode()
    assert "Log in with ESCAPE IAM" in client.get("/accounts/login/").content.decode()
    assert (
        client.post(
            "/accounts/login/", {"username": member.username, "password": "erin-member-pw"}
        ).status_code
        == 302
    )


def test_a_discovery_document_for_another_issuer_is_not_trusted(iam, client, settings):
    # Same server, other name: its document says issuer http://127.0.0.1:<port>, not http://localhost:<port>.
    settings.OIDC_OP_ISSUER = iam.provider.issuer.replace("127.0.0.1", "localhost")
    with pytest.raises(provider.ProviderUnavailable, match="names the issuer"):
        provider.metadata()
    assert client.get("/oidc/authenticate/").status_code == 503


def test_without_iam_the_oidc_urls_answer_404_and_the_login_page_has_no_iam_button(client):
    assert client.get("/oidc/authenticate/").status_code == 404
    assert client.get("/oidc/callback/?code=x&state=y").status_code == 404
    page = client.get("/accounts/login/").content.decode()
    assert "IAM" not in page
    assert 'name="password"' in page


def test_iam_discover_command_shows_each_endpoint_and_where_it_came_from(iam, settings, capsys):
    settings.OIDC_OP_USER_ENDPOINT = f"{iam.provider.issuer}/me"
    call_command("iam_discover")
    out = capsys.readouterr().out
    assert f"Issuer {iam.provider.issuer} ({iam.provider.issuer}/.well-known/openid-configuration)" in out
    assert f"OIDC_OP_TOKEN_ENDPOINT           {iam.provider.issuer}/token  [discovery]" in out
    assert f"OIDC_OP_USER_ENDPOINT            {iam.provider.issuer}/me  [environment]" in out


def test_iam_discover_command_fails_clearly(settings):
    with pytest.raises(CommandError, match="IAM login is not configured"):
        call_command("iam_discover")
    settings.OIDC_OP_ISSUER = f"http://127.0.0.1:{free_port()}"
    settings.OIDC_RP_CLIENT_ID = "portal"
    with pytest.raises(CommandError, match="could not be read"):
        call_command("iam_discover")


@pytest.mark.parametrize(
    ("changes", "check_id"),
    [
        ({"OIDC_OP_ISSUER": "https://iam.example/"}, "iam.E001"),
        ({"OIDC_RP_CLIENT_ID": "portal"}, "iam.E001"),
        ({"OIDC_OP_ISSUER": "https://iam.example/", "OIDC_RP_CLIENT_ID": "portal"}, "iam.E002"),
        ({"LOCAL_LOGIN_ENABLED": False}, "iam.E003"),
        ({"OIDC_GROUP_ROLES": '{"escape": "boss"}'}, "iam.E004"),
        ({"OIDC_API_AUDIENCES": ["portal", "https://*.escape.example"]}, "iam.E005"),
        ({"OIDC_API_AUDIENCES": ["portal", "https://wlcg.cern.ch/jwt/v1/any"]}, "iam.W003"),
        (
            {"OIDC_OP_ISSUER": "http://iam.example/", "OIDC_RP_CLIENT_ID": "p", "OIDC_RP_CLIENT_SECRET": "s"},
            "iam.W001",
        ),
        (
            {
                "OIDC_OP_ISSUER": "https://iam.example/",
                "OIDC_RP_CLIENT_ID": "p",
                "OIDC_RP_CLIENT_SECRET": "s",
            },
            "iam.W002",
        ),
    ],
)
def test_configuration_mistakes_are_system_check_messages(settings, changes, check_id):
    # A namespace for entitlements unless the case leaves it out (iam.W002).
    settings.OIDC_ENTITLEMENT_NAMESPACE = "" if check_id == "iam.W002" else "urn:geant:escape.eu"
    for name, value in changes.items():
        setattr(settings, name, value)
    settings.DEBUG = False
    assert [message.id for message in check_iam_settings()] == [check_id]


def test_a_complete_configuration_passes_the_checks(settings):
    settings.OIDC_OP_ISSUER = "https://iam-escape.cloud.cnaf.infn.it/"
    settings.OIDC_RP_CLIENT_ID = "portal"
    settings.OIDC_RP_CLIENT_SECRET = "secret"
    settings.OIDC_GROUP_ROLES = json.dumps({"escape": "member", "escape/qos/coordinators": "coordinator"})
    settings.OIDC_ENTITLEMENT_NAMESPACE = "urn:geant:escape.eu"
    settings.LOCAL_LOGIN_ENABLED = False
    assert check_iam_settings() == []


IAM_ENV = {
    **PRODUCTION_ENV,
    "OIDC_OP_ISSUER": "https://iam-escape.cloud.cnaf.infn.it/",
    "OIDC_RP_CLIENT_ID": "qos-portal",
    "OIDC_RP_CLIENT_SECRET": "a-client-secret",
    "OIDC_ENTITLEMENT_NAMESPACE": "urn:geant:escape.eu",
}
SHOW = (
    "from django.conf import settings; "
    "print('refresh' if 'portal.iam.middleware.SessionRefresh' in settings.MIDDLEWARE else 'no-refresh'); "
    "print(settings.REST_FRAMEWORK['DEFAULT_AUTHENTICATION_CLASSES'][0]); "
    "print(settings.CACHES['default']['BACKEND']); "
    "print(settings.SESSION_ENGINE)"
)


@pytest.mark.django_db(False)
def test_check_deploy_stays_clean_with_iam_configured():
    result = run_manage("check", "--deploy", "--fail-level", "WARNING", env=IAM_ENV)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues (0 silenced)." in result.stdout


@pytest.mark.django_db(False)
def test_check_warns_at_start_up_that_entitlements_are_ignored_without_a_namespace():
    result = run_manage("check", env={**IAM_ENV, "OIDC_ENTITLEMENT_NAMESPACE": ""})
    assert result.returncode == 0, result.stdout + result.stderr
    output = result.stdout + result.stderr
    assert "(iam.W002) OIDC_ENTITLEMENT_NAMESPACE is not set: eduperson_entitlement claims" in output
    assert "set OIDC_ENTITLEMENT_NAMESPACE to the URN namespace of the portal's IAM" in output


@pytest.mark.django_db(False)
def test_session_renewal_and_bearer_tokens_are_installed_only_when_iam_is_configured(tmp_path):
    # Also: the client secret may come from a file, and CACHE_URL chooses a Redis cache.
    secret = tmp_path / "client-secret"
    secret.write_text("from-a-file\n")
    env = {
        **IAM_ENV,
        "OIDC_RP_CLIENT_SECRET": "",
        "OIDC_RP_CLIENT_SECRET_FILE": str(secret),
        "CACHE_URL": "redis://127.0.0.1:6379/15",
    }
    with_iam = run_manage("shell", "-v", "0", "-c", SHOW + "; print(settings.OIDC_RP_CLIENT_SECRET)", env=env)
    assert with_iam.stdout.split() == [
        "refresh",
        "portal.iam.api.authentication.BearerTokenAuthentication",
        "common.redis_cache.RedisCache",  # shared by every worker
        "django.contrib.sessions.backends.cached_db",  # sessions read from it
        "from-a-file",
    ], with_iam.stderr
    without = run_manage("shell", "-v", "0", "-c", SHOW, env=PRODUCTION_ENV)
    assert without.stdout.split() == [
        "no-refresh",
        "common.api.authentication.SessionAuthentication",
        "django.core.cache.backends.locmem.LocMemCache",
        "django.contrib.sessions.backends.db",  # never from a cache of each process alone
    ]
