"""Settings of the ESCAPE QoS portal, read from environment variables.

Every variable has a safe default except ``SECRET_KEY``, which must be set whenever ``DEBUG`` is off.
A variable ``NAME_FILE`` may name a file holding the value of ``NAME`` (Docker/Kubernetes secrets),
so that secrets never need to sit in a process environment listing or in the repository.
The README lists every variable.
"""

from __future__ import annotations

import os
from datetime import timedelta
from pathlib import Path

import dj_database_url
from celery.schedules import crontab
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent


def env(name: str, default: str = "") -> str:
    """Return ``$NAME``, or the stripped content of the file named by ``$NAME_FILE``, or ``default``."""
    file_name = os.environ.get(f"{name}_FILE")
    if file_name:
        return Path(file_name).read_text(encoding="utf-8").strip()
    return os.environ.get(name, default)


def env_bool(name: str, default: bool = False) -> bool:
    value = env(name, "")
    if value == "":
        return default
    if value.lower() in {"1", "true", "yes", "on"}:
        return True
    if value.lower() in {"0", "false", "no", "off"}:
        return False
    raise ImproperlyConfigured(f"{name} must be a boolean (1/0, true/false, yes/no, on/off), not {value!r}")


def env_list(name: str, default: str = "") -> list[str]:
    return [item.strip() for item in env(name, default).split(",") if item.strip()]


def env_int(name: str, default: int) -> int:
    value = env(name, "")
    try:
        return int(value) if value else default
    except ValueError:
        raise ImproperlyConfigured(f"{name} must be an integer, not {value!r}") from None


DEBUG = env_bool("DEBUG", False)

SECRET_KEY = env("SECRET_KEY")
if not SECRET_KEY:
    if not DEBUG:
        raise ImproperlyConfigured("SECRET_KEY must be set when DEBUG is off (see README, 'Configuration').")
    # Only for local development: a key that is obviously not a secret.
    SECRET_KEY = "insecure-development-key-only-for-DEBUG"  # noqa: S105

ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", "localhost,127.0.0.1,[::1]" if DEBUG else "")
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "rest_framework",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "common",
    "notifications",
    "qos",
    "engagement",
    "meetings",
    "portal",
    "portal.iam",  # app label "iam": login with INDIGO IAM (OpenID Connect)
    "csp",  # Content-Security-Policy header (common/csp.py)
    "axes",  # failed local logins and lockouts (portal/iam/lockout.py)
]

MIDDLEWARE = [
    # First, so that every log line of a request carries its id and every response is timed (common/logs.py,
    # portal/metrics.py).
    "common.logs.RequestIdMiddleware",
    "portal.metrics.RequestMetricsMiddleware",
    "django.middleware.security.SecurityMiddleware",
    # Content-Security-Policy on every response (CONTENT_SECURITY_POLICY below).
    "common.csp.CSPMiddleware",
    # A request body larger than the upload limits is refused (413) before anything reads it (common/uploads.py).
    "common.uploads.RequestSizeLimitMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    # Cache-Control: private on every answer to a logged-in user, pages and API (common/cache_control.py).
    "common.cache_control.PrivateCacheControlMiddleware",
    # Permissions from the table cache, when it is on (common/table_cache.py; TABLE_CACHE below).
    "common.table_cache.PermissionCacheMiddleware",
    # Whole answers of the main pages and API lists from the table cache, checked in one read of it (session,
    # table versions, the answer) before the login check and the view run (common/page_cache.py).
    "common.page_cache.PageCacheMiddleware",
    # Every page needs a login except those marked @login_not_required (login, health). DRF's views opt out
    # and answer 401/403 in JSON themselves, which is what a script with a bearer token needs.
    "django.contrib.auth.middleware.LoginRequiredMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    # Turns a local login refused for too many failures into the "try again later" page (LOGIN_FAILURE_LIMIT).
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "portal.urls"
WSGI_APPLICATION = "portal.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "portal.context_processors.navigation",
            ],
            "builtins": ["common.templatetags.common_tags"],
        },
    },
]

