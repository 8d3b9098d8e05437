"""Settings of the default site, all from the environment the compose file gives each colour.

Standing in for the old guide's settings-integration.ini / settings-production.ini: the values
differ per environment (compose/env/*.env), the code does not.
"""

import os
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent


def env_list(name: str, default: str) -> list[str]:
    return [item.strip() for item in os.environ.get(name, default).split(",") if item.strip()]


SECRET_KEY = os.environ["DJANGO_SECRET_KEY"]
DEBUG = os.environ.get("DJANGO_DEBUG", "0") == "1"
ALLOWED_HOSTS = env_list("SITE_HOSTS", "localhost,127.0.0.1")
RELEASE = os.environ.get("SWITCHER_RELEASE", "unknown")
COLOR = os.environ.get("SWITCHER_COLOR", "unknown")

STATE_DIR = Path(os.environ.get("SITE_STATE_DIR", "/var/lib/site/state"))
LOG_DIR = Path(os.environ.get("SITE_LOG_DIR", "/var/lib/site/logs"))

INSTALLED_APPS = [
    "django.contrib.contenttypes",
    "django.contrib.staticfiles",
    "press",
]
MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]
ROOT_URLCONF = "pressroom.urls"
TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {"context_processors": ["django.template.context_processors.request"]},
    }
]
WSGI_APPLICATION = "switcher_runtime.wsgi.application"

DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.postgresql",
        "HOST": os.environ.get("DB_HOST", "/run/postgresql"),
        "PORT": os.environ.get("DB_PORT", "5432"),
        "NAME": os.environ.get("DB_NAME", "site"),
        "USER": os.environ.get("DB_USER", "site"),
        "PASSWORD": os.environ.get("DB_PASSWORD", ""),
        "CONN_MAX_AGE": 60,
        "CONN_HEALTH_CHECKS": True,
        "OPTIONS": {"connect_timeout": 3},
    }
}

# Memcached: an outage is a cache miss within a short timeout, never an error or a hang.
# Keys carry the release (VERSION), so old and new code never read each other's entries.
MEMCACHED_OPTIONS = {
    "connect_timeout": 0.3,
    "timeout": 0.3,
    "no_delay": True,
    "ignore_exc": True,
    "retry_attempts": 1,
    "retry_timeout": 1,
    "dead_timeout": 5,
    "use_pooling": True,
    "max_pool_size": 16,
}
CACHES = {
    "default": {
        "BACKEND": "django.core.cache.backends.memcached.PyMemcacheCache",
        "LOCATION": os.environ.get("MEMCACHED_LOCATION", "unix:/run/memcached/memcached.sock"),
        "KEY_PREFIX": "site",
        "VERSION": RELEASE,
        "TIMEOUT": 300,
        "OPTIONS": MEMCACHED_OPTIONS,
    },
    # Sessions, should the site keep them in the cache: a fixed prefix and no release in the
    # key, so visitors stay logged in across a promote.
    "sessions": {
        "BACKEND": "django.core.cache.backends.memcached.PyMemcacheCache",
        "LOCATION": os.environ.get("MEMCACHED_LOCATION", "unix:/run/memcached/memcached.sock"),
        "KEY_PREFIX": "sessions",
        "TIMEOUT": 1209600,
        "OPTIONS": MEMCACHED_OPTIONS,
    },
}
SESSION_CACHE_ALIAS = "sessions"

# Uploads: the platform's media volume, served by its lb under MEDIA_URL.
MEDIA_ROOT = os.environ.get("MEDIA_ROOT", str(BASE_DIR / "media"))
MEDIA_URL = os.environ.get("MEDIA_URL", "/media/")

STATIC_URL = "/static/"
STATIC_ROOT = os.environ.get("STATIC_ROOT", str(BASE_DIR / "staticfiles"))
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.ManifestStaticFilesStorage"},
}

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = False
USE_TZ = True
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# Behind the project's nginx, which terminates TLS and sets X-Forwarded-Proto.
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_SSL_REDIRECT = True
SECURE_REDIRECT_EXEMPT = [r"^healthz$"]
SECURE_HSTS_SECONDS = 31536000
SECURE_HSTS_INCLUDE_SUBDOMAINS = False
SESSION_COOKIE_SECURE = True
CSRF_COOKIE_SECURE = True
CSRF_TRUSTED_ORIGINS = [f"https://{host}" for host in ALLOWED_HOSTS]
X_FRAME_OPTIONS = "DENY"

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s " + COLOR + " %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": "INFO"},
}
if LOG_DIR.is_dir() and os.access(LOG_DIR, os.W_OK):
    LOGGING["handlers"]["file"] = {
        "class": "logging.handlers.WatchedFileHandler",
        "filename": str(LOG_DIR / f"site-{COLOR}.log"),
        "formatter": "plain",
    }
    LOGGING["root"]["handlers"].append("file")
