"""Security of every page: the Content-Security-Policy header, cookies, and CSRF on every URL that takes a POST.

The browser's own view of the policy (no violation on the main pages, Swagger UI rendered) is in
tests/common/test_csp_browser.py; the login rate limit in tests/iam/test_login_rate_limit.py.
"""

from __future__ import annotations

import itertools
import json
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from django.apps import apps
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver, resolve
from django.urls.exceptions import Resolver404
from django.utils.regex_helper import normalize

from qos.models import RSE, RucioInstance, StorageQoSClass
from tests.portal.test_site import PRODUCTION_ENV, run_manage

ROOT = Path(__file__).resolve().parents[2]


def policy(response) -> dict[str, list[str]]:
    """The Content-Security-Policy header as {directive: [sources]}."""
    header = response.headers.get("Content-Security-Policy")
    assert header, f"no Content-Security-Policy on {response.request['PATH_INFO']}"
    directives = [part.split() for part in header.split(";") if part.strip()]
    return {name: sources for name, *sources in directives}


def assert_no_inline_script(csp: dict[str, list[str]]) -> None:
    scripts = csp.get("script-src", csp["default-src"])
    assert scripts == ["'self'"], scripts
    for directive in ("script-src", "script-src-elem", "script-src-attr", "default-src"):
        assert "'unsafe-inline'" not in csp.get(directive, [])
        assert "'unsafe-eval'" not in csp.get(directive, [])


@pytest.fixture
def superuser(admin):
    """The QoS admin, also allowed into the Django admin: every page and form of the portal is open to them."""
    admin.is_staff = admin.is_superuser = True
    admin.save()
    return admin


@pytest.mark.django_db
def test_every_kind_of_page_carries_a_policy_that_allows_no_inline_script(
    client_for, superuser, approved_class
):
    client = client_for(superuser)
    urls = [
        "/",
        "/qos/",
        f"/qos/{approved_class.label}/",
        "/api/v1/qos-classes/",
        "/api/v1/qos-classes/?format=api",  # DRF's browsable API
        "/api/schema/",
        "/api/docs/",
        "/api/docs/?script=",
        "/admin/",
        "/admin/qos/storageqosclass/",
        "/no-such-page/",
    ]
    for url in urls:
        response = client.get(url)
        assert response.status_code in {200, 404}, (url, response.status_code)
        assert_no_inline_script(policy(response))
    anonymous = Client()
    for url in ("/accounts/login/", "/healthz", "/admin/login/"):
        assert_no_inline_script(policy(anonymous.get(url)))


@pytest.mark.django_db
def test_the_policy_limits_every_source_to_this_site(client_for, member):
    csp = policy(client_for(member).get("/"))
    assert csp["default-src"] == ["'self'"]
    assert csp["style-src"] == ["'self'"]
    assert csp["img-src"] == ["'self'"]
    assert csp["object-src"] == ["'none'"]
    assert csp["base-uri"] == ["'self'"]
    assert csp["frame-ancestors"] == ["'none'"]
    assert csp["form-action"] == ["'self'"]


@pytest.mark.django_db
def test_with_iam_on_forms_may_also_go_to_iam_for_logout(client_for, member, settings):
    settings.OIDC_OP_ISSUER = "https://iam-escape.example:8443/"
    settings.OIDC_RP_CLIENT_ID = "portal"
    assert policy(client_for(member).get("/"))["form-action"] == ["'self'", "https://iam-escape.example:8443"]
    settings.OIDC_OP_LOGOUT_ENDPOINT = "https://logout.iam.example/end_session"
    assert policy(client_for(member).get("/"))["form-action"] == [
        "'self'",
        "https://iam-escape.example:8443",
        "https://logout.iam.example",
    ]


@pytest.mark.django_db
def test_only_the_browsable_api_may_use_inline_styles(client_for, member):
    client = client_for(member)
    browsable = policy(client.get("/api/v1/qos-classes/", headers={"Accept": "text/html"}))
    assert browsable["style-src"] == ["'self'", "'unsafe-inline'"]  # DRF's templates use style attributes
    assert_no_inline_script(browsable)
    assert policy(client.get("/api/v1/qos-classes/"))["style-src"] == ["'self'"]
    assert policy(client.get("/qos/"))["style-src"] == ["'self'"]


