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