# SQLite file under the project unless DATABASE_URL says otherwise (PostgreSQL in production and tests).
DATABASES = {
    "default": dj_database_url.parse(
        env("DATABASE_URL", f"sqlite:///{BASE_DIR / 'var' / 'portal.sqlite3'}"),
        conn_max_age=env_int("DATABASE_CONN_MAX_AGE", 60),
        conn_health_checks=True,
    )
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    (BASE_DIR / "var").mkdir(exist_ok=True)
    DATABASES["default"]["CONN_MAX_AGE"] = 0
elif DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
    # No JIT: on queries the planner thinks big (the gap count of a large catalogue) PostgreSQL spent up to two
    # seconds compiling them, to run for a few hundred milliseconds (bench/README.md).
    options = DATABASES["default"].setdefault("OPTIONS", {})
    options["options"] = f"{options.get('options', '')} -c jit=off".strip()

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "portal:dashboard"
LOGOUT_REDIRECT_URL = "login"

LANGUAGE_CODE = "en-gb"
# Meetings of the task group are held on CERN time; times are stored in UTC.
TIME_ZONE = env("TIME_ZONE", "Europe/Zurich")
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
# Where collectstatic writes (the release step) and WhiteNoise serves from; e.g. /var/lib/qos-portal/static.
STATIC_ROOT = Path(env("STATIC_ROOT") or BASE_DIR / "staticfiles")
STATICFILES_DIRS = [BASE_DIR / "static"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"
        if not DEBUG
        else "django.contrib.staticfiles.storage.StaticFilesStorage"
    },
}

# --- Security: with DEBUG off these are production values, so `check --deploy` is clean. -----------------
SESSION_COOKIE_HTTPONLY = True
CSRF_COOKIE_HTTPONLY = False  # the browsable API's forms read it; the cookie holds no secret of the session
X_FRAME_OPTIONS = "DENY"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
if not DEBUG:
    SESSION_COOKIE_SECURE = env_bool("SESSION_COOKIE_SECURE", True)
    CSRF_COOKIE_SECURE = env_bool("CSRF_COOKIE_SECURE", True)
    SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", True)
    # Load balancers probe /healthz over plain HTTP; Prometheus may scrape each web machine directly.
    SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^metrics$"]
    SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 31536000)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", True)
    SECURE_HSTS_PRELOAD = env_bool("SECURE_HSTS_PRELOAD", True)
    if not SECURE_HSTS_PRELOAD:
        # The operator chose not to submit the domain to the browsers' preload list.
        SILENCED_SYSTEM_CHECKS = ["security.W021"]
if env_bool("USE_X_FORWARDED_PROTO", False):
    # Only behind a proxy that sets this header itself; otherwise clients could spoof HTTPS.
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")

# Content Security Policy (django-csp): no inline script or style, no eval, nothing from other sites, never in
# a frame. common/csp.py adds IAM's origin to form-action while IAM login is on (logout is a POST that IAM's
# end_session answers). The Swagger UI page loads its start-up script from /api/docs/?script and may show data:
# images (portal/urls.py); DRF's browsable API may use inline styles (common/api/renderers.py).
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        "style-src": ["'self'"],
        "img-src": ["'self'"],
        "object-src": ["'none'"],
        "base-uri": ["'self'"],
        "frame-ancestors": ["'none'"],
        "form-action": ["'self'"],
    }
}

# --- Local logins: locked for a while after repeated failures (django-axes; IAM rate-limits its own). ---
# Failures are counted per user name and client address, in the database (shared by every web machine).
LOGIN_FAILURE_LIMIT = env_int("LOGIN_FAILURE_LIMIT", 5)
LOGIN_COOLOFF_MINUTES = env_int("LOGIN_COOLOFF_MINUTES", 15)
if LOGIN_FAILURE_LIMIT < 1 or LOGIN_COOLOFF_MINUTES < 1:
    raise ImproperlyConfigured("LOGIN_FAILURE_LIMIT and LOGIN_COOLOFF_MINUTES must be at least 1.")
# How many proxies in front of the portal append the address they were reached from to X-Forwarded-For;
# 0: none, the client is the peer address. Never more than there are, or clients choose their own address.
TRUSTED_PROXY_COUNT = env_int("TRUSTED_PROXY_COUNT", 0)
AXES_FAILURE_LIMIT = LOGIN_FAILURE_LIMIT
AXES_COOLOFF_TIME = timedelta(minutes=LOGIN_COOLOFF_MINUTES)
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
# Attempts during a lockout do not extend it, so the page can say when it ends.
AXES_RESET_COOL_OFF_ON_FAILURE_DURING_LOCKOUT = False
AXES_DISABLE_ACCESS_LOG = True  # successful logins are not kept in a table of their own
# Failures and lockouts are logged with user name and address (never the password); no start-up banner.
AXES_SENSITIVE_PARAMETERS: list[str] = []
AXES_VERBOSE = False
AXES_CLIENT_IP_CALLABLE = "portal.iam.lockout.client_ip"
AXES_WHITELIST_CALLABLE = "portal.iam.lockout.is_not_password_login"
AXES_LOCKOUT_CALLABLE = "portal.iam.lockout.lockout_response"