INLINE_SCRIPT = re.compile(r"<script(?![^>]*\bsrc=)(?![^>]*type=\"application/json\")[^>]*>", re.IGNORECASE)
EVENT_HANDLER = re.compile(r"\son[a-z]+\s*=", re.IGNORECASE)
JAVASCRIPT_URL = re.compile(r"javascript:", re.IGNORECASE)
STYLE = re.compile(r"<style\b|\sstyle\s*=", re.IGNORECASE)


MAIL_TEMPLATES = {"notifications/mail.html"}


def test_no_template_has_inline_script_event_handler_javascript_url_or_inline_style():
    found = []
    for template in sorted((ROOT / "templates").rglob("*.html")):
        if template.relative_to(ROOT / "templates").as_posix() in MAIL_TEMPLATES:
            # A mail is no page of the site: no Content-Security-Policy applies to it, and mail clients drop
            # style sheets, so its HTML carries its few styles inline.
            continue
        text = template.read_text(encoding="utf-8")
        for name, pattern in [
            ("inline script", INLINE_SCRIPT),
            ("event handler", EVENT_HANDLER),
            ("javascript: URL", JAVASCRIPT_URL),
            ("inline style", STYLE),
        ]:
            found += [
                f"{template.relative_to(ROOT)}: {name}: {match.group()}" for match in pattern.finditer(text)
            ]
    assert found == []


@pytest.mark.django_db
def test_the_api_docs_page_loads_swagger_ui_and_its_start_up_script_from_files(client_for, member):
    client = client_for(member)
    page = client.get("/api/docs/").content.decode()
    scripts = re.findall(r"<script[^>]*>", page)
    assert len(scripts) == 3
    assert all(" src=" in tag for tag in scripts)
    assert not STYLE.search(page)
    assert 'src="/api/docs/?script="' in page
    assert policy(client.get("/api/docs/"))["img-src"] == ["'self'", "data:"]  # Swagger UI's own images
    script = client.get("/api/docs/?script=")
    assert script.headers["Content-Type"].startswith("application/javascript")
    assert "SwaggerUIBundle" in script.content.decode()


# --- Cookies --------------------------------------------------------------------------------------------------


def test_production_settings_keep_cookies_secure_http_only_and_same_site():
    shown = "SESSION_COOKIE_SECURE CSRF_COOKIE_SECURE SESSION_COOKIE_HTTPONLY SESSION_COOKIE_SAMESITE CSRF_COOKIE_SAMESITE SECURE_SSL_REDIRECT"
    code = f"import json; from django.conf import settings; print(json.dumps({{n: getattr(settings, n) for n in {shown.split()!r}}}))"
    result = run_manage("shell", "-c", code, env=PRODUCTION_ENV)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout.strip().splitlines()[-1]) == {
        "SESSION_COOKIE_SECURE": True,
        "CSRF_COOKIE_SECURE": True,
        "SESSION_COOKIE_HTTPONLY": True,
        "SESSION_COOKIE_SAMESITE": "Lax",
        "CSRF_COOKIE_SAMESITE": "Lax",
        "SECURE_SSL_REDIRECT": True,
    }


@pytest.mark.django_db
def test_the_session_cookie_of_a_login_is_http_only_and_same_site_lax(client, member):
    response = client.post("/accounts/login/", {"username": member.username, "password": "erin-member-pw"})
    assert response.status_code == 302
    session = response.cookies["sessionid"]
    assert session["httponly"] is True
    assert session["samesite"] == "Lax"


# --- CSRF on every URL ---------------------------------------------------------------------------------------


def every_url_pattern() -> Iterator[tuple[str, URLPattern]]:
    """(full regular expression, pattern) of every route of portal.urls, included ones too."""

    def walk(patterns, prefix: str) -> Iterator[tuple[str, URLPattern]]:
        for entry in patterns:
            regex = prefix + entry.pattern.regex.pattern.removeprefix("^")
            if isinstance(entry, URLResolver):
                yield from walk(entry.url_patterns, regex)
            else:
                yield regex, entry

    yield from walk(get_resolver().url_patterns, "")


