"""No page and no API endpoint shows anyone what they may not see: a crawl of the whole site as every persona.

Every page the URL resolver knows and every GET operation of the OpenAPI schema (the DRF router's routes) is
fetched as an admin, a coordinator, a CTA liaison, a member, a logged-in outsider without a role and an
anonymous visitor, on data that carries marker strings:

- content (a class, an RSE and its failed push, SKA's requirement, comment, record, document and contact, a
  meeting with an attachment, an action, a person): every role reads it, the outsider and the anonymous
  visitor never see any of it;
- what belongs to one person: each account's e-mail address and IAM subject (only its owner sees them, on
  /account/ and /api/v1/me/), and the secret address of a person's calendar feed (that person and the
  coordinators only);
- secrets: the SECRET_KEY, a Rucio password and the IAM client secret from the settings and environment, and
  every password hash: nobody, ever.

Statuses are held to a table: the anonymous visitor is sent to log in (401/403 from the API), the outsider is
refused (403) everywhere but their own account, and a form to change something answers 403 to a role that may
not change it, before showing any of it. A page or route added later must be entered in the tables below, or
the crawl fails and says which.
"""

from __future__ import annotations

import datetime
import re
from dataclasses import dataclass, field
from typing import Any

import pytest
from django.core.cache import cache
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver

from engagement.models import Contact, Document, EngagementRecord, Requirement
from meetings import exports
from meetings.models import MeetingAttachment, Person
from portal.api.urls import router
from portal.choices import Role
from portal.iam.models import IamIdentity
from qos.models import RSE, Push, PushAttempt, RucioInstance, StorageQoSClass
from tests.conftest import SAFE_CONTENT
from tests.meetings.meeting_factories import make_meeting, make_series, raise_action, zurich

pytestmark = pytest.mark.django_db

ROLES = ("admin", "coordinator", "liaison_cta", "member")
PERSONAS = (*ROLES, "outsider", "anonymous")


# --- the marked data -----------------------------------------------------------------------------------------
@dataclass
class Site:
    """The seeded objects (for URLs), and what each persona must never see."""

    keys: dict[str, Any]
    content: list[str]  # seen by every role, by neither outsider nor anonymous
    secrets: list[str]  # seen by nobody
    own: dict[str, list[str]]  # persona -> what only they see (their e-mail, IAM subject)
    feed_token: str  # a valid address of the member's calendar feed
    feed_marker: str  # what every address of that feed starts with: shown to the member and coordinators only
    users: dict[str, Any] = field(default_factory=dict)


