"""Settings for the IGO platform: one module, driven by environment variables.

Embedded defaults (no environment at all) give a working development installation: SQLite and
Celery tasks executed in-process. Production sets DATABASE_URL, REDIS_URL, SECRET_KEY, DEBUG=0
and ALLOWED_HOSTS; with DEBUG off the defaults are the safe ones (`manage.py check --deploy`).
"""

import os
import sys
from datetime import timedelta
from pathlib import Path

import dj_database_url
from celery.schedules import crontab
from django.core.exceptions import ImproperlyConfigured
from django.utils.translation import gettext_lazy as _

BASE_DIR = Path(__file__).resolve().parent.parent


def env_bool(name: str, default: bool) -> bool:
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def env_list(name: str, default: str = "") -> list[str]:
    return [item.strip() for item in os.environ.get(name, default).split(",") if item.strip()]


DEBUG = env_bool("DEBUG", False)
# Tests and the demo run with DEBUG off or on; only a development machine may use the built-in key.
_DEV_KEY = "django-insecure-development-key-only-for-local-use-never-in-production-0123456789"
SECRET_KEY = os.environ.get("SECRET_KEY", "")
if not SECRET_KEY:
    if DEBUG or env_bool("IGO_ALLOW_DEV_SECRET", False) or "pytest" in sys.modules:
        SECRET_KEY = _DEV_KEY
    else:
        raise ImproperlyConfigured(
            "SECRET_KEY must be set when DEBUG is off (or set IGO_ALLOW_DEV_SECRET=1)."
        )

ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", "localhost,127.0.0.1,[::1]" if DEBUG else "")
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",  # Swagger UI from our own static files, not a CDN (content security policy)
    "django_htmx",
    "allauth",
    "allauth.account",
    "allauth.mfa",
    "igo",
    "providers",
    "pregnancies",
    "billing",
    "quality",
    "neutrality",
    "whatif",
    "fhir_io",
    "demo",  # the demo installation (manage.py seed_demo); no models
]

# Larger request bodies are refused (413) before they are read (igo.security.RequestSizeLimitMiddleware).
MAX_REQUEST_BYTES = int(os.environ.get("MAX_REQUEST_BYTES", str(10 * 1024 * 1024)))
# The FHIR import: a transaction Bundle is at most FHIR_IMPORT_MAX_BYTES (also as a job); a month of a large
# practice (~30 MB) goes as NDJSON to fhir/ndjson/, up to FHIR_IMPORT_JOB_MAX_BYTES (docs/fhir.md). Both paths
# pass the middleware up to that size so that their views answer a FHIR OperationOutcome (413); each view
# refuses by the declared length and never reads past its own limit (a Bundle's 10 MB, NDJSON's 64 MB).
FHIR_IMPORT_MAX_BYTES = int(os.environ.get("FHIR_IMPORT_MAX_BYTES", str(10 * 1024 * 1024)))
FHIR_IMPORT_JOB_MAX_BYTES = int(os.environ.get("FHIR_IMPORT_JOB_MAX_BYTES", str(64 * 1024 * 1024)))
# Probing by BSN (fhir_io.probing): a member key that sends more than FHIR_IMPORT_MISS_LIMIT distinct BSNs
# unknown to the IGO within FHIR_IMPORT_MISS_WINDOW_HOURS is blocked (403) until an IGO administrator resets it.
FHIR_IMPORT_MISS_LIMIT = int(os.environ.get("FHIR_IMPORT_MISS_LIMIT", "20"))
FHIR_IMPORT_MISS_WINDOW_HOURS = int(os.environ.get("FHIR_IMPORT_MISS_WINDOW_HOURS", "24"))
LARGE_REQUEST_PATHS = [(r"^/api/t/[\w-]+/fhir/(ndjson/)?$", FHIR_IMPORT_JOB_MAX_BYTES)]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "igo.security.SecurityHeadersMiddleware",
    "igo.security.RequestSizeLimitMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "igo.middleware.SessionIdleMiddleware",
    "igo.middleware.LanguageMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "allauth.account.middleware.AccountMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "igo.middleware.MFARequiredMiddleware",
    "igo.middleware.TenantMiddleware",
]

ROOT_URLCONF = "igo.urls"
WSGI_APPLICATION = "igo.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.template.context_processors.i18n",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "igo.context_processors.navigation",
            ],
        },
    },
]

