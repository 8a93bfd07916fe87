"""Settings for the Neixiang one-blueprint service.

Everything deployment-specific comes from environment variables (see README, "Configuration").
"""

from __future__ import annotations

import os
import secrets
import sys
from pathlib import Path

import dj_database_url

from config import localdb

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = localdb.VAR


def env_bool(name: str, default: bool) -> bool:
    return os.environ.get(name, str(default)).strip().lower() in {"1", "true", "yes", "on"}


def env_int(name: str, default: int) -> int:
    return int(os.environ.get(name, default))


def _secret_key() -> str:
    # A per-installation key kept under var/ so sessions survive restarts without config.
    if key := os.environ.get("SECRET_KEY"):
        return key
    path = VAR_DIR / "secret_key"
    if not path.exists():
        VAR_DIR.mkdir(parents=True, exist_ok=True)
        path.write_text(secrets.token_urlsafe(50))
        path.chmod(0o600)
    return path.read_text().strip()


SECRET_KEY = _secret_key()
DEBUG = env_bool("DEBUG", False)
ALLOWED_HOSTS = os.environ.get("ALLOWED_HOSTS", "127.0.0.1,localhost,testserver").split(",")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.gis",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "axes",
    "csp",
    "accounts",
    "audit",
    "layers",
    "tiles",
    "approvals_link",
    "ops",
    "blueprint",
]

MIDDLEWARE = [
    # First: request metrics and error tallies time the whole stack (ops/middleware.py).
    "ops.middleware.OpsMiddleware",
    # Before anything reads the body (CSRF reads form posts): oversized uploads get 413.
    "config.request_size.RequestBodyLimitMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "accounts.middleware.ApiTokenMiddleware",
    "accounts.middleware.SessionPolicyMiddleware",
    "tiles.ratelimit.MapRateLimitMiddleware",
    # External-system (token) access and otherwise unrecorded writes (audit/middleware.py).
    "audit.middleware.AuditMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "accounts.middleware.BlueprintCSPMiddleware",
    # Last, as django-axes requires: it turns a lockout into the response.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"

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
            ],
        },
    },
]

if os.environ.get("DATABASE_URL"):
    DATABASES = {
        "default": dj_database_url.parse(
            os.environ["DATABASE_URL"], engine="django.contrib.gis.db.backends.postgis"
        )
    }
else:
    DATABASES = {"default": localdb.django_database_settings()}
# A fresh connection pays 100-190 ms on its first ST_Transform (PROJ initialisation):
# keep connections open across requests.
DATABASES["default"]["CONN_MAX_AGE"] = env_int("DB_CONN_MAX_AGE", 600)
DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
# Several test runs can share one server (developers, CI): each may name its test database.
if test_db := os.environ.get("TEST_DATABASE_NAME"):
    DATABASES["default"]["TEST"] = {"NAME": test_db}
SILENCED_SYSTEM_CHECKS = [
    # GDAL < 3.9 cannot block file/network access from spatial references. We never hand
    # user-supplied CRS definitions to GDAL's SpatialReference: pyproj parses them.
    "gis.W001",
]
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Accounts and security (MLPS level 3 baseline; the live values are the security
# administrator's SecurityPolicy, these are the mechanisms) ----------------------------------
AUTH_USER_MODEL = "accounts.User"
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",  # refuses locked-out accounts and addresses
    "django.contrib.auth.backends.ModelBackend",  # passwords
    "accounts.backends.RolePermissionBackend",  # admin-site permissions from roles
]
PASSWORD_HASHERS = [
    "django.contrib.auth.hashers.Argon2PasswordHasher",
    "django.contrib.auth.hashers.PBKDF2PasswordHasher",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "accounts.passwords.ComplexityValidator"},
    {"NAME": "accounts.passwords.HistoryValidator"},
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
]
LOGIN_URL = "/accounts/login/"
LOGIN_REDIRECT_URL = "/"
AXES_FAILURE_LIMIT = "accounts.lockout.failure_limit"
AXES_COOLOFF_TIME = "accounts.lockout.cooloff_time"
# Lock the account and, separately, the source address (either reaching the limit locks).
AXES_LOCKOUT_PARAMETERS = ["username", "ip_address"]
AXES_LOCKOUT_CALLABLE = "accounts.lockout.lockout_response"
AXES_RESET_ON_SUCCESS = True
# Trusted reverse proxies in front of the application (deploy/nginx.conf: 1). The client
# address then comes from X-Forwarded-For (accounts/network.py), for lockout, rate limits
# and the audit trail alike.
PROXY_COUNT = env_int("PROXY_COUNT", 0)
AXES_IPWARE_PROXY_COUNT = PROXY_COUNT or None
AXES_IPWARE_META_PRECEDENCE_ORDER = (["HTTP_X_FORWARDED_FOR", "REMOTE_ADDR"] if PROXY_COUNT
                                     else ["REMOTE_ADDR"])