@pytest.fixture
def site(admin, coordinator, liaison_cta, member, outsider, experiments, monkeypatch, settings) -> Site:
    users = {
        "admin": admin,
        "coordinator": coordinator,
        "liaison_cta": liaison_cta,
        "member": member,
        "outsider": outsider,
    }
    own = {}
    for persona, user in users.items():
        user.email = f"{persona}-mailbox@leak.invalid"
        user.save(update_fields=["email"])
        IamIdentity.objects.create(
            user=user, issuer="https://iam.example", subject=f"subject-of-{persona}-7c1e"
        )
        own[persona] = [user.email, f"subject-of-{persona}-7c1e"]

    monkeypatch.setenv("RUCIO_LEAK_PASSWORD", "rucio-password-0d5f9a")
    settings.OIDC_RP_CLIENT_SECRET = "iam-client-secret-41b2"

    qos_class = StorageQoSClass.objects.create_draft(
        by=admin,
        comment="marker-class-comment-a11",
        **{**SAFE_CONTENT, "description": "marker-class-text-a12"},
    )
    # A class awaiting approval, whose impact (GET qos-classes/{label}/impact/) names the marked requirement.
    proposed_class = StorageQoSClass.objects.create_draft(
        by=admin, **{**SAFE_CONTENT, "label": "MARKER-PROPOSED"}
    )
    proposed_class.propose(by=admin)
    instance = RucioInstance.objects.create(
        name="leak-rucio",
        host="https://rucio.leak.invalid",
        env_prefix="RUCIO_LEAK",
        last_error="marker-sync-a13",
    )
    rse = RSE.objects.create(instance=instance, name="MARKER-RSE-A14")
    push = Push.objects.create(
        rse=rse, key="QOS", value="SAFE", operation="set", reason="marker-push-a15", state="failed",
        last_error="marker-push-error-a16", requested_by=admin,
    )  # fmt: skip
    PushAttempt.objects.create(push=push, outcome="permanent", error="marker-attempt-a17")

    ska = experiments["SKA"]
    ska_liaison = type(admin).objects.create_user(username="sam-ska", password="sam-ska-pw")
    ska_liaison.groups.add(*ska_liaison.groups.model.objects.filter(name__in=[Role.MEMBER, Role.LIAISON]))
    ska.liaisons.add(ska_liaison)
    requirement = Requirement.objects.file(
        by=ska_liaison, experiment=ska, title="marker-requirement-a18", description="marker-needs-a19",
        storage_media="tape", access_latency="nearline", copies=2, volume_tb=500,
    )  # fmt: skip
    requirement.add_comment(by=ska_liaison, text="marker-comment-a20")
    record = EngagementRecord.objects.create(
        experiment=ska,
        subject="marker-record-a21",
        date=datetime.date(2020, 3, 18),
        outcome="marker-outcome-a22",
    )
    document = Document.objects.create(
        experiment=ska, title="marker-document-a23", status_note="marker-note-a24"
    )
    contact = Contact.objects.create(
        experiment=ska, name="marker-contact-a25", email="marker-contact@ska.invalid"
    )

    series = make_series()
    meeting = make_meeting(series, zurich(2020, 3, 18), title="marker-meeting-a26")
    meeting.minutes_sections.update(body="marker-minutes-a27")
    attachment = MeetingAttachment.objects.create(
        meeting=meeting, title="marker-attachment-a28", file_name="round-table.pdf",
        content_type="application/pdf", data=b"%PDF-1.4 marker-file-a29",
    )  # fmt: skip
    erin = Person.objects.create(name="marker-person-a30", affiliation="marker-affiliation-a31", user=member)
    action = raise_action(meeting, [erin], "marker-action-a32")
    action.record_update(by=coordinator, text="marker-update-a33")

    return Site(
        keys={
            "qos_class": qos_class,
            "proposed_class": proposed_class,
            "instance": instance,
            "rse": rse,
            "push": push,
            "experiment": ska,
            "requirement": requirement,
            "record": record,
            "document": document,
            "contact": contact,
            "series": series,
            "meeting": meeting,
            "attachment": attachment,
            "person": erin,
            "action": action,
        },
        content=[
            "marker-class-comment-a11",
            "marker-class-text-a12",
            "marker-sync-a13",
            "MARKER-RSE-A14",
            "marker-push-a15",
            "marker-push-error-a16",
            "marker-attempt-a17",
            "marker-requirement-a18",
            "marker-needs-a19",
            "marker-comment-a20",
            "marker-record-a21",
            "marker-outcome-a22",
            "marker-document-a23",
            "marker-note-a24",
            "marker-contact-a25",
            "marker-contact@ska.invalid",
            "marker-meeting-a26",
            "marker-minutes-a27",
            "marker-attachment-a28",
            "marker-file-a29",
            "marker-person-a30",
            "marker-affiliation-a31",
            "marker-action-a32",
            "marker-update-a33",
        ],
        secrets=[
            settings.SECRET_KEY,
            "rucio-password-0d5f9a",
            "iam-client-secret-41b2",
            *[user.password.rsplit("$", 1)[1] for user in (*users.values(), ska_liaison)],
        ],
        own=own,
        feed_token=exports.person_feed_token(erin),
        # Tokens carry the time they were signed at; the signed value before it names the feed.
        feed_marker="/calendar/" + exports.person_feed_token(erin).split(":", 1)[0] + ":",
        users=users,
    )


def client_of(site: Site, persona: str) -> Client:
    client = Client()
    if persona != "anonymous":
        client.force_login(site.users[persona])
    return client


# --- the pages, from the URL resolver ------------------------------------------------------------------------
def url_patterns(patterns: list, prefix: str = "", namespace: str = "") -> list[tuple[str, str]]:
    """(name, route) of every page: names with their namespace, routes from the site's root."""
    found = []
    for pattern in patterns:
        if isinstance(pattern, URLResolver):
            inner = (
                f"{namespace}:{pattern.namespace}" if namespace and pattern.namespace else pattern.namespace
            )
            found += url_patterns(pattern.url_patterns, prefix + str(pattern.pattern), inner or namespace)
        elif isinstance(pattern, URLPattern):
            name = f"{namespace}:{pattern.name}" if namespace else str(pattern.name)
            found.append((name, prefix + str(pattern.pattern)))
    return found