# --- Database -------------------------------------------------------------------------------
DATABASES = {
    "default": dj_database_url.config(
        default=f"sqlite:///{BASE_DIR / 'db.sqlite3'}",
        conn_max_age=int(os.environ.get("DB_CONN_MAX_AGE", "60")),
        conn_health_checks=True,
    )
}
SILENCED_SYSTEM_CHECKS: list[str] = []
if DATABASES["default"]["ENGINE"].endswith("sqlite3"):
    DATABASES["default"]["TEST"] = {}
    # The demo on SQLite lacks one "nulls not distinct" constraint (IndicatorValue); PostgreSQL has it and
    # the recompute replaces a month's values under a lock anyway.
    SILENCED_SYSTEM_CHECKS.append("models.W047")
else:
    # A fixed test database name, so an external Celery worker can be pointed at the same database
    # that pytest-django creates (scripts/worker.sh).
    DATABASES["default"]["TEST"] = {"NAME": os.environ.get("DJANGO_TEST_DB_NAME", "test_igo")}
    if os.environ.get("DB_APPLICATION_NAME"):
        # Names the process in pg_stat_activity (e.g. `worker-1`): an operator, or the fault-injection
        # tests, can find and end the backend of one worker.
        DATABASES["default"].setdefault("OPTIONS", {})["application_name"] = os.environ["DB_APPLICATION_NAME"]
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
AUTH_USER_MODEL = "igo.User"

# --- Redis: cache, Celery broker ------------------------------------------------------------
REDIS_URL = os.environ.get("REDIS_URL", "")
if REDIS_URL:
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": os.environ.get("CACHE_KEY_PREFIX", "igo"),
        }
    }
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

CELERY_BROKER_URL = os.environ.get("CELERY_BROKER_URL", REDIS_URL)
CELERY_RESULT_BACKEND = os.environ.get("CELERY_RESULT_BACKEND", CELERY_BROKER_URL)
CELERY_TASK_ALWAYS_EAGER = False
if not CELERY_BROKER_URL:
    # Embedded default: no Redis, tasks run in the web process when they are enqueued.
    CELERY_BROKER_URL, CELERY_RESULT_BACKEND = "memory://", "cache+memory://"
    CELERY_TASK_ALWAYS_EAGER = True
    CELERY_TASK_EAGER_PROPAGATES = True
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_TASK_SERIALIZER = "json"
CELERY_RESULT_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
# With acks_late, Redis hands a message that was delivered but not acknowledged to a worker again after
# the visibility timeout. It must exceed the longest task time limit (billing_run: 3600 s), or a task that
# is still running is started a second time. The price: when a whole worker dies (SIGKILL, lost host), its
# unacknowledged messages come back only after this time; the billing sweep (every 15 minutes) and
# idempotent tasks make that a delay, not a loss (docs/operations.md, "When a job dies").
CELERY_BROKER_TRANSPORT_OPTIONS = {
    "visibility_timeout": int(os.environ.get("CELERY_VISIBILITY_TIMEOUT", "7200"))
}
CELERY_TASK_TIME_LIMIT = int(os.environ.get("CELERY_TASK_TIME_LIMIT", "600"))
CELERY_TASK_SOFT_TIME_LIMIT = int(os.environ.get("CELERY_TASK_SOFT_TIME_LIMIT", "540"))
CELERY_RESULT_EXPIRES = timedelta(days=1)
CELERY_TIMEZONE = "Europe/Amsterdam"
CELERY_BEAT_SCHEDULE = {
    "clear-expired-sessions": {"task": "igo.tasks.sessions_clear", "schedule": timedelta(hours=6)},
    "billing-sweep": {"task": "billing.tasks.billing_sweep", "schedule": timedelta(minutes=15)},
    # Quality indicators: the months touched by changed data every 5 minutes, all of the last two years
    # nightly. No daily job is set between 02:00 and 03:00: in Amsterdam that hour is skipped on the last
    # Sunday of March and happens twice on the last Sunday of October.
    "quality-sweep": {"task": "quality.tasks.quality_sweep", "schedule": timedelta(minutes=5)},
    # FHIR import jobs whose worker message was lost are sent again (fhir_io.jobs.import_jobs_sweep).
    "fhir-import-sweep": {"task": "fhir_io.tasks.fhir_import_sweep_all", "schedule": timedelta(minutes=10)},
    "quality-nightly": {"task": "quality.tasks.quality_nightly", "schedule": crontab(minute=30, hour=3)},
    # Last year's quality agreements give their bonus or malus lines on 15 January (after late records).
    "quality-settle": {
        "task": "billing.tasks.quality_settle_yearly",
        "schedule": crontab(minute=0, hour=5, day_of_month=15, month_of_year=1),
    },
    # The month's claim batches, for finance to review, on the 1st (after the night's billing sweeps).
    "monthly-batches": {
        "task": "billing.tasks.batches_monthly",
        "schedule": crontab(minute=0, hour=6, day_of_month=1),
    },
}