AXES_VERBOSE = False
# Enterprise single sign-on: the provincial unified identity service over OpenID Connect
# (accounts/oidc.py). Off unless OIDC_OP_ISSUER is set; it only ever signs in APPLICANTs.
OIDC_OP_ISSUER = os.environ.get("OIDC_OP_ISSUER", "")
OIDC_RP_CLIENT_ID = os.environ.get("OIDC_RP_CLIENT_ID", "")
OIDC_RP_CLIENT_SECRET = os.environ.get("OIDC_RP_CLIENT_SECRET", "")
OIDC_RP_SIGN_ALGO = os.environ.get("OIDC_RP_SIGN_ALGO", "RS256")
OIDC_RP_SCOPES = "openid profile"
OIDC_CLAIM_ORG_NAME = os.environ.get("OIDC_CLAIM_ORG_NAME", "org_name")
OIDC_CLAIM_CREDIT_CODE = os.environ.get("OIDC_CLAIM_CREDIT_CODE", "uscc")
OIDC_TIMEOUT = env_int("OIDC_TIMEOUT", 10)
OIDC_USE_NONCE = True
OIDC_USE_PKCE = env_bool("OIDC_USE_PKCE", True)
if OIDC_OP_ISSUER:
    AUTHENTICATION_BACKENDS.append("accounts.oidc.ApplicantOIDCBackend")
    # SSO callbacks carry no username: count their failures by address only.
    AXES_PASSWORD_LOCKOUT_PARAMETERS = AXES_LOCKOUT_PARAMETERS
    AXES_LOCKOUT_PARAMETERS = "accounts.oidc.axes_lockout_parameters"
# Idle timeout: the session expiry slides with the user's requests (SessionPolicyMiddleware
# sets it from the policy, saving the session at most every SESSION_TOUCH_SECONDS; this is
# the default before a policy exists).
SESSION_COOKIE_AGE = 30 * 60
SESSION_SAVE_EVERY_REQUEST = False
SESSION_TOUCH_SECONDS = env_int("SESSION_TOUCH_SECONDS", 60)
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
CSRF_COOKIE_HTTPONLY = True
HTTPS = env_bool("HTTPS", False)  # behind TLS: secure cookies and HSTS
SESSION_COOKIE_SECURE = CSRF_COOKIE_SECURE = HTTPS
SECURE_HSTS_SECONDS = 31_536_000 if HTTPS else 0
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https") if HTTPS else None
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        "style-src": ["'self'"],
        "img-src": ["'self'", "data:", "blob:"],
        "font-src": ["'self'"],
        "connect-src": ["'self'"],
        "object-src": ["'none'"],
        "base-uri": ["'self'"],
        "form-action": ["'self'"],
        "frame-ancestors": ["'self'"],
    },
}

LANGUAGE_CODE = "zh-hans"
LANGUAGES = [("zh-hans", "简体中文"), ("en", "English")]
LOCALE_PATHS = [BASE_DIR / "locale"]
TIME_ZONE = "Asia/Shanghai"
USE_I18N = True
USE_TZ = True

STATIC_URL = "/static/"
STATIC_ROOT = VAR_DIR / "staticfiles"
STATICFILES_DIRS = [BASE_DIR / "static"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"},
}
MEDIA_ROOT = VAR_DIR / "media"

REST_FRAMEWORK = {
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    # No HTTP Basic: passwords go through the sign-in page and its lockout only.
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "accounts.drf.ApiTokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.AllowAny"],
    "EXCEPTION_HANDLER": "config.api_errors.exception_handler",
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer",
                                 "rest_framework.renderers.BrowsableAPIRenderer"],
}
SPECTACULAR_SETTINGS = {
    "TITLE": "内乡县一张蓝图 API (Neixiang one-blueprint service)",
    "DESCRIPTION": "Planning layers, features and imports of the Neixiang one-blueprint service.",
    "VERSION": "0.1.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
}