# --- Uploads and imports (common/uploads.py) ----------------------------------------------------------------
# The largest file accepted: a meeting attachment. A larger one is refused with a form error (400 in the API)
# and is never stored, not even in a temporary file; a request much larger still is refused unread (413).
UPLOAD_MAX_BYTES = env_int("UPLOAD_MAX_BYTES", 10 * 1024 * 1024)
# A request body without its files (form fields, API JSON); Django's default.
DATA_UPLOAD_MAX_MEMORY_SIZE = env_int("DATA_UPLOAD_MAX_MEMORY_SIZE", 2621440)
# A file larger than this is spooled to a temporary file while the request is read, not kept in memory.
FILE_UPLOAD_MAX_MEMORY_SIZE = env_int("FILE_UPLOAD_MAX_MEMORY_SIZE", 2621440)
DATA_UPLOAD_MAX_NUMBER_FILES = 10  # every form takes one file
FILE_UPLOAD_HANDLERS = [
    "common.uploads.SizeLimitedUploadHandler",
    "django.core.files.uploadhandler.MemoryFileUploadHandler",
    "django.core.files.uploadhandler.TemporaryFileUploadHandler",
]
# Indico exports are fetched from these hosts only, over https: "indico.cern.ch", "indico.cern.ch:8443". An
# entry "http://host:port" also allows plain http to that one address (a test stand-in; never in production).
INDICO_ALLOWED_HOSTS = env_list("INDICO_ALLOWED_HOSTS", "indico.cern.ch")
# An Indico export (uploaded or fetched) larger than this is refused unread.
INDICO_EXPORT_MAX_BYTES = env_int("INDICO_EXPORT_MAX_BYTES", 2 * 1024 * 1024)

# --- REST API ----------------------------------------------------------------------------------------------
REST_FRAMEWORK = {
    # DRF's, which also challenges (WWW-Authenticate): a request without credentials gets 401, not 403.
    "DEFAULT_AUTHENTICATION_CLASSES": ["common.api.authentication.SessionAuthentication"],
    "DEFAULT_PERMISSION_CLASSES": ["common.api.permissions.ModelPermissions"],
    "DEFAULT_FILTER_BACKENDS": [
        "django_filters.rest_framework.DjangoFilterBackend",
        "rest_framework.filters.OrderingFilter",
    ],
    "DEFAULT_PAGINATION_CLASS": "common.api.pagination.PortalPagination",
    "PAGE_SIZE": 50,
    # DRF's; its browsable API may use inline styles on its own pages (Content-Security-Policy).
    "DEFAULT_RENDERER_CLASSES": [
        "rest_framework.renderers.JSONRenderer",
        "common.api.renderers.BrowsableAPIRenderer",
    ],
    # DRF's, except that JSON nested too deeply is a 400, not a server error, and files are refused (400).
    "DEFAULT_PARSER_CLASSES": [
        "common.api.parsers.JSONParser",
        "rest_framework.parsers.FormParser",
        "common.api.parsers.MultiPartParser",
    ],
    # DRF's, which also answers a rule's refusal (409) and a model's validation error (400) from any view.
    "EXCEPTION_HANDLER": "common.api.errors.exception_handler",
    # drf-spectacular's AutoSchema, also documenting the errors (400/401/403/404) every endpoint answers.
    "DEFAULT_SCHEMA_CLASS": "common.api.schema.PortalAutoSchema",
    "DEFAULT_VERSIONING_CLASS": None,
    "UNAUTHENTICATED_USER": "django.contrib.auth.models.AnonymousUser",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "ESCAPE QoS portal API",
    "DESCRIPTION": "Storage QoS Class catalogue, Rucio RSE attributes, experiment engagement and meetings.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SERVE_PERMISSIONS": ["rest_framework.permissions.IsAuthenticated"],
    "SCHEMA_PATH_PREFIX": r"/api/v1",
    "COMPONENT_SPLIT_REQUEST": True,
    # Choice sets named once, however many fields use them (other apps: add yours here).
    "ENUM_NAME_OVERRIDES": {
        "ActionStatusEnum": "meetings.choices.ActionStatus",
        "RequirementStatusEnum": "engagement.choices.RequirementStatus",
        "RecordStatusEnum": "engagement.choices.RecordStatus",
        "DocumentStatusEnum": "engagement.choices.DocumentStatus",
        "ClassStatusEnum": "qos.choices.ClassStatus",
        "DeliveryEnum": "notifications.choices.Delivery",
    },
    # Served from this site (drf-spectacular-sidecar), never from a CDN: the portal must work offline.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
}

