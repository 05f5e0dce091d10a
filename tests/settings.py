"""Settings for the test suite: the real settings module, with test-only defaults for what it requires.

DATABASE_URL comes from the environment (scripts/test points it at PostgreSQL); without it the suite runs on
SQLite, which it also supports.
"""

import os

os.environ.setdefault("SECRET_KEY", "test-only-key-not-a-secret")
os.environ.setdefault("DEBUG", "0")

from portal.settings import *  # noqa: F403

# Tests talk plain HTTP to the test client and the live server.
SECURE_SSL_REDIRECT = False
SESSION_COOKIE_SECURE = False
CSRF_COOKIE_SECURE = False
ALLOWED_HOSTS = ["*"]
# No collectstatic in tests: serve static files straight from the apps and static/.
STORAGES = {**STORAGES, "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"}}  # noqa: F405
WHITENOISE_USE_FINDERS = True
WHITENOISE_AUTOREFRESH = True
# Fast hashing: tests create many users.
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
# IAM login is configured by the tests that need it, at run time (tests/oidc.py, with a local provider whose
# port is known only then). Its middleware and DRF authentication are therefore always installed here; both do
# nothing while IAM is not configured, exactly as when portal/settings.py leaves them out.
if "portal.iam.middleware.SessionRefresh" not in MIDDLEWARE:  # noqa: F405
    MIDDLEWARE = [*MIDDLEWARE, "portal.iam.middleware.SessionRefresh"]  # noqa: F405
REST_FRAMEWORK = {
    **REST_FRAMEWORK,  # noqa: F405
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "portal.iam.api.authentication.BearerTokenAuthentication",
        *[
            name
            for name in REST_FRAMEWORK["DEFAULT_AUTHENTICATION_CLASSES"]  # noqa: F405
            if name != "portal.iam.api.authentication.BearerTokenAuthentication"
        ],
    ],
}

# A worker process (tests/celery_worker.py) must see the same test database: on SQLite that needs a file.
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":  # noqa: F405
    DATABASES["default"]["TEST"] = {"NAME": str(BASE_DIR / "var" / f"test-{os.getpid()}.sqlite3")}  # noqa: F405
else:
    # A database of this run's own, so that two runs on one machine (two checkouts, CI beside a developer)
    # never drop each other's test database. A worker process is told the name (tests/celery_worker.py).
    DATABASES["default"]["TEST"] = {"NAME": f"test_{DATABASES['default']['NAME']}_{os.getpid()}"}  # noqa: F405