# --- Spatial domain -----------------------------------------------------------------------
# Storage CRS is CGCS2000 geographic; areas and distances in the county projected CRS.
STORAGE_SRID = 4490
COUNTY_PROJECTED_SRID = env_int("COUNTY_PROJECTED_SRID", 4546)
# Neixiang County extent (lon/lat, CGCS2000) and how far outside it data may still lie.
COUNTY_BBOX = (111.5, 32.9, 112.1, 33.6)
COUNTY_MARGIN_DEG = float(os.environ.get("COUNTY_MARGIN_DEG", "0.25"))
COUNTY_DIVISION_CODE = "411325"
# OGC API Features (layers/ogcapi/): page size when `limit` is absent, and its maximum.
OGCAPI_LIMIT_DEFAULT = env_int("OGCAPI_LIMIT_DEFAULT", 10)
OGCAPI_LIMIT_MAX = env_int("OGCAPI_LIMIT_MAX", 10_000)

# --- Approval records, documents and conformity (approvals_link/) ------------------------
# Overlaps smaller than this (m², county projected CRS) are slivers of digitising, not
# conflicts; no official value exists, so it is a setting and every result reports it.
CONFORMITY_SLIVER_TOLERANCE_M2 = float(os.environ.get("CONFORMITY_SLIVER_TOLERANCE_M2", "1.0"))
# Re-check projects when a plan version is published ("sync" in the publishing request,
# "off" to leave it to `manage.py recheck_projects`).
CONFORMITY_RECHECK_ON_PUBLISH = os.environ.get("CONFORMITY_RECHECK_ON_PUBLISH", "sync")
# Electronic documents: stored by SHA-256 under this folder; uploads above the limit refused.
DOCUMENTS_ROOT = Path(os.environ.get("DOCUMENTS_ROOT", str(VAR_DIR / "documents")))
DOCUMENT_MAX_BYTES = env_int("DOCUMENT_MAX_BYTES", 50 * 1024 * 1024)
# Conformity report maps, rendered once per stored check (a stored check never changes).
REPORTS_DIR = Path(os.environ.get("REPORTS_DIR", str(VAR_DIR / "reports")))
# Approval-record intake: most records one request may carry.
INTAKE_MAX_RECORDS = env_int("INTAKE_MAX_RECORDS", 1000)

# --- Map services (the tile cache folder TILE_CACHE_DIR is set with the ops settings) -----
# Cached tiles of public layers are served before Django (tiles/fast_path.py), as nginx
# does in the production arrangement.
TILE_FAST_PATH = env_bool("TILE_FAST_PATH", True)
MAPPROXY_DIR = VAR_DIR / "mapproxy"  # generated MapProxy configurations and Mapnik maps
TILE_META_SIZE = (1, 1)  # tiles rendered one by one: the same work as a WMS GetMap
TILE_CACHE_STORE = env_bool("TILE_CACHE_STORE", True)  # false: render every request (bench)
WMS_MAX_SIZE = (env_int("WMS_MAX_WIDTH", 4096), env_int("WMS_MAX_HEIGHT", 4096))
MAPNIK_DB_POOL = env_int("MAPNIK_DB_POOL", 8)
# Map-service requests per client address and minute, in each worker (0: no limit).
MAP_RATE_LIMIT_PER_MINUTE = env_int("MAP_RATE_LIMIT_PER_MINUTE", 6000)
# The address clients use (behind a proxy); empty: taken from each request.
PUBLIC_BASE_URL = os.environ.get("PUBLIC_BASE_URL", "")
# Vector tiles /tiles/{layer}/{z}/{x}/{y}.mvt (tiles/mvt.py): Cache-Control of public layers
# (internal/confidential ones get the same with "private"); the on-disk cache of rendered
# tiles under TILE_CACHE_DIR/mvt (MVT_CACHE=off renders every request); zoom from which
# tiles carry every identify attribute; zooms up to which geometry is simplified, by what
# fraction of a screen pixel.
TILE_CACHE_CONTROL = os.environ.get("TILE_CACHE_CONTROL", "public, max-age=60, must-revalidate")
MVT_CACHE_ENABLED = env_bool("MVT_CACHE", True)
MVT_DETAIL_MIN_ZOOM = env_int("MVT_DETAIL_MIN_ZOOM", 14)
MVT_SIMPLIFY_MAX_ZOOM = env_int("MVT_SIMPLIFY_MAX_ZOOM", 15)
MVT_SIMPLIFY_PX = float(os.environ.get("MVT_SIMPLIFY_PX", "0.25"))

