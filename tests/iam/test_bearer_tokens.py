"""IAM access tokens on the API (``Authorization: Bearer``): only tokens meant for the portal, and the same
users and roles as a browser login.

The provider issues JWT access tokens for the audience a script asks for (by default the portal's client ID),
as IAM does; tokens for another service must not work here, however valid they are at IAM.
"""

import base64
import json
import time
import uuid

import jwt
import pytest
import redis
from cryptography.hazmat.primitives.asymmetric import rsa
from django.contrib.auth import get_user_model
from rest_framework.test import APIClient

from portal.choices import Role
from portal.iam import provider
from portal.iam.api.authentication import cache_seconds
from tests.conftest import SAFE_CONTENT
from tests.oidc import ENTITLEMENT_NAMESPACE, free_port

pytestmark = pytest.mark.django_db

User = get_user_model()
CLASSES = "/api/v1/qos-classes/"
KEY = "a-key-that-is-not-iams-but-long-enough"  # for JWTs IAM never signed
FOREIGN_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)  # an RSA key IAM never had
PUBLIC_URL = "https://qos.escape.example"


def bearer(token: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    return client


@pytest.fixture
def token_of(iam):
    def get(username: str, **kwargs) -> str:
        return iam.provider.tokens_for(username, **kwargs)["access_token"]

    return get


def claims_of(token: str) -> dict:
    return jwt.decode(token, options={"verify_signature": False})


def resigned(token: str, key=FOREIGN_KEY, **changes) -> str:
    """The token with ``changes`` to its claims, signed by ``key`` under IAM's key ID."""
    header = jwt.get_unverified_header(token)
    return jwt.encode({**claims_of(token), **changes}, key, algorithm="RS256", headers=header)


def roles_in(me: dict) -> list[str]:
    return [role["role"] for role in me["roles"]]


def test_a_bearer_token_works_on_the_api_and_maps_to_the_same_user_and_roles(
    iam, token_of, client, experiments
):
    iam.login(client, "liam")  # the browser login made the account first
    response = bearer(token_of("liam")).get("/api/v1/me/")
    assert response.status_code == 200
    me = response.json()
    assert me["username"] == "liam"
    assert me["account"] == "iam"
    assert [role["role"] for role in me["roles"]] == [Role.MEMBER, Role.LIAISON]
    assert me["liaison_of"] == ["CTA"]
    assert User.objects.count() == 1


def test_a_token_of_someone_never_seen_creates_their_account_with_roles(iam, token_of):
    response = bearer(token_of("ada")).post(CLASSES, SAFE_CONTENT, format="json")
    assert response.status_code == 201, response.content
    user = User.objects.get(username="ada")
    assert set(user.groups.values_list("name", flat=True)) == {Role.MEMBER, Role.QOS_ADMIN}


def test_a_member_token_reads_but_may_not_create(iam, token_of):
    client = bearer(token_of("mona"))
    assert client.get(CLASSES).status_code == 200
    assert client.post(CLASSES, SAFE_CONTENT, format="json").status_code == 403


def test_roles_follow_the_groups_iam_reports_for_the_token(iam, token_of):
    iam.provider.set_groups("mona", ["escape", "escape/qos/admins"])
    assert bearer(token_of("mona")).post(CLASSES, SAFE_CONTENT, format="json").status_code == 201


def forged_jwt() -> str:
    """A JWT IAM never signed, valid for ten minutes from now (made when the test runs, not when it is
    collected: a long run reaches a test after its token would have expired)."""
    return jwt.encode({"sub": "x", "exp": int(time.time()) + 600}, KEY, algorithm="HS256")


@pytest.mark.parametrize(
    ("make_token", "reason"),
    [
        (
            lambda: "forged-opaque-token",
            "IAM says the bearer token is not active (expired, revoked or unknown).",
        ),
        (forged_jwt, "The bearer token is signed with 'HS256', not RS256."),
        (lambda: "not.a.jwt", "The bearer token is not a JWT."),
    ],
    ids=["opaque", "jwt", "garbage-jwt"],
)
def test_a_forged_token_gets_401_with_the_reason(iam, make_token, reason):
    response = bearer(make_token()).get(CLASSES)
    assert response.status_code == 401
    assert response.json()["detail"] == reason
    assert response["WWW-Authenticate"] == (
        f'Bearer realm="escape-qos-portal", error="invalid_token", error_description="{reason}"'
    )
    assert not User.objects.exists()
    assert iam.provider.userinfo_calls() == 0


def test_a_token_from_another_issuer_gets_401_without_asking_iam(iam):
    token = jwt.encode(
        {"iss": "https://other-iam.example/", "sub": "x", "exp": int(time.time()) + 600},
        KEY,
        algorithm="HS256",
    )
    response = bearer(token).get(CLASSES)
    assert response.status_code == 401
    assert "issued by https://other-iam.example/, not by this portal's IAM" in response.json()["detail"]
    assert iam.provider.userinfo_calls() == 0


def test_an_expired_token_gets_401(iam, token_of):
    iam.provider.set_access_token_ttl(1)
    token = token_of("mona")
    time.sleep(1.5)
    response = bearer(token).get(CLASSES)
    assert response.status_code == 401
    assert response.json()["detail"] == "The bearer token has expired."
    assert iam.provider.userinfo_calls() == 0


def test_an_expired_jwt_gets_401_and_says_so(iam):
    token = jwt.encode(
        {"iss": iam.provider.issuer, "sub": "x", "exp": int(time.time()) - 5}, KEY, algorithm="HS256"
    )
    response = bearer(token).get(CLASSES)
    assert response.status_code == 401
    assert response.json()["detail"] == "The bearer token has expired."


@pytest.mark.parametrize("header", ["Bearer", "Bearer two parts"])
def test_a_malformed_authorization_header_gets_401(iam, header):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=header)
    response = client.get(CLASSES)
    assert response.status_code == 401
    assert 'Invalid "bearer" header' in response.json()["detail"]


