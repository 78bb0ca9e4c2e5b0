"""Django settings, read from the environment so `make run` needs no configuration.

Environment variables:
  TRUNKLINE_DB            path of the SQLite file (default ./var/trunkline.sqlite3)
  DATABASE_URL            postgres://… to use PostgreSQL instead of SQLite
  SECRET_KEY              signing key; generated and kept in ./var/secret_key when unset
  TRUNKLINE_ENCRYPTION_KEY  base64 32-byte key for secrets at rest (else derived from SECRET_KEY)
  TRUNKLINE_BASE_DOMAIN   partner portals live at <slug>.<base domain>
  TRUNKLINE_PUBLIC_URL    the portal's public address, used in links in emails
  TRUNKLINE_SIP_REGISTRAR the host customers' PBXs register their SIP trunks with
                          (default sip.<base domain>)
  TRUNKLINE_VAR_DIR       where runtime files live (default ./var)
  EMAIL_BACKEND / EMAIL_HOST / EMAIL_PORT / EMAIL_HOST_USER / EMAIL_HOST_PASSWORD /
  EMAIL_USE_TLS / DEFAULT_FROM_EMAIL   outgoing mail (file backend under ./var/mail by default)
  REDIS_URL               shared storage for rate-limit counters across processes
  TRUNKLINE_PAYMENT_PROCESSOR  "simulated" (default) or "stripe" (with STRIPE_SECRET_KEY)
  TRUNKLINE_CARRIER       dotted path of the number carrier adapter (default: simulated)
  TRUNKLINE_SIP_DOMAIN    tenants' SIP domains are <sip prefix>.<this> (default sip.trunkline.test)
  TRUNKLINE_DEBUG=1       Django debug mode
"""

import os
import secrets
from pathlib import Path

import dj_database_url

BASE_DIR = Path(__file__).resolve().parent
VAR_DIR = Path(os.environ.get("TRUNKLINE_VAR_DIR", Path.cwd() / "var")).resolve()


def _env_bool(name: str, default: bool = False) -> bool:
    value = os.environ.get(name)
    if value is None:
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def _persistent_secret_key() -> str:
    """A key generated once per installation and kept under VAR_DIR."""
    VAR_DIR.mkdir(parents=True, exist_ok=True)
    key_file = VAR_DIR / "secret_key"
    if key_file.exists():
        return key_file.read_text().strip()
    key = secrets.token_urlsafe(50)
    # Create exclusively so two processes starting together agree on one key.
    try:
        fd = os.open(key_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return key_file.read_text().strip()
    with os.fdopen(fd, "w") as handle:
        handle.write(key)
    return key


SECRET_KEY = os.environ.get("SECRET_KEY") or _persistent_secret_key()
TRUNKLINE_ENCRYPTION_KEY = os.environ.get("TRUNKLINE_ENCRYPTION_KEY", "")
DEBUG = _env_bool("TRUNKLINE_DEBUG")
TRUNKLINE_BASE_DOMAIN = os.environ.get("TRUNKLINE_BASE_DOMAIN", "trunkline.localhost")
# Where links in emails point (https://portal.example.com); unset, a link uses the request's
# host when it is the base domain or a loopback name, else https://<base domain>.
TRUNKLINE_PUBLIC_URL = os.environ.get("TRUNKLINE_PUBLIC_URL", "")
TRUNKLINE_SIP_REGISTRAR = os.environ.get("TRUNKLINE_SIP_REGISTRAR", f"sip.{TRUNKLINE_BASE_DOMAIN}")
# Each tenant's phones register to `<sip prefix>.<this>`, which is also the digest realm:
# changing it invalidates every stored HA1 (`telephony.models`).
TRUNKLINE_SIP_DOMAIN = os.environ.get("TRUNKLINE_SIP_DOMAIN", "sip.trunkline.test").lower()
ALLOWED_HOSTS = ["*"]  # the Host header selects a partner brand; unknown hosts get a neutral page

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django_tasks",
    "django_tasks_db",
    "trunkline.core",
    "trunkline.accounts",
    "trunkline.tenants",
    "trunkline.webhooks",
    "trunkline.billing",
    "trunkline.phone_numbers",
    "trunkline.limits",
    "trunkline.pbx",
    "trunkline.telephony",
    "trunkline.licensing",
    "trunkline.branding",
    "trunkline.portal",
]

MIDDLEWARE = [
    "trunkline.core.middleware.RequestIdMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "trunkline.core.api_middleware.ApiMiddleware",
    # Parses multipart bodies of PUT too (Django does so for POST only): PUT /v1/branding/logo.
    "ninja.compatibility.files.fix_request_files_middleware",
    "trunkline.accounts.middleware.SessionFreshnessMiddleware",
    "trunkline.core.middleware.PortalMessageMiddleware",  # Django's, skipped for /v1
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "trunkline.urls"
WSGI_APPLICATION = "trunkline.wsgi.application"
ASGI_APPLICATION = "trunkline.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "trunkline.portal.context.portal",
                "trunkline.phone_numbers.context.e911_warning",
            ],
        },
    },
]

_database_url = os.environ.get("DATABASE_URL")
if _database_url:
    DATABASES = {"default": dj_database_url.parse(_database_url, conn_max_age=60)}