# --- Imports ------------------------------------------------------------------------------
IMPORT_MAX_UPLOAD_BYTES = env_int("IMPORT_MAX_UPLOAD_BYTES", 200 * 1024 * 1024)
IMPORT_MAX_UNCOMPRESSED_BYTES = env_int("IMPORT_MAX_UNCOMPRESSED_BYTES", 1024 * 1024 * 1024)
IMPORT_MAX_ZIP_RATIO = env_int("IMPORT_MAX_ZIP_RATIO", 200)
IMPORT_MAX_ZIP_MEMBERS = env_int("IMPORT_MAX_ZIP_MEMBERS", 1000)
# Large imports run on several processes (forked from a single-threaded importer such as
# the import_layer command; a threaded web worker imports in one): how many at most, and
# from how many features on.
IMPORT_WORKERS = env_int("IMPORT_WORKERS", os.cpu_count() or 1)
IMPORT_PARALLEL_MIN_FEATURES = env_int("IMPORT_PARALLEL_MIN_FEATURES", 20_000)
# Features validated and copied at a time: bounds memory, and PostgreSQL parses one chunk
# while the next one is validated.
IMPORT_CHUNK = env_int("IMPORT_CHUNK", 10_000)
# Any request body larger than this is refused (413) before it is read; by default the
# largest upload limit plus 1 MiB of form fields (config/request_size.py).
REQUEST_BODY_MAX_BYTES = env_int("REQUEST_BODY_MAX_BYTES", 0) or None
# Slivers: thin or tiny polygons that usually come from digitising errors (m², ratio).
SLIVER_MIN_AREA_M2 = float(os.environ.get("SLIVER_MIN_AREA_M2", "1.0"))
SLIVER_MAX_THINNESS = float(os.environ.get("SLIVER_MAX_THINNESS", "0.02"))
SPIKE_MAX_ANGLE_DEG = float(os.environ.get("SPIKE_MAX_ANGLE_DEG", "1.0"))
DATA_UPLOAD_MAX_MEMORY_SIZE = 10 * 1024 * 1024
FILE_UPLOAD_MAX_MEMORY_SIZE = 10 * 1024 * 1024
FILE_UPLOAD_TEMP_DIR = None

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    # ops_errors stores ERROR records for the ops page (ops/errors.py); declared here so
    # that any re-configuration of logging (django.setup run again) keeps it.
    "handlers": {"console": {"class": "logging.StreamHandler"},
                 "ops_errors": {"class": "ops.errors.ErrorEventHandler"}},
    "root": {"handlers": ["console", "ops_errors"],
             "level": os.environ.get("LOG_LEVEL", "INFO")},
    "loggers": {"django.db.backends": {"level": "WARNING"},
                # MapProxy logs every source request and config file read at INFO.
                "mapproxy": {"level": "WARNING"}, "api": {"level": "WARNING"},
                # WeasyPrint and fontTools narrate every PDF (report, print) at INFO.
                "weasyprint": {"level": "WARNING"}, "fontTools": {"level": "WARNING"}},
}

# --- Audit trail (audit/: chain.py, archive.py) ---------------------------------------------
# Records are kept at least this long (Cybersecurity Law art. 21: 6 months; a system check
# refuses less). The application never deletes audit records; see archive_audit.
AUDIT_RETENTION_DAYS = env_int("AUDIT_RETENTION_DAYS", 180)
# Anchors of the hash chain outside the database (catch deleted newest records), written
# every AUDIT_ANCHOR_EVERY records and by every successful verify_audit.
AUDIT_ANCHOR_FILE = Path(os.environ.get("AUDIT_ANCHOR_FILE", VAR_DIR / "audit" / "anchors.log"))
AUDIT_ANCHOR_EVERY = env_int("AUDIT_ANCHOR_EVERY", 1000)