# --- Login with INDIGO IAM (OpenID Connect, mozilla-django-oidc): portal/iam/, README "Logging in with IAM" --
# IAM login is on when OIDC_OP_ISSUER and OIDC_RP_CLIENT_ID are set. The endpoints come from IAM's discovery
# document; an OIDC_OP_*_ENDPOINT variable overrides the discovered value.
OIDC_OP_ISSUER = env("OIDC_OP_ISSUER")
OIDC_RP_CLIENT_ID = env("OIDC_RP_CLIENT_ID")
OIDC_RP_CLIENT_SECRET = env("OIDC_RP_CLIENT_SECRET")
OIDC_RP_SCOPES = env("OIDC_RP_SCOPES", "openid profile email wlcg.groups")
OIDC_OP_AUTHORIZATION_ENDPOINT = env("OIDC_OP_AUTHORIZATION_ENDPOINT")
OIDC_OP_TOKEN_ENDPOINT = env("OIDC_OP_TOKEN_ENDPOINT")
OIDC_OP_USER_ENDPOINT = env("OIDC_OP_USER_ENDPOINT")
OIDC_OP_JWKS_ENDPOINT = env("OIDC_OP_JWKS_ENDPOINT")
OIDC_OP_LOGOUT_ENDPOINT = env("OIDC_OP_LOGOUT_ENDPOINT")
OIDC_OP_DISPLAY_NAME = env("OIDC_OP_DISPLAY_NAME", "ESCAPE IAM")
OIDC_GROUP_ROLES = env("OIDC_GROUP_ROLES")  # JSON; empty: the default mapping of portal/iam/claims.py
# The only namespace whose eduperson_entitlement URNs give roles, e.g. urn:geant:escape.eu (IAM's AARC profile).
# Empty: entitlements are ignored, as any other issuer of entitlements could name a group escape:cta.
OIDC_ENTITLEMENT_NAMESPACE = env("OIDC_ENTITLEMENT_NAMESPACE")
OIDC_DISCOVERY_CACHE_SECONDS = env_int("OIDC_DISCOVERY_CACHE_SECONDS", 3600)
OIDC_BEARER_CACHE_SECONDS = env_int("OIDC_BEARER_CACHE_SECONDS", 60)
# Audiences an API bearer token must name one of; empty: the client ID and CSRF_TRUSTED_ORIGINS (the public URL).
OIDC_API_AUDIENCES = env_list("OIDC_API_AUDIENCES")
OIDC_RENEW_ID_TOKEN_EXPIRY_SECONDS = env_int("OIDC_RENEW_ID_TOKEN_EXPIRY_SECONDS", 900)
OIDC_TIMEOUT = env_int("OIDC_TIMEOUT", 10)
OIDC_TOKEN_USE_BASIC_AUTH = env_bool("OIDC_TOKEN_USE_BASIC_AUTH", True)  # IAM's default: client_secret_basic
# IAM signs ID tokens with RS256 (the library's default, HS256, fails against it); PKCE, state and nonce on.
OIDC_RP_SIGN_ALGO = "RS256"
OIDC_USE_PKCE = True
OIDC_USE_NONCE = True
OIDC_STORE_ID_TOKEN = True  # sent back to IAM as id_token_hint at logout
OIDC_AUTHENTICATE_CLASS = "portal.iam.views.IamAuthenticateView"
OIDC_CALLBACK_CLASS = "portal.iam.views.IamCallbackView"
OIDC_OP_LOGOUT_URL_METHOD = "portal.iam.views.iam_logout_url"
OIDC_EXEMPT_URLS = ["logout", "healthz"]
LOCAL_LOGIN_ENABLED = env_bool("LOCAL_LOGIN_ENABLED", True)
AUTHENTICATION_BACKENDS = [
    # First: refuses a user name and password while that user name is locked out from that address.
    "portal.iam.lockout.LockoutBackend",
    "portal.iam.backends.LocalAccountBackend",
    "portal.iam.backends.IamBackend",
]
if OIDC_OP_ISSUER and OIDC_RP_CLIENT_ID:
    MIDDLEWARE.append("portal.iam.middleware.SessionRefresh")
    REST_FRAMEWORK["DEFAULT_AUTHENTICATION_CLASSES"].insert(
        0, "portal.iam.api.authentication.BearerTokenAuthentication"
    )