def test_a_good_token_of_someone_outside_the_groups_gets_403_with_the_reason(iam, token_of):
    response = bearer(token_of("otto")).get(CLASSES)
    assert response.status_code == 403
    assert (
        response.json()["detail"]
        == "Your IAM account is in none of the groups that give a role in this portal."
    )


def test_a_token_asked_without_the_group_scopes_gives_no_role_and_says_why(iam, token_of):
    response = bearer(token_of("ada", scope="openid")).get(CLASSES)
    assert response.status_code == 403
    assert "none of the groups" in response.json()["detail"]


def test_iams_answer_is_cached_so_scripts_do_not_hammer_it(iam, token_of):
    client = bearer(token_of("mona"))
    before = iam.provider.userinfo_calls()
    for _ in range(5):
        assert client.get(CLASSES).status_code == 200
    assert iam.provider.userinfo_calls() == before + 1


def test_the_cache_never_outlives_the_token():
    now = int(time.time())
    assert cache_seconds(now + 20, now=now) == 20
    assert cache_seconds(now + 3600, now=now) == 60  # OIDC_BEARER_CACHE_SECONDS
    assert cache_seconds(now - 1, now=now) == 0
    assert cache_seconds(None, now=now) == 60  # introspection need not say when a token expires


def test_iam_down_gives_503_not_401(iam, token_of, settings):
    token = token_of("mona")
    settings.OIDC_OP_USER_ENDPOINT = f"http://127.0.0.1:{free_port()}/me"
    response = bearer(token).get(CLASSES)
    assert response.status_code == 503
    assert "IAM did not answer" in response.json()["detail"]


def test_without_iam_configured_bearer_tokens_are_refused_plainly(db):
    response = bearer("some-token").get(CLASSES)
    # 401: a credential the portal does not take, and a challenge that says what it takes (a session).
    assert response.status_code == 401
    assert response["WWW-Authenticate"] == 'Session realm="escape-qos-portal"'
    assert response.json()["detail"] == "This portal does not accept bearer tokens: IAM login is off."


def test_anonymous_api_requests_are_challenged_for_a_bearer_token_when_iam_is_on(iam):
    response = APIClient().get(CLASSES)
    assert response.status_code == 401
    assert response["WWW-Authenticate"] == 'Bearer realm="escape-qos-portal"'


def test_session_authentication_keeps_working_beside_bearer_tokens(iam, client):
    iam.login(client, "mona")
    assert client.get(CLASSES).status_code == 200
    assert client.get("/api/v1/me/").json()["username"] == "mona"


def test_a_browser_login_and_a_bearer_token_are_one_account_however_the_issuer_is_spelt(
    iam, token_of, client, settings
):
    settings.OIDC_OP_ISSUER = f"{iam.provider.issuer}/"  # IAM's issuers end with a slash; its `iss` may not
    iam.login(client, "mona")
    assert bearer(token_of("mona")).get("/api/v1/me/").json()["username"] == "mona"
    assert User.objects.count() == 1