# --- Operations: readiness, metrics, alerts (ops/; README "Monitoring") --------------------
_TESTING = "pytest" in sys.modules or sys.argv[1:2] == ["test"]
TILE_CACHE_DIR = Path(os.environ.get("TILE_CACHE_DIR", VAR_DIR / "tiles"))
# prometheus_client multi-process mode: every gunicorn worker writes its samples to files in
# this folder and /metrics merges them. Set before prometheus_client is first imported. A test
# run gets its own folder (per test database), never a running server's.
PROMETHEUS_MULTIPROC_DIR = Path(os.environ.setdefault("PROMETHEUS_MULTIPROC_DIR", str(
    VAR_DIR / "prometheus" / (f"test-{os.environ.get('TEST_DATABASE_NAME', 'default')}"
                              if _TESTING else "live"))))
# Who may scrape /metrics: addresses or networks, comma-separated.
METRICS_ALLOWED_IPS = os.environ.get("METRICS_ALLOWED_IPS", "127.0.0.1,::1").split(",")
# Each web process runs a background thread (started by its first request; off in tests): it
# adds the process's request counts to the database and, unless ALERT_SCHEDULER_ENABLED is
# off (then run `manage.py evaluate_alerts --loop 60`), evaluates the alert rules, one worker
# at a time.
OPS_BACKGROUND_ENABLED = env_bool("OPS_BACKGROUND_ENABLED", not _TESTING)
ALERT_SCHEDULER_ENABLED = env_bool("ALERT_SCHEDULER_ENABLED", True)
ALERT_INTERVAL_SECONDS = env_int("ALERT_INTERVAL_SECONDS", 60)
ALERT_EMAILS = [a.strip() for a in os.environ.get("ALERT_EMAILS", "").split(",") if a.strip()]
ALERT_EMAIL_FROM = os.environ.get("ALERT_EMAIL_FROM", "neixiang-blueprint@localhost")
ALERT_WEBHOOK_URL = os.environ.get("ALERT_WEBHOOK_URL", "")
ALERT_WEBHOOK_SECRET = os.environ.get("ALERT_WEBHOOK_SECRET", "")
ALERT_WEBHOOK_TIMEOUT_SECONDS = float(os.environ.get("ALERT_WEBHOOK_TIMEOUT_SECONDS", "5"))
ALERT_WEBHOOK_RETRIES = env_int("ALERT_WEBHOOK_RETRIES", 1)
ALERT_DB_TIMEOUT_SECONDS = env_int("ALERT_DB_TIMEOUT_SECONDS", 3)
ALERT_ERROR_WINDOW_MINUTES = env_int("ALERT_ERROR_WINDOW_MINUTES", 5)
ALERT_ERROR_RATE = float(os.environ.get("ALERT_ERROR_RATE", "0.10"))
ALERT_ERROR_MIN_REQUESTS = env_int("ALERT_ERROR_MIN_REQUESTS", 20)
ALERT_BRUTE_FORCE_WINDOW_MINUTES = env_int("ALERT_BRUTE_FORCE_WINDOW_MINUTES", 10)
ALERT_BRUTE_FORCE_FAILURES = env_int("ALERT_BRUTE_FORCE_FAILURES", 10)
ALERT_AUDIT_CHAIN_INTERVAL_SECONDS = env_int("ALERT_AUDIT_CHAIN_INTERVAL_SECONDS", 600)
OPS_ERROR_RETENTION_DAYS = env_int("OPS_ERROR_RETENTION_DAYS", 30)
OPS_ERROR_EVENTS_PER_MINUTE = env_int("OPS_ERROR_EVENTS_PER_MINUTE", 120)  # per process
# Outgoing mail (alert notifications): Django's SMTP backend.
EMAIL_HOST = os.environ.get("EMAIL_HOST", "localhost")
EMAIL_PORT = env_int("EMAIL_PORT", 25)
EMAIL_HOST_USER = os.environ.get("EMAIL_HOST_USER", "")
EMAIL_HOST_PASSWORD = os.environ.get("EMAIL_HOST_PASSWORD", "")
EMAIL_USE_TLS = env_bool("EMAIL_USE_TLS", False)
EMAIL_TIMEOUT = env_int("EMAIL_TIMEOUT", 10)
DEFAULT_FROM_EMAIL = os.environ.get("DEFAULT_FROM_EMAIL", ALERT_EMAIL_FROM)