else:
    _sqlite_path = Path(os.environ.get("TRUNKLINE_DB", VAR_DIR / "trunkline.sqlite3")).resolve()
    _sqlite_path.parent.mkdir(parents=True, exist_ok=True)
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": str(_sqlite_path),
            # Keep each server thread's connection between requests: opening one runs the
            # PRAGMAs below and registers Django's SQL functions, which cost more than a
            # typical API call's own queries.
            "CONN_MAX_AGE": None,
            "OPTIONS": {
                # WAL lets readers run beside the single writer; IMMEDIATE takes the write
                # lock at BEGIN so two writers queue instead of failing to upgrade a lock.
                "init_command": (
                    "PRAGMA journal_mode=WAL;PRAGMA synchronous=NORMAL;PRAGMA busy_timeout=10000;"
                ),
                "transaction_mode": "IMMEDIATE",
                "timeout": 20,
            },
            "TEST": {"NAME": None},
        }
    }

# Background tasks are rows in the same database, claimed by `trunkline worker` processes
# (SELECT … FOR UPDATE SKIP LOCKED on PostgreSQL). Enqueuing inside a transaction makes the
# task part of it: a rolled-back change leaves no task behind.
TASKS = {"default": {"BACKEND": "django_tasks_db.DatabaseBackend"}}

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
AUTH_USER_MODEL = "accounts.User"
AUTHENTICATION_BACKENDS = ["trunkline.accounts.backends.EmailBackend"]
LOGIN_URL = "/login"
LOGIN_REDIRECT_URL = "/"

PASSWORD_HASHERS = [
    "django.contrib.auth.hashers.Argon2PasswordHasher",
    "django.contrib.auth.hashers.PBKDF2PasswordHasher",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "trunkline.accounts.validators.PartnerPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
]

SESSION_ENGINE = "django.contrib.sessions.backends.db"
SESSION_COOKIE_AGE = 8 * 60 * 60  # the guide: sessions last 8 hours
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
CSRF_COOKIE_SAMESITE = "Lax"
SESSION_COOKIE_SECURE = _env_bool("TRUNKLINE_SECURE_COOKIES")
CSRF_COOKIE_SECURE = SESSION_COOKIE_SECURE

CACHES = {
    "default": {
        "BACKEND": "django.core.cache.backends.locmem.LocMemCache",
        "LOCATION": "trunkline",
    }
}

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = False
USE_TZ = True

STATIC_URL = "/static/"
STATIC_ROOT = VAR_DIR / "static"
STATIC_ROOT.mkdir(parents=True, exist_ok=True)
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
WHITENOISE_USE_FINDERS = True
WHITENOISE_AUTOREFRESH = DEBUG
MEDIA_ROOT = VAR_DIR / "media"

DATA_UPLOAD_MAX_MEMORY_SIZE = 1024 * 1024  # 1 MiB request bodies are plenty for the API

EMAIL_BACKEND = os.environ.get("EMAIL_BACKEND", "django.core.mail.backends.filebased.EmailBackend")
EMAIL_FILE_PATH = str(VAR_DIR / "mail")
EMAIL_HOST = os.environ.get("EMAIL_HOST", "localhost")
EMAIL_PORT = int(os.environ.get("EMAIL_PORT", "25"))
EMAIL_HOST_USER = os.environ.get("EMAIL_HOST_USER", "")
EMAIL_HOST_PASSWORD = os.environ.get("EMAIL_HOST_PASSWORD", "")
EMAIL_USE_TLS = _env_bool("EMAIL_USE_TLS")
DEFAULT_FROM_EMAIL = os.environ.get("DEFAULT_FROM_EMAIL", "no-reply@" + TRUNKLINE_BASE_DOMAIN)

REDIS_URL = os.environ.get("REDIS_URL", "")
# How partners' cards are charged: "simulated" (the default, offline) or "stripe".
TRUNKLINE_PAYMENT_PROCESSOR = os.environ.get("TRUNKLINE_PAYMENT_PROCESSOR", "simulated")
# The number carrier adapter (a dotted class path); empty: the simulated carrier.
TRUNKLINE_CARRIER = os.environ.get("TRUNKLINE_CARRIER", "")
STRIPE_SECRET_KEY = os.environ.get("STRIPE_SECRET_KEY", "")
STRIPE_API_BASE = os.environ.get("STRIPE_API_BASE", "")  # another Stripe-compatible server
# The start of the platform account's card statement descriptor (its "shortened
# descriptor" at Stripe): a partner's descriptor follows it on Platform-mode charges.
STRIPE_STATEMENT_DESCRIPTOR_PREFIX = os.environ.get(
    "STRIPE_STATEMENT_DESCRIPTOR_PREFIX", "TRUNKLINE"
)
TRUNKLINE_PARTNER_RATE_LIMIT = int(os.environ.get("TRUNKLINE_PARTNER_RATE_LIMIT", "1000"))
TRUNKLINE_WEBHOOK_ALLOW_PRIVATE = _env_bool("TRUNKLINE_WEBHOOK_ALLOW_PRIVATE")

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": os.environ.get("TRUNKLINE_LOG_LEVEL", "WARNING")},
}