# Not crawled here, and why. Everything else under the resolver is.
NOT_CRAWLED_PREFIXES = (
    "api/",  # the API: crawled from its schema below
    "admin/",  # Django's admin: staff only (no persona is staff), checked once below
    "static/",
)
# Whoever holds its signed address reads the feed, by design (calendar clients cannot log in): tested below.
# The same for a mail's unsubscribe link, which turns off one kind for one person (tests/notifications/).
NOT_CRAWLED = {"meetings:calendar-feed", "notifications:unsubscribe"}
PUBLIC_PAGES = {"login", "healthz", "oidc_authentication_init", "oidc_authentication_callback"}
# POST only: a GET answers 405 (or 403 first, to whom the permission is missing) and shows nothing.
POST_ONLY = {
    "logout",
    "qos:rse-assign",
    "oidc_logout",
    "meetings:set-time-zone",
    "meetings:meeting-carry-over",
    "meetings:person-calendar-address",
    "qos:rse-reconcile",
    "qos:rse-adopt",
    "qos:instance-sync",
    "qos:rse-probe",
    "engagement:requirement-comment",
    "engagement:requirement-link",
    "engagement:requirement-unlink",
}
READERS = set(ROLES)
# Pages that change something (forms): which roles may open them. Every other page is read by every role.
WRITERS = {
    "meetings:meeting-create": {"coordinator"},
    "meetings:series-create": {"coordinator"},
    "meetings:meeting-edit": {"coordinator"},
    "meetings:meeting-next": {"coordinator"},
    "meetings:minutes-edit": {"coordinator"},
    "meetings:timetable-edit": {"coordinator"},
    "meetings:indico-import": {"coordinator"},
    "meetings:attachment-add": {"coordinator"},
    "meetings:action-create": {"coordinator"},
    "meetings:action-edit": {"coordinator"},
    "meetings:person-create": {"coordinator"},
    "meetings:person-edit": {"coordinator"},
    "qos:class-create": {"admin"},
    "qos:class-edit": {"admin"},
    "qos:class-transition": {"admin"},
    "qos:rse-assign": {"admin"},
    "engagement:experiment-create": {"coordinator"},
    "engagement:experiment-edit": {"coordinator"},
    # SKA's: its liaisons file and edit its requirements, none of these personas (the CTA liaison least).
    "engagement:experiment-requirement-create": set(),
    "engagement:requirement-edit": set(),
    "engagement:requirement-transition": set(),  # withdraw: SKA's liaisons only
    "engagement:requirement-create": {"liaison_cta"},  # for the experiments they are a liaison of
    "engagement:record-create": {"coordinator"},
    "engagement:record-edit": {"coordinator"},
    "engagement:document-create": {"coordinator"},
    "engagement:document-edit": {"coordinator"},
    "engagement:contact-create": {"coordinator"},
    "engagement:contact-edit": {"coordinator"},
}
OWN_PAGES = {"iam:account"}  # every logged-in user, outsider too: their own account
# Prometheus metrics: a scraper's bearer token or a QoS admin's session; 401 without either.
METRICS = {"metrics": {"admin"}}


def page_arguments(site: Site, name: str) -> dict[str, Any]:
    """Real keys for a page's URL, by the page's name."""
    k = site.keys
    app, _, page = name.rpartition(":")
    by_page = {
        "meetings:attachment-download": {"pk": k["attachment"].pk},
        "meetings:series-calendar": {"slug": k["series"].slug},
        "meetings:calendar-feed": {"token": site.feed_token},
        "qos:instance-sync": {"name": k["instance"].name},
        "qos:instance-detail": {"name": k["instance"].name},
        "qos:class-transition": {"label": k["qos_class"].label, "action": "propose"},
        "engagement:requirement-transition": {"pk": k["requirement"].pk, "action": "withdraw"},
        "engagement:requirement-unlink": {"pk": k["requirement"].pk, "label": k["qos_class"].label},
        "engagement:record-edit": {"short_name": "SKA", "pk": k["record"].pk},
        "engagement:document-edit": {"short_name": "SKA", "pk": k["document"].pk},
        "engagement:contact-edit": {"short_name": "SKA", "pk": k["contact"].pk},
    }
    if name in by_page:
        return by_page[name]
    by_prefix = {
        "meetings:meeting": {"pk": k["meeting"].pk},
        "meetings:minutes": {"pk": k["meeting"].pk},
        "meetings:timetable": {"pk": k["meeting"].pk},
        "meetings:indico": {"pk": k["meeting"].pk},
        "meetings:attachment": {"pk": k["meeting"].pk},
        "meetings:action": {"pk": k["action"].pk},
        "meetings:person": {"pk": k["person"].pk},
        "qos:rse": {"name": k["rse"].name},
        "qos:class": {"label": k["qos_class"].label},
        "engagement:experiment": {"short_name": "SKA"},
        "engagement:record": {"short_name": "SKA"},
        "engagement:document": {"short_name": "SKA"},
        "engagement:contact": {"short_name": "SKA"},
        "engagement:requirement": {"pk": k["requirement"].pk},
    }
    for start, arguments in by_prefix.items():
        if name.startswith(start):
            return arguments
    raise AssertionError(f"{app}:{page}: add the keys of its URL to page_arguments()")