def test_the_token_cache_works_on_redis_shared_by_all_workers(iam, token_of, settings, private_redis):
    # This session's own Redis, in a database no worker's broker uses, under keys of this test alone: it
    # deletes them, and nothing else (cache.clear() would FLUSHDB).
    location = private_redis.database_url(14)
    prefix = f"test-{uuid.uuid4().hex}"
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": location,
            "KEY_PREFIX": prefix,
        }
    }
    client = bearer(token_of("mona"))
    before = iam.provider.userinfo_calls()
    server = redis.Redis.from_url(location)
    try:
        for _ in range(3):
            assert client.get(CLASSES).status_code == 200
        assert iam.provider.userinfo_calls() == before + 1
        assert server.keys(f"{prefix}:*iam:bearer:*")  # hashed: the token is no key
    finally:
        for key in server.scan_iter(f"{prefix}:*"):
            server.delete(key)


# --- the audience: only tokens meant for the portal -----------------------------------------------------------


def test_iam_issues_jwt_access_tokens_for_the_audience_asked(iam, token_of):
    token = token_of("mona")
    assert jwt.get_unverified_header(token)["alg"] == "RS256"
    claims = claims_of(token)
    assert claims["aud"] == "portal"
    assert claims["iss"] == iam.provider.issuer
    assert claims_of(token_of("mona", audience=PUBLIC_URL))["aud"] == PUBLIC_URL


def test_a_token_for_the_portals_public_url_works(iam, token_of, settings):
    settings.CSRF_TRUSTED_ORIGINS = [PUBLIC_URL, "https://*.escape.example"]
    assert bearer(token_of("mona", audience=f"{PUBLIC_URL}/")).get(CLASSES).status_code == 200


def test_a_token_for_another_service_gets_401_without_asking_userinfo(iam, token_of):
    token = token_of("ada", audience="https://rucio.escape.example")
    response = bearer(token).post(CLASSES, SAFE_CONTENT, format="json")
    assert response.status_code == 401
    reason = "The bearer token is meant for https://rucio.escape.example, not for this portal (portal)."
    assert response.json()["detail"] == reason
    assert f'error="invalid_token", error_description="{reason}"' in response["WWW-Authenticate"]
    assert iam.provider.userinfo_calls() == 0
    assert not User.objects.exists()


def test_the_audiences_setting_replaces_the_default(iam, token_of, settings):
    settings.OIDC_API_AUDIENCES = [PUBLIC_URL, "https://wlcg.example/qos"]
    assert bearer(token_of("mona")).get(CLASSES).status_code == 401  # the client ID no longer counts
    assert bearer(token_of("mona", audience="https://wlcg.example/qos")).get(CLASSES).status_code == 200


def test_the_audiences_by_default_and_how_a_token_names_them(settings):
    settings.OIDC_RP_CLIENT_ID = "portal"
    settings.OIDC_API_AUDIENCES = []
    settings.CSRF_TRUSTED_ORIGINS = [PUBLIC_URL, "https://*.escape.example"]
    assert provider.api_audiences() == ["portal", PUBLIC_URL]
    assert provider.names_audience(["https://rucio.escape.example", "portal"], ["portal"])
    assert provider.names_audience(f"{PUBLIC_URL}/", [PUBLIC_URL])
    assert not provider.names_audience("portal-dev", ["portal"])
    assert not provider.names_audience(None, ["portal"])
    settings.OIDC_API_AUDIENCES = ["qos-portal", "https://qos.escape.example/"]
    assert provider.api_audiences() == ["qos-portal", "https://qos.escape.example/"]


def test_a_token_without_an_audience_gets_401_and_says_which_to_ask_for(iam, token_of):
    response = bearer(token_of("mona", audience=None)).get(CLASSES)
    assert response.status_code == 401
    assert response.json()["detail"] == (
        "The bearer token names no audience: ask IAM for a token with the audience portal."
    )


# --- JWT checks against IAM's keys ------------------------------------------------------------------------------


def test_a_token_changed_after_iam_signed_it_gets_401(iam, token_of):
    header, payload, signature = token_of("mona").split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=="))
    claims["sub"] = "5f0c1a2e-0000-4000-8000-0000000000ad"  # ada's: a QoS admin
    forged = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
    response = bearer(f"{header}.{forged}.{signature}").post(CLASSES, SAFE_CONTENT, format="json")
    assert response.status_code == 401
    assert response.json()["detail"] == "The bearer token's signature does not match IAM's key."
    assert iam.provider.userinfo_calls() == 0


def test_a_token_signed_by_another_key_gets_401(iam, token_of):
    response = bearer(resigned(token_of("mona"))).get(CLASSES)
    assert response.status_code == 401
    assert response.json()["detail"] == "The bearer token's signature does not match IAM's key."


def test_a_token_naming_a_key_iam_does_not_publish_gets_401(iam, token_of):
    token = token_of("mona")
    header = {**jwt.get_unverified_header(token), "kid": "not-iams"}
    response = bearer(jwt.encode(claims_of(token), FOREIGN_KEY, algorithm="RS256", headers=header)).get(
        CLASSES
    )
    assert response.status_code == 401
    assert response.json()["detail"] == "The bearer token names no key IAM publishes."


