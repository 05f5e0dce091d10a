"""Who may do what, role by role, for people who logged in with IAM (their roles from their IAM groups).

Every row of the table is one page or endpoint; every role gets the whole table, compared at once, so that a
failure shows every cell that differs. The API rows are tried with the browser session and again with an IAM
bearer token.
"""

import pytest
from django.test import Client

from qos.models import StorageQoSClass
from tests.conftest import SAFE_CONTENT
from tests.qos.test_pages import form_data

pytestmark = pytest.mark.django_db

# IAM user of each role (tests/oidc_provider/users.json); coordinators through a mapping setting.
IAM_USERS = {"member": "mona", "liaison": "liam", "coordinator": "carol", "qos-admin": "ada"}
COORDINATOR_MAPPING = (
    '{"escape": "member", "escape/qos/admins": "qos-admin", "escape/{experiment}": "liaison",'
    ' "escape/qos/coordinators": "coordinator"}'
)

PAGES = [
    ("GET", "/"),
    ("GET", "/qos/"),
    ("GET", "/qos/SAFE/"),
    ("GET", "/qos/new/"),
    ("POST", "/qos/new/"),
    ("GET", "/qos/SAFE/edit/"),
    ("POST", "/qos/SAFE/approve/"),
    ("GET", "/account/"),
]
API = [
    ("GET", "/api/v1/qos-classes/"),
    ("POST", "/api/v1/qos-classes/"),
    ("GET", "/api/v1/qos-classes/SAFE/"),
    ("POST", "/api/v1/qos-classes/FAST/approve/"),
    ("GET", "/api/v1/me/"),
]

READER = {
    "GET /": 200,
    "GET /qos/": 200,
    "GET /qos/SAFE/": 200,
    "GET /qos/new/": 403,
    "POST /qos/new/": 403,
    "GET /qos/SAFE/edit/": 403,
    "POST /qos/SAFE/approve/": 403,
    "GET /account/": 200,
    "GET /api/v1/qos-classes/": 200,
    "POST /api/v1/qos-classes/": 403,
    "GET /api/v1/qos-classes/SAFE/": 200,
    "POST /api/v1/qos-classes/FAST/approve/": 403,
    "GET /api/v1/me/": 200,
}
EXPECTED = {
    "anonymous": {
        **{f"{method} {url}": 302 for method, url in PAGES},  # to the login page
        **{f"{method} {url}": 401 for method, url in API},  # challenged for a bearer token
    },
    "no role": {
        **{key: 403 for key in READER},
        "GET /account/": 200,  # their own account: it says why they cannot do more
        "GET /api/v1/me/": 200,
    },
    "member": READER,
    "liaison": READER,
    "coordinator": READER,
    "qos-admin": {
        **READER,
        "GET /qos/new/": 200,
        "POST /qos/new/": 302,
        "GET /qos/SAFE/edit/": 200,
        "POST /qos/SAFE/approve/": 302,
        "POST /api/v1/qos-classes/": 201,
        "POST /api/v1/qos-classes/FAST/approve/": 200,
    },
}


def request(client, method: str, url: str, bearer: str | None = None) -> int:
    headers = {"HTTP_AUTHORIZATION": f"Bearer {bearer}"} if bearer else {}
    if method == "GET":
        return client.get(url, **headers).status_code
    if url == "/qos/new/":
        return client.post(url, form_data(label="FROM-PAGE"), **headers).status_code
    if url == "/qos/SAFE/approve/":
        return client.post(url, {"base_revision": 2}, **headers).status_code
    if url.endswith("/approve/"):
        return client.post(url, {"base_revision": 2}, content_type="application/json", **headers).status_code
    payload = {**SAFE_CONTENT, "label": "FROM-API"}
    return client.post(url, payload, content_type="application/json", **headers).status_code


def table(client, rows, bearer: str | None = None) -> dict[str, int]:
    return {f"{method} {url}": request(client, method, url, bearer) for method, url in rows}


def expected(role: str, rows) -> dict[str, int]:
    return {f"{method} {url}": EXPECTED[role][f"{method} {url}"] for method, url in rows}


@pytest.fixture
def proposals(admin):
    """SAFE for the page row and FAST for the API row, both proposed by another QoS admin (four-eyes)."""
    for label in ("SAFE", "FAST"):
        StorageQoSClass.objects.create_draft(
            by=admin, comment="draft", **{**SAFE_CONTENT, "label": label}
        ).propose(by=admin)


@pytest.fixture
def logged_in(iam, client, client_for, outsider, settings, experiments):
    settings.OIDC_GROUP_ROLES = COORDINATOR_MAPPING

    def login(role: str) -> Client:
        if role == "anonymous":
            return client
        if role == "no role":
            return client_for(outsider)
        response = iam.login(client, IAM_USERS[role])
        assert response.status_code == 302, response.content[:300]
        return client

    return login


@pytest.mark.parametrize("role", list(EXPECTED))
def test_pages_and_api_with_a_browser_session(role, logged_in, proposals):
    client = logged_in(role)
    assert table(client, PAGES + API) == expected(role, PAGES + API)
    approved = set(StorageQoSClass.objects.filter(status="approved").values_list("label", flat=True))
    assert approved == ({"SAFE", "FAST"} if role == "qos-admin" else set())


@pytest.mark.parametrize("role", ["member", "liaison", "coordinator", "qos-admin"])
def test_api_with_an_iam_bearer_token(role, iam, oidc_provider, settings, experiments, proposals):
    settings.OIDC_GROUP_ROLES = COORDINATOR_MAPPING
    token = oidc_provider.tokens_for(IAM_USERS[role])["access_token"]
    assert table(Client(), API, bearer=token) == expected(role, API)


def test_api_with_a_forged_bearer_token_is_401_everywhere(iam, proposals):
    assert table(Client(), API, bearer="forged") == {f"{method} {url}": 401 for method, url in API}