# Values tried for a route's parameters until the URL resolves to that route's own view.
SAMPLES = ["1", "SAFE", "CTA", "x", "qos"]


def sample_url(regex: str, pattern: URLPattern) -> str:
    for template, params in normalize(regex):
        # DRF's format suffix must name a renderer: an unknown one is a 404 before anything else is checked.
        choices = [[".json", "json"] if param == "format" else SAMPLES for param in params]
        for values in itertools.product(*choices):
            url = "/" + template % dict(zip(params, values, strict=True))
            try:
                match = resolve(url)
            except Resolver404:
                continue
            if match.func is pattern.callback:
                return url
    raise AssertionError(f"no sample URL for {regex}")


def database_state() -> dict[str, list]:
    return {
        model._meta.label: list(model.objects.order_by("pk").values())
        for model in apps.get_models()
        if model._meta.managed and not model._meta.proxy
    }


def refusal_reason(response) -> str:
    """Why a request was refused: DRF's ``detail`` (its HTML renderers do not show it), or Django's page."""
    data = getattr(response, "data", None)
    if isinstance(data, dict) and "detail" in data:
        return str(data["detail"])
    return response.content.decode(errors="replace")


@pytest.fixture
def csrf_checked_client(superuser) -> Client:
    """A logged-in QoS admin and superuser's browser with its CSRF cookie, enforcing CSRF like a real browser."""
    client = Client(enforce_csrf_checks=True)
    client.force_login(superuser)
    assert client.get("/").status_code == 200
    assert client.cookies["csrftoken"].value
    return client


@pytest.mark.django_db
def test_every_url_refuses_a_post_without_the_csrf_token_and_changes_nothing(
    csrf_checked_client, approved_class, superuser
):
    instance = RucioInstance.objects.create(name="escape", host="https://rucio.escape.example")
    RSE.objects.create(instance=instance, name="CERN-EOS")
    before = database_state()
    urls = sorted({sample_url(regex, pattern) for regex, pattern in every_url_pattern()})
    assert len(urls) > 100  # the walk found the portal's, the API's and the admin's routes
    accepted = {}
    for url in urls:
        response = csrf_checked_client.post(url, {"comment": "sneaky", "label": "EVIL", "status": "retired"})
        if response.status_code != 403 or "CSRF" not in refusal_reason(response):
            accepted[url] = response.status_code
    # The one exception, by design: a mail's one-click unsubscribe (RFC 8058) is a POST from the mail client,
    # which has no CSRF token; its signed address is the credential, and a forged one is a 404 that changes
    # nothing (tests/notifications/test_unsubscribe.py).
    assert accepted == {"/notifications/unsubscribe/1/": 404}
    assert database_state() == before


@pytest.mark.django_db
def test_a_page_form_with_its_csrf_token_still_works(csrf_checked_client, approved_class):
    token = csrf_checked_client.cookies["csrftoken"].value
    response = csrf_checked_client.post(
        f"/qos/{approved_class.label}/deprecate/",
        {"csrfmiddlewaretoken": token, "comment": "superseded", "base_revision": approved_class.revision},
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    approved_class.refresh_from_db()
    assert approved_class.status == "deprecated"


@pytest.mark.django_db
def test_the_api_with_a_session_needs_the_csrf_header_for_changes(csrf_checked_client, approved_class):
    url = f"/api/v1/qos-classes/{approved_class.label}/"
    refused = csrf_checked_client.patch(url, {"title": "Changed"}, content_type="application/json")
    assert refused.status_code == 403
    assert refused.json()["detail"].startswith("CSRF Failed")
    assert StorageQoSClass.objects.get(pk=approved_class.pk).pending_revision is None

    token = csrf_checked_client.cookies["csrftoken"].value
    accepted = csrf_checked_client.patch(
        url, {"title": "Changed"}, content_type="application/json", headers={"X-CSRFToken": token}
    )
    assert accepted.status_code == 200, accepted.content