# Issue 18: a billing run (the sweep's, a finance person's) is spread over chunk tasks that every worker
# process on every host takes (docs/performance.md, "Scale-out"); off, one task bills the whole IGO.
BILLING_SCALE_OUT = env_bool("IGO_BILLING_SCALE_OUT", True)

# Whether `celery -A igo beat` runs the schedule above (docker-compose starts it). Pages promise the periodic
# refreshes only then: the embedded demo (in-process tasks, no beat) says when figures were computed and
# offers to recompute them instead.
PERIODIC_JOBS = env_bool("PERIODIC_JOBS", not CELERY_TASK_ALWAYS_EAGER)

# --- Authentication (django-allauth) ---------------------------------------------------------
AUTHENTICATION_BACKENDS = [
    "django.contrib.auth.backends.ModelBackend",
    "allauth.account.auth_backends.AuthenticationBackend",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    # Our own subclass: its message is translated (Django 5.2's Dutch catalogue lags behind its wording).
    {"NAME": "igo.validators.MinimumLengthValidator", "OPTIONS": {"min_length": 10}},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
ACCOUNT_ADAPTER = "igo.adapters.AccountAdapter"
ACCOUNT_USER_MODEL_USERNAME_FIELD = None
ACCOUNT_LOGIN_METHODS = {"email"}
ACCOUNT_SIGNUP_FIELDS = ["email*", "password1*", "password2*"]
ACCOUNT_EMAIL_VERIFICATION = "none"  # accounts only come from invitations to a known address
ACCOUNT_LOGOUT_ON_PASSWORD_CHANGE = False
ACCOUNT_LOGIN_ON_PASSWORD_RESET = False
ACCOUNT_SESSION_REMEMBER = False
ACCOUNT_PRESERVE_USERNAME_CASING = False
ACCOUNT_RATE_LIMITS = {
    # Used by allauth's second-factor stage: five wrong codes per account per 15 minutes, 20 per IP a minute.
    # The password stage counts per IP only (LOGIN_FAILED_PER_ADDRESS) and locks accounts in igo/lockout.py.
    "login_failed": "20/m/ip,5/15m/key",
    "login": "30/m/ip",
    "reset_password": "10/m/ip,3/m/key",
}
# Failed passwords: refused outright per network address; an account is locked after
# LOGIN_LOCKOUT_ATTEMPTS within LOGIN_LOCKOUT_SECONDS, but its owner passes with her second factor or an
# unlock link by mail (igo/lockout.py). All counted in the default cache, which must be shared (igo.E004).
LOGIN_FAILED_PER_ADDRESS = os.environ.get("LOGIN_FAILED_PER_ADDRESS", "20/m/ip")
LOGIN_LOCKOUT_ATTEMPTS = int(os.environ.get("LOGIN_LOCKOUT_ATTEMPTS", "5"))
LOGIN_LOCKOUT_SECONDS = int(os.environ.get("LOGIN_LOCKOUT_SECONDS", str(15 * 60)))
# Every user with a role has a second factor (igo.rules.needs_mfa): an authenticator app, or a passkey or
# security key (WebAuthn), with recovery codes for a lost one. WebAuthn checks the page's origin against the
# site's host; http://localhost (development, the browser tests) is accepted as a secure origin by the
# browser and by fido2, so no insecure-origin switch is needed. Passkey-only sign-in (no password) is off:
# one sign-in path, password then second factor.
MFA_SUPPORTED_TYPES = ["totp", "webauthn", "recovery_codes"]
MFA_PASSKEY_LOGIN_ENABLED = False
# No sign-in that skips the second factor: no "trust this browser", no sign-in by a mailed code. A session
# counts as signed in only when it used the factor (igo.mfa_session, tests/igo/test_mfa_matrix.py).
MFA_TRUST_ENABLED = False
ACCOUNT_LOGIN_BY_CODE_ENABLED = False
MFA_TOTP_ISSUER = os.environ.get("MFA_TOTP_ISSUER", "IGO platform")
LOGIN_URL = "account_login"
LOGIN_REDIRECT_URL = "home"
ACCOUNT_LOGOUT_REDIRECT_URL = "account_login"
INVITATION_VALID_DAYS = int(os.environ.get("INVITATION_VALID_DAYS", "7"))

# Messages live in the session, not in a cookie: they may name a client ("Anna Jansen was registered").
MESSAGE_STORAGE = "django.contrib.messages.storage.session.SessionStorage"

# Sessions end after an hour without activity, and always when the browser closes.
SESSION_COOKIE_AGE = int(os.environ.get("SESSION_COOKIE_AGE", str(60 * 60)))
# The idle timeout: igo.middleware.SessionIdleMiddleware saves a used session at most once a minute (not on
# every request), which moves its expiry SESSION_COOKIE_AGE ahead.
SESSION_SAVE_EVERY_REQUEST = False
SESSION_EXPIRE_AT_BROWSER_CLOSE = True

# --- Internationalisation --------------------------------------------------------------------
LANGUAGE_CODE = "nl"
LANGUAGES = [("nl", _("Dutch")), ("en", _("English"))]
LOCALE_PATHS = [BASE_DIR / "locale"]
TIME_ZONE = "Europe/Amsterdam"
USE_I18N = True
USE_TZ = True

# --- Static files ----------------------------------------------------------------------------
STATIC_URL = "static/"
STATIC_ROOT = Path(os.environ.get("STATIC_ROOT", BASE_DIR / "staticfiles"))
STATICFILES_DIRS = [BASE_DIR / "static"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"
        if DEBUG or env_bool("IGO_PLAIN_STATIC", False)
        else "whitenoise.storage.CompressedManifestStaticFilesStorage"
    },
}
MEDIA_ROOT = Path(os.environ.get("MEDIA_ROOT", BASE_DIR / "media"))

