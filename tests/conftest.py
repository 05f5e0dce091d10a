"""Personas and helpers shared by every test module.

The personas follow the roles of DESIGN.md: two QoS admins (so four-eyes can be tried), a coordinator, a
liaison of CTA, a member, and an outsider who is logged in but holds no role.
"""

from __future__ import annotations

import os

import pytest
from django.contrib.auth.models import Group
from django.test import Client
from rest_framework.test import APIClient

from engagement.models import Experiment
from portal.choices import Role
from qos.models import StorageQoSClass

pytest_plugins = ["tests.browser", "tests.celery_worker", "tests.oidc", "tests.rucio_server", "tests.stack"]


def _make_user(django_user_model, username: str, *roles: str):
    user = django_user_model.objects.create_user(username=username, password=f"{username}-pw")
    user.groups.add(*[Group.objects.get(name=role) for role in roles])
    return user


@pytest.fixture
def admin(db, django_user_model):
    return _make_user(django_user_model, "alice-admin", Role.MEMBER, Role.QOS_ADMIN)


@pytest.fixture
def admin2(db, django_user_model):
    return _make_user(django_user_model, "bob-admin", Role.MEMBER, Role.QOS_ADMIN)


@pytest.fixture
def coordinator(db, django_user_model):
    return _make_user(django_user_model, "carol-coordinator", Role.MEMBER, Role.COORDINATOR)


# The experiments of the demo (engagement), by short name.
EXPERIMENTS = {
    "ATLAS": "A Toroidal LHC ApparatuS",
    "CTA": "Cherenkov Telescope Array",
    "SKA": "Square Kilometre Array",
    "LOFAR": "Low-Frequency Array",
}


@pytest.fixture
def experiments(db):
    """ATLAS, CTA, SKA and LOFAR, by short name (liaison_cta is a liaison of CTA)."""
    return {
        short_name: Experiment.objects.get_or_create(short_name=short_name, defaults={"name": name})[0]
        for short_name, name in EXPERIMENTS.items()
    }


@pytest.fixture
def liaison_cta(db, django_user_model, experiments):
    user = _make_user(django_user_model, "dave-cta", Role.MEMBER, Role.LIAISON)
    experiments["CTA"].liaisons.add(user)
    return user


@pytest.fixture
def member(db, django_user_model):
    return _make_user(django_user_model, "erin-member", Role.MEMBER)


@pytest.fixture
def outsider(db, django_user_model):
    return django_user_model.objects.create_user(username="oscar-outsider", password="oscar-outsider-pw")


class RucioDeployment:
    """Rucio instances described in this process's environment, as a deployment does (README, "Configuration");
    a Celery worker started afterwards inherits them."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.monkeypatch = monkeypatch

    def add(self, key: str, url: str, **variables: str) -> str:
        """Name ``key`` in RUCIO_INSTANCES, its server at ``url``, and ``RUCIO_<KEY>_<NAME>`` for each of
        ``variables`` (USERNAME=..., PASSWORD=...); a plain http:// server is allowed. Returns the prefix."""
        prefix = f"RUCIO_{key}"
        listed = [name for name in os.environ.get("RUCIO_INSTANCES", "").split(",") if name]
        self.monkeypatch.setenv("RUCIO_INSTANCES", ",".join(dict.fromkeys([*listed, key])))
        self.monkeypatch.setenv(f"{prefix}_HOST", url)
        for name, value in variables.items():
            self.monkeypatch.setenv(f"{prefix}_{name}", value)
        if url.startswith("http://"):
            self.monkeypatch.setenv("RUCIO_ALLOW_INSECURE_HTTP", "1")
        return prefix

    def move(self, instance, url: str) -> None:
        """Point an instance at another server, in the environment and in the row that mirrors it."""
        self.monkeypatch.setenv(f"{instance.env_prefix}_HOST", url)
        self.monkeypatch.delenv(f"{instance.env_prefix}_AUTH_HOST", raising=False)
        type(instance).objects.filter(pk=instance.pk).update(host=url, auth_host=url)


@pytest.fixture
def rucio_deployment(monkeypatch) -> RucioDeployment:
    return RucioDeployment(monkeypatch)


@pytest.fixture
def client_for():
    """A logged-in browser-like client for a user."""

    def make(user) -> Client:
        client = Client()
        client.force_login(user)
        return client

    return make


@pytest.fixture
def api_for():
    """A logged-in API client (session auth) for a user."""

    def make(user) -> APIClient:
        client = APIClient()
        client.force_authenticate(user)
        return client

    return make


SAFE_CONTENT = {
    "label": "SAFE",
    "title": "Safe long-term custody",
    "description": "Tape-backed, *durable*.",
    "storage_media": "tape",
    "access_latency": "nearline",
    "redundancy": "replicas",
    "copies": 2,
    "geographic_placement": "multi-site",
    "cost_tier": "low",
}


@pytest.fixture
def draft_class(admin):
    return StorageQoSClass.objects.create_draft(by=admin, comment="first draft", **SAFE_CONTENT)


@pytest.fixture
def proposed_class(draft_class, admin):
    draft_class.propose(by=admin)
    return draft_class


@pytest.fixture
def approved_class(proposed_class, admin2):
    proposed_class.approve(by=admin2)
    return proposed_class