# --- Cache: per process by default; CACHE_URL=redis://... shares it between workers. -----------------------
CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
if env("CACHE_URL"):
    CACHES = {
        # Django's, keeping one Redis client per connection pool instead of a new one per operation.
        "default": {"BACKEND": "common.redis_cache.RedisCache", "LOCATION": env("CACHE_URL")}
    }
# Parts of pages and API lists kept until a table they read is written (common/table_cache.py). Only with a
# cache every web and worker process shares: on by default when CACHE_URL is set.
TABLE_CACHE = env_bool("TABLE_CACHE", bool(env("CACHE_URL")))
TABLE_CACHE_SECONDS = env_int("TABLE_CACHE_SECONDS", 600)
# Sessions are read from the cache every web process shares, when there is one (CACHE_URL), instead of a query
# on every request; written through to the database, where they survive a flush of the cache. Never from a
# per-process cache: a logout in one process would leave the session alive in the others' caches.
SESSION_ENGINE = (
    "django.contrib.sessions.backends.cached_db"
    if env("CACHE_URL")
    else "django.contrib.sessions.backends.db"
)

# --- Celery ------------------------------------------------------------------------------------------------
CELERY_BROKER_URL = env("CELERY_BROKER_URL", "redis://127.0.0.1:6379/0")
CELERY_RESULT_BACKEND = None
CELERY_TASK_ALWAYS_EAGER = env_bool("CELERY_TASK_ALWAYS_EAGER", False)
CELERY_TASK_EAGER_PROPAGATES = True
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_TIMEZONE = "UTC"
CELERY_BEAT_SCHEDULE = {
    # A lost broker message or a killed worker leaves pushes behind: re-send them (every minute; the fault
    # drills, tests/qos/test_fault_drills.py, make it shorter).
    "sweep-pushes": {
        "task": "qos.tasks.sweep_pushes",
        "schedule": float(env_int("PUSH_SWEEP_INTERVAL_SECONDS", 60)),
    },
    # Notifications delayed by a fault are tried again once their wait is over; a lost broker message loses none.
    "send-notifications": {
        "task": "notifications.tasks.send_due_notifications",
        "schedule": float(env_int("NOTIFY_SWEEP_INTERVAL_SECONDS", 60)),
    },
    # Each person's daily digest.
    "notification-digests": {
        "task": "notifications.tasks.send_digests",
        "schedule": crontab(minute=0, hour=env_int("NOTIFY_DIGEST_HOUR", 6)),
    },
    # The day before a meeting, owners of open actions on its agenda get one reminder (each once per meeting).
    "meeting-reminders": {"task": "meetings.tasks.remind_before_meetings", "schedule": crontab(minute=5)},
    # Owners of overdue actions, at most once a week per action.
    "overdue-actions": {
        "task": "meetings.tasks.tell_overdue_actions",
        "schedule": crontab(minute=15, hour=7),
    },
    # Accepted requirements that too few RSEs in sync can place: the QoS admins, at most once a week each.
    "coverage-short": {"task": "engagement.tasks.tell_coverage_short", "schedule": crontab(minute=30)},
    # Import new RSEs and check every RSE for drift.
    "sync-rucio": {
        "task": "qos.tasks.sync_all_instances",
        "schedule": float(env_int("RUCIO_SYNC_SECONDS", 900)),
    },
}

# --- Notifications (notifications/): mail through Django's mail framework, chat through a webhook -----------
# The public base address of the portal, for the links in mails and chat messages.
PORTAL_URL = env("PORTAL_URL", "http://127.0.0.1:8000")
if not PORTAL_URL.startswith(("https://", "http://")):
    raise ImproperlyConfigured(f"PORTAL_URL must be an http(s) address, not {PORTAL_URL!r}")