def test_a_token_of_another_issuer_signed_like_iams_gets_401(iam, token_of):
    response = bearer(resigned(token_of("mona"), iss="https://other-iam.example/")).get(CLASSES)
    assert response.status_code == 401
    assert "issued by https://other-iam.example/, not by this portal's IAM" in response.json()["detail"]


def test_the_portals_own_id_token_is_no_bearer_token(iam, client):
    iam.login(client, "mona")
    id_token = client.session["oidc_id_token"]  # signed by IAM, for the audience "portal"
    assert claims_of(id_token)["aud"] == "portal"
    response = bearer(id_token).get(CLASSES)
    assert response.status_code == 401
    assert response.json()["detail"] == "This is an ID token, not an access token."


def test_iams_keys_unreachable_gives_503(iam, token_of, settings):
    token = token_of("mona")
    settings.OIDC_OP_JWKS_ENDPOINT = f"http://127.0.0.1:{free_port()}/jwks"
    assert bearer(token).get(CLASSES).status_code == 503


# --- opaque tokens, through IAM's introspection -----------------------------------------------------------------


def test_an_opaque_token_for_the_portal_works_through_introspection(iam, token_of):
    iam.provider.set_access_token_format("opaque")
    token = token_of("ada")
    assert token.count(".") == 0
    client = bearer(token)
    assert client.post(CLASSES, SAFE_CONTENT, format="json").status_code == 201
    assert client.get(CLASSES).status_code == 200  # cached: IAM is asked once
    assert iam.provider.introspection_calls() == 1
    assert iam.provider.userinfo_calls() == 1


def test_an_opaque_token_for_another_service_gets_401_after_introspection(iam, token_of):
    iam.provider.set_access_token_format("opaque")
    response = bearer(token_of("ada", audience="https://rucio.escape.example")).get(CLASSES)
    assert response.status_code == 401
    assert response.json()["detail"].startswith("The bearer token is meant for https://rucio.escape.example,")
    assert iam.provider.introspection_calls() == 1
    assert iam.provider.userinfo_calls() == 0


def test_without_introspection_opaque_tokens_are_refused_and_told_why(iam, token_of):
    iam.provider.set_access_token_format("opaque")
    iam.provider.advertise_introspection(False)
    response = bearer(token_of("ada")).get(CLASSES)
    assert response.status_code == 401
    reason = "The bearer token is opaque and IAM offers no introspection to check it: use a JWT access token."
    assert response.json()["detail"] == reason
    assert response["WWW-Authenticate"] == (
        f'Bearer realm="escape-qos-portal", error="invalid_token", error_description="{reason}"'
    )
    assert iam.provider.userinfo_calls() == 0


def test_introspection_refusing_the_portals_client_gives_503(iam, token_of, settings):
    iam.provider.set_access_token_format("opaque")
    token = token_of("ada")
    settings.OIDC_RP_CLIENT_SECRET = "not-the-secret"
    response = bearer(token).get(CLASSES)
    assert response.status_code == 503


# --- the group forms: the same roles through a token as through the login ---------------------------------------


@pytest.mark.parametrize(
    ("username", "scope", "roles", "liaison_of"),
    [
        ("liam", "openid profile email wlcg.groups", [Role.MEMBER, Role.LIAISON], ["CTA"]),  # groups
        ("wanda", "openid profile email wlcg.groups", [Role.MEMBER, Role.LIAISON], ["LOFAR"]),  # wlcg.groups
        ("erik", "openid profile email eduperson_entitlement", [Role.MEMBER, Role.QOS_ADMIN], []),  # AARC
    ],
    ids=["groups", "wlcg.groups", "eduperson_entitlement"],
)
def test_each_group_form_gives_the_same_roles_through_a_token_as_through_the_login(
    iam, token_of, client, settings, experiments, username, scope, roles, liaison_of
):
    settings.OIDC_RP_SCOPES = scope
    # Entitlements count only under the namespace the portal is configured for (none: they are ignored).
    settings.OIDC_ENTITLEMENT_NAMESPACE = ENTITLEMENT_NAMESPACE
    by_token = bearer(token_of(username, scope=scope)).get("/api/v1/me/").json()
    User.objects.all().delete()  # the login makes the account afresh
    iam.login(client, username)
    by_login = client.get("/api/v1/me/").json()
    assert by_token["account"] == by_login["account"] == "iam"
    assert sorted(roles_in(by_token)) == sorted(roles_in(by_login)) == sorted(roles)
    assert by_token["liaison_of"] == by_login["liaison_of"] == liaison_of
