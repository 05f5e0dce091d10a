"""A real OpenID Connect provider for the tests: tests/oidc_provider/ (the `oidc-provider` npm package with
IAM-like claims), started once per session on a free loopback port, and helpers to log in through it.

Needs Node.js >= 20.18 and npm (``apt-get install nodejs npm`` on Debian 13; Debian 12's nodejs is too old);
``npm ci`` installs the pinned packages into tests/oidc_provider/node_modules/ from the npm registry the first
time.

The provider must know the portal's redirect URIs exactly, as IAM does: ``http://testserver/oidc/callback/``
for Django's test client, and the live server's, reached on 127.0.0.1 (never ``localhost``: the provider and
the portal must share the host for the browser's cookies to behave as with IAM). The provider therefore starts
the live server itself (:func:`shared_live_server`), rather than asking for the ``live_server`` fixture (which
would make every test that logs in through IAM a transactional one); ``live_server`` here is that same server.
It binds its port as it starts (the system's choice, unless --liveserver gives one): a port picked earlier and
bound later could be taken in between by another test run.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import re
import secrets
import shutil
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode, urljoin, urlsplit

import pytest
import requests

from tests.ports import free_port

PROVIDER_DIR = Path(__file__).resolve().parent / "oidc_provider"
USERS = json.loads((PROVIDER_DIR / "users.json").read_text(encoding="utf-8"))
CLIENT_ID = "portal"
TEST_CLIENT_ORIGIN = "http://testserver"
CLI_REDIRECT_URI = "http://127.0.0.1/cli-callback"
# The namespace of the entitlements the provider sends for its "aarc" users (server.mjs, groupClaims).
ENTITLEMENT_NAMESPACE = "urn:geant:escape.eu"
MIN_NODE = (20, 18)  # oidc-provider 9 uses URL.parse, in Node.js since 22.1 and 20.18


PROVIDER_START_ATTEMPTS = 3


_live_server: Any = None


def shared_live_server(request: pytest.FixtureRequest) -> Any:
    """pytest-django's live server of this session, started on first use by whichever session fixture needs it
    first (``live_server`` or ``oidc_provider``), and stopped when that fixture ends."""
    global _live_server
    if _live_server is None:
        from pytest_django.live_server_helper import LiveServer

        address = (
            request.config.getvalue("liveserver")
            or os.environ.get("DJANGO_LIVE_TEST_SERVER_ADDRESS")
            or "localhost"
        )
        server = LiveServer(address)  # binds now: port 0 unless the address names one

        def stop() -> None:
            global _live_server
            server.stop()
            _live_server = None

        request.addfinalizer(stop)
        _live_server = server
    return _live_server


@pytest.fixture(scope="session")
def live_server(request: pytest.FixtureRequest) -> Any:
    """pytest-django's ``live_server``, the one the test provider knows as a redirect URI (see above)."""
    return shared_live_server(request)