# Django's; EMAIL_BACKEND may name the console or file backend (scripts/run), EMAIL_FILE_PATH its folder.
EMAIL_BACKEND = env("EMAIL_BACKEND", "django.core.mail.backends.smtp.EmailBackend")
EMAIL_FILE_PATH = env("EMAIL_FILE_PATH", str(BASE_DIR / "var" / "mail"))
EMAIL_HOST = env("EMAIL_HOST", "localhost")
EMAIL_PORT = env_int("EMAIL_PORT", 25)
EMAIL_HOST_USER = env("EMAIL_HOST_USER")
EMAIL_HOST_PASSWORD = env("EMAIL_HOST_PASSWORD")  # or EMAIL_HOST_PASSWORD_FILE
EMAIL_USE_TLS = env_bool("EMAIL_USE_TLS", False)
EMAIL_USE_SSL = env_bool("EMAIL_USE_SSL", False)
DEFAULT_FROM_EMAIL = env("DEFAULT_FROM_EMAIL", "ESCAPE QoS portal <qos-portal@localhost>")
SERVER_EMAIL = DEFAULT_FROM_EMAIL
# An incoming webhook of Mattermost or Rocket.Chat for the group-wide events; empty: no chat. A secret.
CHAT_WEBHOOK_URL = env("CHAT_WEBHOOK_URL")
# How long one mail server or webhook conversation may take; the waits after transient faults (doubled each
# time up to the second); after this many tries a notification is given up (failed, shown in the admin).
NOTIFY_TIMEOUT_SECONDS = env_int("NOTIFY_TIMEOUT_SECONDS", 20)
NOTIFY_RETRY_FIRST_SECONDS = env_int("NOTIFY_RETRY_FIRST_SECONDS", 60)
NOTIFY_RETRY_MAX_SECONDS = env_int("NOTIFY_RETRY_MAX_SECONDS", 3600)
NOTIFY_MAX_ATTEMPTS = env_int("NOTIFY_MAX_ATTEMPTS", 48)

# --- Rucio --------------------------------------------------------------------------------------------------
# The Rucio instances (RUCIO_HOST, RUCIO_INSTANCES, RUCIO_ALLOW_INSECURE_HTTP, ...) are not Django settings:
# qos.rucio_config reads them from the environment together with their credentials, when it connects, so
# that credentials only ever go to the server configured beside them (system check qos.E001 at start-up).
# Where the Rucio client caches its tokens; the portal never shares the cache with other Rucio clients.
RUCIO_TOKEN_DIR = env("RUCIO_TOKEN_DIR") or None
# Rucio caches RSE attributes and expression results for up to this long after a change.
RUCIO_CACHE_MINUTES = env_int("RUCIO_CACHE_MINUTES", 15)
# Pushes left queued longer than this (or this long past their next try) are re-sent by the sweeper: a lost
# broker message loses nothing.
PUSH_SWEEP_AFTER_SECONDS = env_int("PUSH_SWEEP_AFTER_SECONDS", 120)
# A push claimed by a worker that died is given back after this long.
PUSH_CLAIM_LEASE_SECONDS = env_int("PUSH_CLAIM_LEASE_SECONDS", 300)
# After a transient fault a push waits this long before its next try, twice as long after each further fault,
# never longer than PUSH_RETRY_MAX_SECONDS (and up to a quarter more, at random). With 15 and 120, a push makes at
# most 9 tries while Rucio is unreachable for ten minutes (qos.rucio_gateway.sync.attempts_within).
PUSH_RETRY_FIRST_SECONDS = env_int("PUSH_RETRY_FIRST_SECONDS", 15)
PUSH_RETRY_MAX_SECONDS = env_int("PUSH_RETRY_MAX_SECONDS", 120)
# A catalogue file larger than this is refused by `manage.py import_catalogue` before it is parsed.
CATALOGUE_IMPORT_MAX_BYTES = env_int("CATALOGUE_IMPORT_MAX_BYTES", 20 * 1024 * 1024)