# --- E-mail ----------------------------------------------------------------------------------
EMAIL_BACKEND = os.environ.get(
    "EMAIL_BACKEND",
    "django.core.mail.backends.console.EmailBackend"
    if DEBUG
    else "django.core.mail.backends.smtp.EmailBackend",
)
EMAIL_FILE_PATH = os.environ.get("EMAIL_FILE_PATH", str(BASE_DIR / "tmp" / "mail"))
EMAIL_HOST = os.environ.get("EMAIL_HOST", "localhost")
EMAIL_PORT = int(os.environ.get("EMAIL_PORT", "25"))
DEFAULT_FROM_EMAIL = os.environ.get("DEFAULT_FROM_EMAIL", "IGO platform <noreply@localhost>")

# --- REST API --------------------------------------------------------------------------------
# Credentials: a user's personal key (igo.api.auth, made by herself, expires) or the browser session; DRF's
# TokenAuthentication is gone (operators could mint tokens for anyone in the admin, and they never expired).
# Every credential counts only with a second factor (igo.api.permissions.HasSecondFactor). The browsable
# API renders only with DEBUG on: in production the API speaks JSON.
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "igo.api.auth.PersonalTokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    # A body nested too deeply is a 400, not a RecursionError's 500.
    "DEFAULT_PARSER_CLASSES": [
        "igo.api.parsers.JSONParser",
        "rest_framework.parsers.FormParser",
        "rest_framework.parsers.MultiPartParser",
    ],
    "DEFAULT_PERMISSION_CLASSES": [
        "rest_framework.permissions.IsAuthenticated",
        "igo.api.permissions.HasSecondFactor",
    ],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"]
    + (["rest_framework.renderers.BrowsableAPIRenderer"] if DEBUG else []),
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    # A service's django ValidationError answers 400 like a serializer's (no try/except per view).
    "EXCEPTION_HANDLER": "igo.api.errors.exception_handler",
    "DEFAULT_PAGINATION_CLASS": "rest_framework.pagination.PageNumberPagination",
    "PAGE_SIZE": 50,
    "DEFAULT_THROTTLE_CLASSES": ["rest_framework.throttling.UserRateThrottle"],
    "DEFAULT_THROTTLE_RATES": {
        "user": os.environ.get("API_USER_RATE", "600/min"),
        # The insurer API, per key (igo.api.auth.InsurerRateThrottle).
        "insurer": os.environ.get("API_INSURER_RATE", "120/min"),
        # The FHIR import's POSTs, per member key (fhir_io.auth.MemberKeyRateThrottle).
        "fhir_member": os.environ.get("API_FHIR_MEMBER_RATE", "60/min"),
    },
}
SPECTACULAR_SETTINGS = {
    "TITLE": "IGO platform API",
    "DESCRIPTION": "Care logging, integral-tariff claims and insurer batches for integrated birth care.",
    "VERSION": "1",
    "SERVE_INCLUDE_SCHEMA": False,
    # The schema and its documentation page: for a signed-in user with a second factor or an insurer key.
    "SERVE_AUTHENTICATION": [
        "igo.api.auth.PersonalTokenAuthentication",
        "igo.api.auth.InsurerTokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "SERVE_PERMISSIONS": [
        "rest_framework.permissions.IsAuthenticated",
        "igo.api.permissions.HasSecondFactor",
    ],
    "COMPONENT_SPLIT_REQUEST": True,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "ENUM_NAME_OVERRIDES": {
        "PhaseEnum": "pregnancies.models.Phase",
        "EndReasonEnum": "pregnancies.models.EndReason",
        # Both have a field `status` with other choices; without names the schema gets hashed names.
        "LineStatusEnum": "billing.models.LineStatus",
        "ReturnStatusEnum": "billing.models.ReturnStatus",
        "LinePhaseEnum": "billing.models.LINE_PHASES",
    },
}