@dataclass
class OidcProvider:
    """The running provider, with the test knobs of tests/oidc_provider/server.mjs."""

    issuer: str
    client_secret: str
    admin_token: str
    portal_url: str  # the live server, as the browser reaches it
    process: subprocess.Popen = field(repr=False)

    def knob(self, method: str, path: str, payload: dict | None = None) -> dict:
        response = requests.request(
            method,
            f"{self.issuer}/_test/{path}",
            json=payload,
            headers={"x-test-admin": self.admin_token},
            timeout=5,
        )
        response.raise_for_status()
        return response.json()

    def reset(self) -> None:
        self.knob("POST", "reset")

    def set_groups(self, username: str, groups: list[str]) -> None:
        """Change a user's IAM groups; the next login or userinfo call sees the change."""
        self.knob("PUT", f"users/{username}", {"groups": groups})

    def update_user(self, username: str, **claims: Any) -> None:
        self.knob("PUT", f"users/{username}", claims)

    def tamper_next_id_token(self, mode: str) -> None:
        self.knob("POST", "tamper", {"mode": mode})

    def set_access_token_ttl(self, seconds: int) -> None:
        self.knob("POST", "ttl", {"access_token": seconds})

    def set_access_token_format(self, token_format: str) -> None:
        """``jwt`` (IAM's, the default) or ``opaque``, for access tokens with an audience issued from now on."""
        self.knob("POST", "format", {"access_token": token_format})

    def advertise_introspection(self, advertised: bool) -> None:
        self.knob("POST", "introspection", {"advertised": advertised})

    def userinfo_calls(self) -> int:
        return self.knob("GET", "stats")["userinfo"]

    def introspection_calls(self) -> int:
        return self.knob("GET", "stats")["introspection"]

    def discovery(self) -> dict:
        return requests.get(f"{self.issuer}/.well-known/openid-configuration", timeout=5).json()

    def sign_in(
        self, session: requests.Session, url: str, username: str, stop_at: str, password: str | None = None
    ) -> str:
        """Follow the provider's redirects from ``url``, filling its login form, until a URL under ``stop_at``
        (the client's redirect URI) comes back; return that URL, unvisited."""
        password = USERS[username]["password"] if password is None else password
        for _ in range(12):
            if url.startswith(stop_at):
                return url
            response = session.get(url, allow_redirects=False, timeout=10)
            if response.status_code == 200 and 'name="password"' in response.text:
                action = re.search(r'action="([^"]+)"', response.text).group(1)
                response = session.post(
                    urljoin(url, action),
                    data={"username": username, "password": password},
                    allow_redirects=False,
                    timeout=10,
                )
            if not response.is_redirect:
                raise AssertionError(
                    f"the provider answered {response.status_code} at {url}: {response.text[:400]}"
                )
            url = urljoin(url, response.headers["Location"])
        raise AssertionError(f"too many redirects, last {url}")

    def tokens_for(
        self, username: str, scope: str = "openid profile email wlcg.groups", audience: str | None = CLIENT_ID
    ) -> dict:
        """Tokens for a user, got as a script gets them (oidc-agent): the public client `cli` with PKCE.

        The access token is meant for ``audience`` (by default the portal's client ID), as with
        ``oidc-token --aud=...``; with None it has no audience.
        """
        resource = {}
        if audience is not None:
            # A resource indicator (RFC 8707) must be an absolute URI; the provider maps this URN to any audience.
            resource = {"resource": audience if "://" in audience else f"urn:audience:{audience}"}
        verifier = secrets.token_urlsafe(48)
        challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
        state = secrets.token_urlsafe(16)
        query = urlencode(
            {
                "client_id": "cli",
                "response_type": "code",
                "scope": scope,
                "redirect_uri": CLI_REDIRECT_URI,
                "state": state,
                "code_challenge": challenge,
                "code_challenge_method": "S256",
                **resource,
            }
        )
        with requests.Session() as session:
            back = self.sign_in(session, f"{self.issuer}/auth?{query}", username, CLI_REDIRECT_URI)
        params = parse_qs(urlsplit(back).query)
        assert params["state"] == [state], back
        response = requests.post(
            f"{self.issuer}/token",
            data={
                "grant_type": "authorization_code",
                "code": params["code"][0],
                "redirect_uri": CLI_REDIRECT_URI,
                "client_id": "cli",
                "code_verifier": verifier,
                **resource,
            },
            timeout=10,
        )
        response.raise_for_status()
        return response.json()