# --- QoS conformance probes (qos/rucio_gateway/probe.py, qos/conformance.py; README "Conformance") -----------
# Each probe writes a file of random bytes through Rucio into this scope (which must exist for the account),
# with this lifetime, reads it back and deletes it.
QOS_PROBE_FILE_MB = env_int("QOS_PROBE_FILE_MB", 10)
QOS_PROBE_SCOPE = env("QOS_PROBE_SCOPE", "qos_probe")
QOS_PROBE_LIFETIME_SECONDS = env_int("QOS_PROBE_LIFETIME_SECONDS", 3600)
# Beat probes every RSE once per interval, spread over it; 0 turns the periodic probes off.
QOS_PROBE_INTERVAL_SECONDS = env_int("QOS_PROBE_INTERVAL_SECONDS", 6 * 3600)
# Beat looks for RSEs due a probe this often (a sixtieth of the interval, 10 s to 10 minutes) and queues at most
# their share of the tick: probes spread over the interval instead of all starting at once.
QOS_PROBE_TICK_SECONDS = float(min(600, max(10, QOS_PROBE_INTERVAL_SECONDS // 60)))
CELERY_BEAT_SCHEDULE["probe-rses"] = {"task": "qos.tasks.probe_due_rses", "schedule": QOS_PROBE_TICK_SECONDS}
# Fold probes older than QOS_PROBE_RAW_DAYS into daily means.
CELERY_BEAT_SCHEDULE["compact-probes"] = {"task": "qos.tasks.compact_probes", "schedule": 24 * 3600.0}
# A probe running longer than this is stopped (and counts as failed); no RSE is probed twice at a time.
QOS_PROBE_TIMEOUT_SECONDS = env_int("QOS_PROBE_TIMEOUT_SECONDS", 300)
# A verdict changes only after this many consecutive probes agree on another one.
QOS_PROBE_CONFIRMATIONS = max(1, env_int("QOS_PROBE_CONFIRMATIONS", 2))
# A measured value at most this far (per cent) worse than the class's target is degraded, further violating.
QOS_PROBE_TOLERANCE = env_int("QOS_PROBE_TOLERANCE_PERCENT", 20) / 100
# An online class promises a read at once: the small file read back within this many seconds.
QOS_PROBE_ONLINE_LATENCY_SECONDS = env_int("QOS_PROBE_ONLINE_LATENCY_SECONDS", 10)
# Raw probes are kept this many days, then folded into daily means per RSE.
QOS_PROBE_RAW_DAYS = env_int("QOS_PROBE_RAW_DAYS", 30)
# The Celery queue probes run on: a worker of their own (celery -A portal worker -Q probes) keeps them from
# ever delaying pushes. Empty: the default queue.
QOS_PROBE_QUEUE = env("QOS_PROBE_QUEUE", "probes")
# Coverage of requirements counts an RSE only if it is in sync AND its probes find it delivering its class
# (conforming or degraded; engagement/coverage.py). Off: every RSE in sync counts, whatever its verdict.
QOS_COVERAGE_COUNTS_CONFORMING_ONLY = env_bool("QOS_COVERAGE_COUNTS_CONFORMING_ONLY", False)

# --- Logging: to stderr, never with secrets (the Rucio gateway keeps them out of messages). -------------
# Every line carries the request id (or the Celery task's); "json": one JSON object per line (common/logs.py).
# Catalogue decisions and pushes are logged with who and what by the logger "qos.audit" (qos/audit.py).
LOG_FORMAT = env("LOG_FORMAT", "plain")
if LOG_FORMAT not in {"plain", "json"}:
    raise ImproperlyConfigured(f"LOG_FORMAT must be plain or json, not {LOG_FORMAT!r}")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"request_id": {"()": "common.logs.RequestIdFilter"}},
    "formatters": {
        "plain": {"format": "%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s"},
        "json": {"()": "common.logs.JsonFormatter"},
    },
    "handlers": {
        "console": {"class": "logging.StreamHandler", "formatter": LOG_FORMAT, "filters": ["request_id"]}
    },
    "root": {"handlers": ["console"], "level": env("LOG_LEVEL", "INFO")},
    "loggers": {
        "django.db.backends": {"level": "WARNING"},
        # django-axes says four INFO lines per successful login; its failures and lockouts are WARNINGs.
        "axes": {"level": "WARNING"},
    },
}

# --- /metrics (Prometheus, portal/metrics.py): for this bearer token, or for logged-in QoS admins. ----------
METRICS_TOKEN = env("METRICS_TOKEN")
if METRICS_TOKEN and len(METRICS_TOKEN) < 32:
    raise ImproperlyConfigured("METRICS_TOKEN must be at least 32 characters (e.g. `openssl rand -hex 32`).")