# --- Security --------------------------------------------------------------------------------
# docs/operations.md, "Security headers and cookies", explains these choices.
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
# Content security policy and the other headers Django lacks: igo.security.SecurityHeadersMiddleware.
CSP_REPORT_ONLY = env_bool("CSP_REPORT_ONLY", False)
CSP_REPORT_URI = os.environ.get("CSP_REPORT_URI", "")
SESSION_COOKIE_HTTPONLY = True
# No script reads the CSRF cookie: htmx sends the token from the page (hx-headers in base.html), the API
# documentation page from its own script.
CSRF_COOKIE_HTTPONLY = True
# Lax, not Strict: a signed-in user who follows a link from e-mail or another site must arrive signed in;
# every change is a POST, which Lax never sends cross-site.
SESSION_COOKIE_SAMESITE = "Lax"
CSRF_COOKIE_SAMESITE = "Lax"
LANGUAGE_COOKIE_SAMESITE = "Lax"
LANGUAGE_COOKIE_HTTPONLY = True
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https") if env_bool("BEHIND_TLS_PROXY", False) else None
_HTTPS = env_bool("HTTPS", not DEBUG)
SESSION_COOKIE_SECURE = _HTTPS
CSRF_COOKIE_SECURE = _HTTPS
LANGUAGE_COOKIE_SECURE = _HTTPS
if _HTTPS:
    # The __Host- prefix makes the browser refuse these cookies unless they are Secure, for this host only
    # (no Domain) and for the whole site, so a sibling subdomain cannot plant or overwrite them.
    SESSION_COOKIE_NAME = "__Host-sessionid"
    CSRF_COOKIE_NAME = "__Host-csrftoken"
SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", _HTTPS)
SECURE_HSTS_SECONDS = int(os.environ.get("SECURE_HSTS_SECONDS", str(31536000 if _HTTPS else 0)))
SECURE_HSTS_INCLUDE_SUBDOMAINS = _HTTPS
SECURE_HSTS_PRELOAD = _HTTPS

# --- Logging: never log request bodies (BSNs travel in them) --------------------------------
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "filters": {"no_traceback_below_500": {"()": "igo.log_filters.NoTracebackBelow500"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": os.environ.get("LOG_LEVEL", "INFO")},
    "loggers": {
        # A refused request (403, 400, 404) is one line, not a traceback.
        "django.request": {"filters": ["no_traceback_below_500"]},
        "django.security": {"filters": ["no_traceback_below_500"]},
        "django.db.backends": {"level": "WARNING"},
        "fontTools": {"level": "WARNING"},  # WeasyPrint font subsetting logs every table at INFO
        "weasyprint": {"level": "WARNING"},
    },
}
SITE_URL = os.environ.get("SITE_URL", "http://127.0.0.1:8000")