def page_urls(site: Site) -> list[tuple[str, str]]:
    from django.urls import reverse

    urls = []
    for name, route in url_patterns(get_resolver().url_patterns):
        if route.startswith(NOT_CRAWLED_PREFIXES) or name in NOT_CRAWLED or name in ("None", ""):
            continue
        arguments = page_arguments(site, name) if "<" in route else {}
        urls.append((name, reverse(name, kwargs=arguments)))
    return urls


def expected_page_status(name: str, persona: str) -> set[int]:
    if name in PUBLIC_PAGES:
        return {200, 302, 404, 405}  # their own rules: the login page, the health check, IAM's redirects
    if name in METRICS:
        return {200} if persona in METRICS[name] else {401} if persona == "anonymous" else {403}
    if persona == "anonymous":
        return {302}  # to the login page
    if name in POST_ONLY:
        return {403, 405}
    if name in OWN_PAGES:
        return {200}
    if persona == "outsider":
        return {403}
    may = WRITERS.get(name, READERS)
    return {200} if persona in may else {403}


# --- the API, from its schema ------------------------------------------------------------------------------------
def api_urls(site: Site, schema: dict) -> list[tuple[str, str]]:
    k = site.keys
    values = {
        "qos-classes": {"label": k["qos_class"].label},
        "rucio-instances": {"name": k["instance"].name},
        "rses": {"name": k["rse"].name},
        "pushes": {"id": k["push"].pk},
        "streams": {"letter": "B"},
        "people": {"id": k["person"].pk},
        "meetings": {"id": k["meeting"].pk},
        "actions": {"id": k["action"].pk},
        "experiments": {"short_name": "SKA"},
        "requirements": {"id": k["requirement"].pk},
        "engagement-records": {"id": k["record"].pk},
        "documents": {"id": k["document"].pk},
        "contacts": {"id": k["contact"].pk},
    }
    urls = []
    for path, operations in schema["paths"].items():
        if "get" not in operations:
            continue
        resource = path.removeprefix("/api/v1/").split("/", 1)[0]
        arguments = values.get(resource, {})
        url = re.sub(r"\{(\w+)\}", lambda m, arguments=arguments: str(arguments[m.group(1)]), path)
        if path.endswith("/diff/"):
            url += "?from=1&to=1"
        if path == "/api/v1/rse-expression/":
            url += "?expression=%2A"  # every RSE, by the portal (this Rucio cannot be asked)
        if path.endswith("/impact/"):  # only a class awaiting approval has one
            url = url.replace(k["qos_class"].label, k["proposed_class"].label)
        urls.append((path, url))
    return urls + [(page, page) for page in API_PAGES]


# The API's own pages besides its operations: they describe the API and hold no data.
API_PAGES = ["/api/v1/", "/api/schema/?format=json", "/api/docs/"]


def expected_api_status(path: str, persona: str) -> set[int]:
    if path in API_PAGES:
        return {302, 401, 403} if persona == "anonymous" else {200}
    if persona == "anonymous":
        return {401, 403}
    if path in ("/api/v1/me/", "/api/v1/me/notifications/"):
        return {200}
    if persona == "outsider":
        return {403}
    return {200}


# --- the crawl -----------------------------------------------------------------------------------------------
def forbidden_for(site: Site, persona: str) -> list[str]:
    """The strings this persona must never see."""
    forbidden = list(site.secrets)
    for other, strings in site.own.items():
        if other != persona:
            forbidden += strings
    if persona not in ("member", "coordinator"):
        forbidden.append(site.feed_marker)
    if persona in ("outsider", "anonymous"):
        forbidden += site.content
    return forbidden


def crawl(
    site: Site, persona: str, urls: list[tuple[str, str]], expected, also: dict | None = None
) -> list[str]:
    client = client_of(site, persona)
    forbidden = forbidden_for(site, persona)
    problems = []
    for name, url in urls:
        response = client.get(url, **(also or {}))
        body = b"".join(response) if response.streaming else response.content
        text = body.decode("utf-8", errors="replace")
        if response.status_code not in expected(name, persona):
            problems.append(
                f"{persona} GET {url} ({name}): {response.status_code}, expected {expected(name, persona)}"
            )
        if (
            persona == "anonymous"
            and response.status_code == 302
            and name not in PUBLIC_PAGES | METRICS.keys()
            and not response["Location"].startswith("/accounts/login/")
        ):
            problems.append(f"anonymous GET {url}: sent to {response['Location']}, not to the login page")
        # A marker in the address asked for comes back in a redirect to the login page: that is no leak.
        shown = [m for m in forbidden if (m in text or m in str(response.headers)) and m not in url]
        if shown:
            problems.append(f"{persona} GET {url} ({name}) shows {shown}")
    return problems