@pytest.fixture(scope="session")
def oidc_provider(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[OidcProvider]:
    node, npm = shutil.which("node"), shutil.which("npm")
    if not node or not npm:
        pytest.fail(
            "The IAM login tests run a local OpenID Connect provider on Node.js, which is not installed: "
            "install Node.js >= 20 and npm (Debian: apt-get install nodejs npm).",
            pytrace=False,
        )
    version = subprocess.run([node, "--version"], capture_output=True, text=True, timeout=30).stdout.strip()
    if tuple(int(part) for part in re.findall(r"\d+", version)[:2]) < MIN_NODE:
        pytest.fail(
            f"The local OpenID provider (oidc-provider 9) needs Node.js >= {MIN_NODE[0]}.{MIN_NODE[1]}; this is "
            f"{version}. Debian 12's own nodejs (18) is too old: use Debian 13's or NodeSource's.",
            pytrace=False,
        )
    if not (PROVIDER_DIR / "node_modules" / "oidc-provider").is_dir():
        result = subprocess.run(
            [npm, "ci", "--no-audit", "--no-fund"],
            cwd=PROVIDER_DIR,
            capture_output=True,
            text=True,
            timeout=300,
        )
        if result.returncode != 0:
            pytest.fail(f"npm ci in {PROVIDER_DIR} failed:\n{result.stdout}\n{result.stderr}", pytrace=False)

    workdir = tmp_path_factory.mktemp("oidc-provider")
    portal_url = f"http://127.0.0.1:{urlsplit(shared_live_server(request).url).port}"
    secret = secrets.token_urlsafe(24)
    admin_token = secrets.token_urlsafe(24)
    env = {
        **os.environ,
        "OP_USERS": str(PROVIDER_DIR / "users.json"),
        "OP_KEY_DIR": str(workdir),
        "OP_CLIENT_ID": CLIENT_ID,
        "OP_CLIENT_SECRET": secret,
        "OP_ADMIN_TOKEN": admin_token,
        "OP_REDIRECT_URIS": f"{TEST_CLIENT_ORIGIN}/oidc/callback/,{portal_url}/oidc/callback/",
        "OP_POST_LOGOUT_URIS": f"{TEST_CLIENT_ORIGIN}/accounts/login/,{portal_url}/accounts/login/",
        "NODE_NO_WARNINGS": "1",
    }
    log_path = workdir / "provider.log"
    # The provider binds a port chosen here: another run may take it first, and then this one tries another.
    for _ in range(PROVIDER_START_ATTEMPTS):
        port = free_port()
        with log_path.open("w") as log:
            process = subprocess.Popen(
                [node, "server.mjs"],
                cwd=PROVIDER_DIR,
                env={**env, "OP_PORT": str(port)},
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        issuer = f"http://127.0.0.1:{port}"
        if _provider_up(issuer, admin_token, process):
            break
        process.kill()
        process.wait(timeout=5)
        if "EADDRINUSE" not in log_path.read_text():
            pytest.fail(f"The test OpenID provider did not start:\n{log_path.read_text()}", pytrace=False)
    else:
        pytest.fail(
            f"The test OpenID provider found its port taken {PROVIDER_START_ATTEMPTS} times:\n"
            f"{log_path.read_text()}",
            pytrace=False,
        )
    provider = OidcProvider(issuer, secret, admin_token, portal_url, process)
    yield provider
    process.terminate()
    try:
        process.wait(timeout=5)
    except subprocess.TimeoutExpired:
        process.kill()


def _provider_up(issuer: str, admin_token: str, process: subprocess.Popen) -> bool:
    """Whether the provider started by ``process`` answers at ``issuer``; False once it exited.

    Only this provider knows ``admin_token``: another run's provider on the same port answers 403.
    """
    deadline = time.monotonic() + 20
    while process.poll() is None and time.monotonic() < deadline:
        try:
            answer = requests.get(f"{issuer}/_test/stats", headers={"x-test-admin": admin_token}, timeout=1)
            if answer.ok:
                return process.poll() is None
        except requests.ConnectionError:
            pass
        time.sleep(0.05)
    return False


@dataclass
class Iam:
    """The portal configured against the test provider, and ways to log in through it."""

    provider: OidcProvider

    def start(self, client: Any, next_url: str | None = None) -> str:
        """Begin a login with Django's test client; return the provider URL the portal redirects to."""
        response = client.get(
            "/oidc/authenticate/" + (f"?{urlencode({'next': next_url})}" if next_url else "")
        )
        assert response.status_code == 302, response.content[:500]
        assert response["Location"].startswith(self.provider.issuer), response["Location"]
        return response["Location"]

    def callback_url(
        self, client: Any, username: str, next_url: str | None = None, password: str | None = None
    ) -> str:
        """Start a login and sign in at the provider; return the callback URL it sends back, unvisited."""
        with requests.Session() as session:
            return self.provider.sign_in(
                session,
                self.start(client, next_url),
                username,
                f"{TEST_CLIENT_ORIGIN}/oidc/callback/",
                password,
            )

    def login(self, client: Any, username: str, next_url: str | None = None) -> Any:
        """A whole authorization-code login of ``username`` with Django's test client; the callback's response."""
        return client.get(self.callback_url(client, username, next_url))


def forget_cached_logins() -> None:
    """Empty the cache of discovery documents and cached bearer tokens of earlier tests, when it is this
    process's memory cache. A test that puts the cache on Redis removes its own keys itself: clear() there is
    a FLUSHDB, of a database that another test run may be using."""
    from django.core.cache import caches
    from django.core.cache.backends.locmem import LocMemCache

    if isinstance(caches["default"], LocMemCache):
        caches["default"].clear()


@pytest.fixture
def iam(oidc_provider: OidcProvider, settings: Any) -> Iterator[Iam]:
    """IAM login configured against the test provider (default settings otherwise), provider state reset."""
    settings.OIDC_OP_ISSUER = oidc_provider.issuer
    settings.OIDC_RP_CLIENT_ID = CLIENT_ID
    settings.OIDC_RP_CLIENT_SECRET = oidc_provider.client_secret
    for name in (
        "OIDC_OP_AUTHORIZATION_ENDPOINT",
        "OIDC_OP_TOKEN_ENDPOINT",
        "OIDC_OP_USER_ENDPOINT",
        "OIDC_OP_JWKS_ENDPOINT",
        "OIDC_OP_LOGOUT_ENDPOINT",
        "OIDC_GROUP_ROLES",
        "OIDC_ENTITLEMENT_NAMESPACE",
    ):
        setattr(settings, name, "")
    forget_cached_logins()
    oidc_provider.reset()
    yield Iam(oidc_provider)
    forget_cached_logins()


@pytest.fixture
def portal_url(oidc_provider: OidcProvider, live_server: Any) -> str:
    """The live server's URL on 127.0.0.1, the host registered with the provider."""
    assert live_server.url.endswith(oidc_provider.portal_url.rpartition(":")[2])
    return oidc_provider.portal_url
