"""IAM access tokens on the API (``Authorization: Bearer``): the same users and roles as a browser login."""

import time
import uuid

import jwt
import pytest
import redis
from django.contrib.auth import get_user_model
from rest_framework.test import APIClient

from portal.choices import Role
from portal.iam.api.authentication import cache_seconds
from tests.conftest import SAFE_CONTENT
from tests.oidc import free_port

pytestmark = pytest.mark.django_db

User = get_user_model()
CLASSES = "/api/v1/qos-classes/"
KEY = "a-key-that-is-not-iams-but-long-enough"  # for JWTs IAM never signed


def bearer(token: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    return client


@pytest.fixture
def token_of(iam):
    def get(username: str, **kwargs) -> str:
        return iam.provider.tokens_for(username, **kwargs)["access_token"]

    return get


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


@pytest.mark.parametrize("make_token", [lambda: "forged-opaque-token", forged_jwt], ids=["opaque", "jwt"])
def test_a_forged_token_gets_401_with_the_reason(iam, make_token):
    response = bearer(make_token()).get(CLASSES)
    assert response.status_code == 401
    assert response["WWW-Authenticate"].startswith("Bearer ")
    assert response.json()["detail"] == "invalid token provided"  # IAM's own words
    assert not User.objects.exists()


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
    assert response.json()["detail"] == "invalid token provided"


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


def test_the_cache_never_outlives_a_jwt_token():
    now = int(time.time())
    short = jwt.encode({"exp": now + 20}, KEY, algorithm="HS256")
    long = jwt.encode({"exp": now + 3600}, KEY, algorithm="HS256")
    expired = jwt.encode({"exp": now - 1}, KEY, algorithm="HS256")
    assert cache_seconds(short, now=now) == 20
    assert cache_seconds(long, now=now) == 60  # OIDC_BEARER_CACHE_SECONDS
    assert cache_seconds(expired, now=now) == 0
    assert cache_seconds("opaque-token", now=now) == 60


def test_iam_down_gives_503_not_401(iam, token_of, settings):
    token = token_of("mona")
    settings.OIDC_OP_USER_ENDPOINT = f"http://127.0.0.1:{free_port()}/me"
    response = bearer(token).get(CLASSES)
    assert response.status_code == 503
    assert "IAM did not answer" in response.json()["detail"]


def test_without_iam_configured_bearer_tokens_are_refused_plainly(db):
    response = bearer("some-token").get(CLASSES)
    assert response.status_code == 403
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