@pytest.mark.parametrize("persona", PERSONAS)
def test_no_page_shows_a_persona_what_they_may_not_see(site, persona):
    urls = page_urls(site)
    assert len(urls) > 50
    problems = crawl(site, persona, urls, expected_page_status)
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("persona", PERSONAS)
def test_no_api_endpoint_shows_a_persona_what_they_may_not_see(site, persona):
    schema = client_of(site, "member").get("/api/schema/", {"format": "json"}).json()
    urls = api_urls(site, schema)
    # The schema lists every route the router has.
    assert {f"/api/v1/{prefix}/" for prefix, _, _ in router.registry} <= {path for path, _ in urls}
    problems = crawl(site, persona, urls, expected_api_status)
    # The browsable API's pages (forms included) too, for the lists.
    lists = [(path, url) for path, url in urls if "{" not in path]
    problems += crawl(
        site,
        persona,
        lists,
        # The catalogue export is JSON only: it answers 406 to a browser's Accept header.
        lambda path, persona: expected_api_status(path, persona) | {406},
        {"HTTP_ACCEPT": "text/html"},
    )
    assert not problems, "\n".join(problems)


@pytest.mark.django_db(transaction=True)  # the table cache stores nothing inside an uncommitted transaction
def test_with_the_table_cache_on_no_persona_is_served_what_was_cached_for_another(site, settings):
    """Cached pages and API lists (common/table_cache.py) are first filled as the coordinator, who sees the
    member's calendar address and their own e-mail; the CTA liaison and the outsider then crawl the same."""
    settings.TABLE_CACHE = True
    settings.SESSION_ENGINE = "django.contrib.sessions.backends.cached_db"  # whole pages too (page_cache.py)
    schema = client_of(site, "member").get("/api/schema/", {"format": "json"}).json()
    urls = page_urls(site)
    api = api_urls(site, schema)
    problems = []
    for persona in ("coordinator", "liaison_cta", "outsider"):
        problems += crawl(site, persona, urls, expected_page_status)
        problems += crawl(site, persona, api, expected_api_status)
    assert not problems, "\n".join(problems)
    # The cache was really used (the tests' cache is Django's per-process memory cache).
    assert any(":table-cache:tpl:portal-dashboard:" in key for key in cache._cache)
    assert any(":table-cache:api:qos-class:" in key for key in cache._cache)
    assert any(":table-cache:page:" in key for key in cache._cache)


def test_the_crawl_finds_a_leak_when_there_is_one(site):
    """The crawl has teeth: put the admin's e-mail address where a member reads it, and it is reported."""
    contact = site.keys["contact"]
    contact.notes = site.own["admin"][0]
    contact.save()
    problems = crawl(site, "member", page_urls(site), expected_page_status)
    assert (
        f"member GET /experiments/SKA/ (engagement:experiment-detail) shows ['{contact.notes}']" in problems
    )


def test_what_is_only_theirs_is_shown_to_its_owner(site):
    """The markers are real: each persona sees their own e-mail and IAM subject, the member their feed."""
    for persona in ("admin", "member", "outsider"):
        client = client_of(site, persona)
        for url in ("/account/", "/api/v1/me/"):
            text = client.get(url).content.decode()
            assert site.own[persona][0] in text, (persona, url)
        assert site.own[persona][1] in client.get("/account/").content.decode()
    person = site.keys["person"].pk
    for persona in ("member", "coordinator"):
        assert site.feed_marker in client_of(site, persona).get(f"/people/{person}/").content.decode()
    for persona in ROLES:
        page = client_of(site, persona).get(f"/requirements/{site.keys['requirement'].pk}/").content.decode()
        assert "marker-requirement-a18" in page and "marker-comment-a20" in page


def test_the_admin_site_is_for_staff_only(site):
    for persona in PERSONAS:
        response = client_of(site, persona).get("/admin/")
        assert response.status_code == 302, persona
        assert response["Location"].startswith("/admin/login/")


def test_the_calendar_feed_needs_its_secret_address(site):
    client = Client()
    assert client.get(f"/calendar/{site.feed_token}.ics").status_code == 200
    assert client.get(f"/calendar/{site.feed_token[:-2]}xx.ics").status_code == 404
    assert client.get("/calendar/person:1.ics").status_code == 404
