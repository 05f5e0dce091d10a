"""The site around the domains: health, login, navigation, roles, settings, static files, the demo loader."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.contrib.auth.models import Group
from django.core.management import call_command
from django.db import connection

from portal.choices import Role
from qos.models import StorageQoSClass, StorageQoSClassRevision

ROOT = Path(__file__).resolve().parents[2]

PRODUCTION_ENV = {
    "DEBUG": "0",
    "SECRET_KEY": "a-long-random-production-like-key-4f8e2b7c1d9a6e3f5b0c8d2a7e4f1b6c9d3a5e8f",
    "ALLOWED_HOSTS": "qos.escape.example",
    "CSRF_TRUSTED_ORIGINS": "https://qos.escape.example",
    "DATABASE_URL": "sqlite:////tmp/qos-portal-check-deploy.sqlite3",
}


def run_manage(*args: str, env: dict) -> subprocess.CompletedProcess:
    clean = {
        key: value
        for key, value in os.environ.items()
        # DJANGO_ALLOW_ASYNC_UNSAFE: set in this process by the browser fixtures (tests/browser.py) once any
        # Playwright journey has run; `check --deploy` rightly refuses it, and production never has it.
        if key not in {"DEBUG", "SECRET_KEY", "DJANGO_SETTINGS_MODULE", "DJANGO_ALLOW_ASYNC_UNSAFE"}
    }
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env={**clean, **env, "DJANGO_SETTINGS_MODULE": "portal.settings"},
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_check_deploy_with_production_settings_reports_nothing():
    result = run_manage("check", "--deploy", "--fail-level", "WARNING", env=PRODUCTION_ENV)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues (0 silenced)." in result.stdout


def test_production_settings_refuse_to_start_without_secret_key():
    env = {**PRODUCTION_ENV, "SECRET_KEY": ""}
    result = run_manage("check", env=env)
    assert result.returncode != 0
    assert "SECRET_KEY must be set when DEBUG is off" in result.stderr


def test_secret_can_come_from_a_file(tmp_path):
    secret_file = tmp_path / "secret"
    secret_file.write_text("file-held-secret-key-that-is-long-enough-for-django-checks-1234567890abc\n")
    env = {**PRODUCTION_ENV, "SECRET_KEY": "", "SECRET_KEY_FILE": str(secret_file)}
    result = run_manage("check", "--deploy", "--fail-level", "WARNING", env=env)
    assert result.returncode == 0, result.stderr


def test_bad_boolean_setting_is_a_clear_error():
    result = run_manage("check", env={**PRODUCTION_ENV, "DEBUG": "maybe"})
    assert result.returncode != 0
    assert "DEBUG must be a boolean" in result.stderr


@pytest.mark.django_db
def test_healthz_answers_200_when_the_database_does(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "database": "ok"}


@pytest.mark.django_db(transaction=True)
def test_healthz_answers_503_when_the_database_does_not(client):
    # A real failed connection: point the connection at somewhere no database answers, then restore it.
    saved = dict(connection.settings_dict)
    connection.close()
    if connection.vendor == "sqlite":
        connection.settings_dict["NAME"] = "/nonexistent-dir/portal.sqlite3"
    else:
        connection.settings_dict["PORT"] = "1"
    try:
        response = client.get("/healthz")
    finally:
        connection.close()
        connection.settings_dict.clear()
        connection.settings_dict.update(saved)
    assert response.status_code == 503
    assert response.json()["status"] == "unavailable"


@pytest.mark.django_db
def test_login_page_is_public_and_everything_else_needs_a_login(client):
    assert client.get("/accounts/login/").status_code == 200
    for url in ("/", "/qos/", "/api/docs/", "/admin/"):
        response = client.get(url)
        assert response.status_code == 302, url
        assert "/login/" in response.url


@pytest.mark.django_db
def test_the_admin_site_lets_in_active_superusers_only(client, admin, django_user_model):
    # A staff account that is not a superuser, even a QoS admin's, is sent to the admin's login page.
    admin.is_staff = True
    admin.save()
    client.force_login(admin)
    response = client.get("/admin/")
    assert response.status_code == 302
    assert response.url.startswith("/admin/login/")
    superuser = django_user_model.objects.create_superuser("sam-super", password="sam-super-pw")
    client.force_login(superuser)
    page = client.get("/admin/")
    assert page.status_code == 200
    assert "ESCAPE QoS portal admin (superusers)" in page.content.decode()
    superuser.is_active = False
    superuser.save()
    assert client.get("/admin/").status_code == 302


@pytest.mark.django_db
def test_the_navigation_does_not_link_to_the_admin_site(client_for, django_user_model):
    superuser = django_user_model.objects.create_superuser("sam-super", password="sam-super-pw")
    assert "/admin/" not in client_for(superuser).get("/").content.decode()


@pytest.mark.django_db
def test_local_login_and_logout(client, member):
    response = client.post("/accounts/login/", {"username": member.username, "password": "erin-member-pw"})
    assert response.status_code == 302
    assert client.get("/").status_code == 200
    client.post("/accounts/logout/")
    assert client.get("/").status_code == 302


@pytest.mark.django_db
def test_wrong_password_shows_an_error(client, member):
    response = client.post("/accounts/login/", {"username": member.username, "password": "nope"})
    assert response.status_code == 200
    assert "Please enter a correct username and password" in response.content.decode()


@pytest.mark.django_db
def test_navigation_lists_the_installed_sections_and_marks_the_current_one(client_for, member):
    page = client_for(member).get("/qos/").content.decode()
    assert '<a href="/" >' not in page
    assert '<a href="/qos/" aria-current="page">QoS catalogue</a>' in page
    assert '<a href="/api/docs/">API</a>' in page
    assert "Log out" in page


@pytest.mark.django_db
def test_dashboard_lists_classes_awaiting_approval(client_for, member, admin2, proposed_class):
    assert "QoS classes awaiting approval" in client_for(member).get("/").content.decode()
    # The list is the QoS admin's part: the class awaits admin2, who did not write it.
    assert "/qos/SAFE/" in client_for(admin2).get("/").content.decode()


@pytest.mark.django_db
def test_static_files_are_served_by_the_app(client_for, member):
    page = client_for(member).get("/").content.decode()
    assert "/static/css/portal.css" in page
    assert "//cdn" not in page and "https://" not in page
    response = client_for(member).get("/static/css/portal.css")
    assert response.status_code == 200
    assert b"--blue" in b"".join(response.streaming_content)


@pytest.mark.django_db
def test_roles_are_groups_with_permissions():
    assert set(Group.objects.values_list("name", flat=True)) >= {role.value for role in Role}
    admin_perms = set(Group.objects.get(name=Role.QOS_ADMIN).permissions.values_list("codename", flat=True))
    assert {"view_storageqosclass", "add_storageqosclass", "approve_storageqosclass"} <= admin_perms
    member_perms = set(Group.objects.get(name=Role.MEMBER).permissions.values_list("codename", flat=True))
    assert "view_storageqosclass" in member_perms
    assert not {perm for perm in member_perms if not perm.startswith("view_")}


@pytest.mark.django_db
def test_loaddemo_twice_changes_nothing(capsys):
    call_command("loaddemo")
    first = capsys.readouterr().out
    assert "SAFE, CHEAP-ANALYSIS, FAST, OPPORTUNISTIC" in first
    counts = (StorageQoSClass.objects.count(), StorageQoSClassRevision.objects.count())
    password_hashes = sorted(Group.objects.get(name=Role.MEMBER).user_set.values_list("password", flat=True))
    call_command("loaddemo")
    second = capsys.readouterr().out
    assert "none (all present)" in second
    assert "(unchanged" in second
    assert (StorageQoSClass.objects.count(), StorageQoSClassRevision.objects.count()) == counts == (4, 12)
    assert (
        sorted(Group.objects.get(name=Role.MEMBER).user_set.values_list("password", flat=True))
        == password_hashes
    )
    assert set(StorageQoSClass.objects.values_list("status", flat=True)) == {"approved"}


@pytest.mark.django_db
def test_loaddemo_prints_working_logins(client, capsys):
    call_command("loaddemo", "--reset-passwords")
    lines = [line.split() for line in capsys.readouterr().out.splitlines() if line.startswith("  ")]
    logins = dict(lines)
    assert set(logins) == {"admin", "admin2", "coordinator", "liaison-cta", "liaison-atlas", "member"}
    assert client.login(username="admin2", password=logins["admin2"])
