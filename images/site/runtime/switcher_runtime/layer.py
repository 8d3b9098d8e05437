"""The platform's settings layer: what it sets over the site's own settings module, and why.

Pure: `overlay(site, env, ...)` takes the site's settings (a dict of its upper-case names) and
the container's environment and returns the values to set, the names to remove and one line
per change, without importing Django or touching anything. `switcher_runtime.settings` applies
it; `switcher_runtime.report` prints the changes at build time.

What the platform owns, because the stack only works with it (docs/site-contract.md):
the database, the hosts and CSRF origins, the proxy's https header, secure cookies, DEBUG,
where static files and uploads live, hashed static files, the cache, and logs that do not
write into the read-only image. `SETTINGS_KEEP` (env file) names any the site keeps as it set
them.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

OWNED = (
    "SECRET_KEY",
    "DEBUG",
    "ALLOWED_HOSTS",
    "CSRF_TRUSTED_ORIGINS",
    "SECURE_PROXY_SSL_HEADER",
    "SESSION_COOKIE_SECURE",
    "CSRF_COOKIE_SECURE",
    "DATABASES",
    "STATIC_ROOT",
    "STATIC_URL",
    "MEDIA_ROOT",
    "MEDIA_URL",
    "STORAGES",
    "CACHES",
    "LOGGING",
    "CELERY_BROKER_URL",
    "CELERY_BEAT_SCHEDULE_FILENAME",
)
MANIFEST_STORAGE = "django.contrib.staticfiles.storage.ManifestStaticFilesStorage"
STATIC_DEFAULT = "django.contrib.staticfiles.storage.StaticFilesStorage"
FILE_STORAGE = "django.core.files.storage.FileSystemStorage"
MEMCACHED = "django.core.cache.backends.memcached.PyMemcacheCache"
POSTGRES_ENGINES = ("django.db.backends.postgresql", "django.contrib.gis.db.backends.postgis")
SESSION_CACHE_ENGINES = ("django.contrib.sessions.backends.cache", "django.contrib.sessions.backends.cached_db")
# Where a container may write: the shared volumes and /tmp (the root filesystem is read-only).
WRITABLE = ("/var/lib/site/logs/", "/var/lib/site/state/", "/var/lib/site/tmp/", "/tmp/")
# A memcached outage is a cache miss within a short timeout, never an error or a hang.
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
STDOUT_LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"platform": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"stdout": {"class": "logging.StreamHandler", "stream": "ext://sys.stdout", "formatter": "platform"}},
    "root": {"handlers": ["stdout"], "level": "INFO"},
}


class LayerError(Exception):
    """A setting of the environment the layer cannot work with (one line)."""


@dataclass
class Overlay:
    values: dict[str, Any] = field(default_factory=dict)
    removed: list[str] = field(default_factory=list)
    changes: list[str] = field(default_factory=list)
    kept: list[str] = field(default_factory=list)

    def set(self, name: str, value: Any, before: str, after: str, why: str = "") -> None:
        """Set `name`; a change (before differs from after) is reported, with `why`."""
        self.values[name] = value
        if before != after:
            self.changes.append(f"{name}: {before} → {after}{f' ({why})' if why else ''}")


def split(value: str) -> list[str]:
    return [item.strip() for item in value.split(",") if item.strip()]


def keep_list(env: Mapping[str, str]) -> list[str]:
    keep = split(env.get("SETTINGS_KEEP", ""))
    unknown = [name for name in keep if name not in OWNED]
    if unknown:
        raise LayerError(
            f"SETTINGS_KEEP names {unknown[0]}, which the platform does not set (it sets: {', '.join(OWNED)})"
        )
    return keep


def overlay(
    site: Mapping[str, Any],
    env: Mapping[str, str],
    *,
    django_version: tuple[int, ...],
    is_manifest: Callable[[str], bool],
) -> Overlay:
    """The platform's values over the site's settings (see the module's docstring)."""
    out = Overlay()
    keep = keep_list(env)
    out.kept = keep
    steps: dict[str, Callable[[], None]] = {
        "SECRET_KEY": lambda: _secret_key(out, site, env),
        "DEBUG": lambda: _debug(out, site, env),
        "ALLOWED_HOSTS": lambda: _hosts(out, site, env),
        "CSRF_TRUSTED_ORIGINS": lambda: _csrf_origins(out, site, env),
        "SECURE_PROXY_SSL_HEADER": lambda: _proxy_header(out, site),
        "SESSION_COOKIE_SECURE": lambda: _flag(out, site, "SESSION_COOKIE_SECURE"),
        "CSRF_COOKIE_SECURE": lambda: _flag(out, site, "CSRF_COOKIE_SECURE"),
        "DATABASES": lambda: _databases(out, site, env, django_version),
        "STATIC_ROOT": lambda: _path(out, site, "STATIC_ROOT", env.get("STATIC_ROOT", "/app/staticfiles")),
        "STATIC_URL": lambda: _static_url(out, site),
        "MEDIA_ROOT": lambda: _path(out, site, "MEDIA_ROOT", env.get("MEDIA_ROOT", "/var/lib/site/media")),
        "MEDIA_URL": lambda: _path(out, site, "MEDIA_URL", env.get("MEDIA_URL", "/media/")),
        "STORAGES": lambda: _storages(out, site, django_version, is_manifest),
        "CACHES": lambda: _caches(out, site, env),
        "LOGGING": lambda: _logging(out, site),
        "CELERY_BROKER_URL": lambda: _celery(out, site, "CELERY_BROKER_URL", env.get("CELERY_BROKER_URL", "")),
        "CELERY_BEAT_SCHEDULE_FILENAME": lambda: _celery(
            out, site, "CELERY_BEAT_SCHEDULE_FILENAME", "/var/lib/site/state/celerybeat-schedule"
        ),
    }
    for name in OWNED:
        if name not in keep:
            steps[name]()
    return out


def _secret_key(out: Overlay, site: Mapping[str, Any], env: Mapping[str, str]) -> None:
    secret = env.get("DJANGO_SECRET_KEY") or env.get("SECRET_KEY")
    if not secret:
        raise LayerError("DJANGO_SECRET_KEY is not set; the platform gives every container one")
    before = "the site's" if site.get("SECRET_KEY") and site.get("SECRET_KEY") != secret else "the environment's"
    out.set("SECRET_KEY", secret, before, "the environment's")


def _debug(out: Overlay, site: Mapping[str, Any], env: Mapping[str, str]) -> None:
    debug = env.get("DJANGO_DEBUG", "0") == "1"
    out.set("DEBUG", debug, str(bool(site.get("DEBUG", False))), str(debug))


def _hosts(out: Overlay, site: Mapping[str, Any], env: Mapping[str, str]) -> None:
    hosts = split(env.get("SITE_HOSTS", "")) or ["localhost"]
    out.set("ALLOWED_HOSTS", hosts, repr(list(site.get("ALLOWED_HOSTS", []))), repr(hosts))


def _csrf_origins(out: Overlay, site: Mapping[str, Any], env: Mapping[str, str]) -> None:
    """https://HOST for every site host, with the public port when it is not 443 (browsers send
    it in Origin, and nginx passes the host without it), and the loopback preview's port."""
    ports = [p for p in (env.get("SITE_HTTPS_PORT", "443"), env.get("SITE_PREVIEW_PORT", "")) if p]
    origins = list(site.get("CSRF_TRUSTED_ORIGINS", []))
    for host in split(env.get("SITE_HOSTS", "")):
        name = f"[{host}]" if ":" in host else host
        for port in ports:
            origin = f"https://{name}" if port == "443" else f"https://{name}:{port}"
            if origin not in origins:
                origins.append(origin)
    out.set("CSRF_TRUSTED_ORIGINS", origins, repr(list(site.get("CSRF_TRUSTED_ORIGINS", []))), repr(origins))


def _proxy_header(out: Overlay, site: Mapping[str, Any]) -> None:
    # The lb always sets X-Forwarded-Proto itself; a client's never reaches the site.
    header = ("HTTP_X_FORWARDED_PROTO", "https")
    out.set("SECURE_PROXY_SSL_HEADER", header, repr(site.get("SECURE_PROXY_SSL_HEADER")), repr(header))


def _flag(out: Overlay, site: Mapping[str, Any], name: str) -> None:
    out.set(name, True, str(bool(site.get(name, False))), "True")


def _path(out: Overlay, site: Mapping[str, Any], name: str, value: str) -> None:
    before = site.get(name)
    out.set(name, value, repr(str(before)) if before is not None else "unset", repr(value))


def _static_url(out: Overlay, site: Mapping[str, Any]) -> None:
    """/static/, where the lb serves every release's files ("static/" is the same URL)."""
    before = str(site.get("STATIC_URL") or "unset")
    out.set("STATIC_URL", "/static/", "'/static/'" if before == "static/" else repr(before), "'/static/'")


def _engine_name(engine: str) -> str:
    return engine.rsplit(".", 1)[-1] if engine else "none"


def _databases(out: Overlay, site: Mapping[str, Any], env: Mapping[str, str], django_version: tuple[int, ...]) -> None:
    databases = {alias: dict(config) for alias, config in dict(site.get("DATABASES") or {}).items()}
    old = databases.get("default", {})
    engine = old.get("ENGINE", "")
    same_engine = engine in POSTGRES_ENGINES
    kept = ("ATOMIC_REQUESTS", "AUTOCOMMIT", "CONN_MAX_AGE", "CONN_HEALTH_CHECKS", "TEST", "TIME_ZONE")
    new = {key: value for key, value in old.items() if key in kept}
    new.update(
        {
            "ENGINE": engine if same_engine else POSTGRES_ENGINES[0],
            "NAME": env.get("DB_NAME", "site"),
            "USER": env.get("DB_USER", "site"),
            "PASSWORD": env.get("DB_PASSWORD", ""),
            "HOST": env.get("DB_HOST", "/run/postgresql"),
            "PORT": "",
            # The site's driver options only when they were for PostgreSQL already.
            "OPTIONS": {**(old.get("OPTIONS") or {} if same_engine else {})},
        }
    )
    new["OPTIONS"].setdefault("connect_timeout", 3)
    # Persistent connections are checked before each request reuses them: the platform restarts
    # the db (`up` after `down`, a restore), and a connection it ended must not fail a request.
    if new.get("CONN_MAX_AGE") and tuple(django_version[:2]) >= (4, 1) and not new.get("CONN_HEALTH_CHECKS"):
        new["CONN_HEALTH_CHECKS"] = True
        out.changes.append("DATABASES: CONN_HEALTH_CHECKS False → True (persistent connections survive a db restart)")
    databases["default"] = new
    before = _engine_name(engine)
    if same_engine and (old.get("NAME"), old.get("HOST")) != (new["NAME"], new["HOST"]):
        before += " elsewhere"
    out.set("DATABASES", databases, before, _engine_name(new["ENGINE"]), "the stack's, over its unix socket")


def _storage(site: Mapping[str, Any], alias: str, legacy: str, default: str) -> str:
    storages = site.get("STORAGES")
    if isinstance(storages, Mapping) and alias in storages:
        return str(storages[alias].get("BACKEND", default))
    return str(site.get(legacy) or default)


def _storages(
    out: Overlay, site: Mapping[str, Any], django_version: tuple[int, ...], is_manifest: Callable[[str], bool]
) -> None:
    """Hashed static files (each release's own names, so both colours' files live side by side)
    and uploads on the file system (the media volume), unless the site stores them elsewhere."""
    static = _storage(site, "staticfiles", "STATICFILES_STORAGE", STATIC_DEFAULT)
    files = _storage(site, "default", "DEFAULT_FILE_STORAGE", FILE_STORAGE)
    new_static = static if is_manifest(static) else MANIFEST_STORAGE
    if tuple(django_version[:2]) < (4, 2):
        out.set("STATICFILES_STORAGE", new_static, _engine_name(static), _engine_name(new_static))
        return
    storages = {alias: dict(config) for alias, config in dict(site.get("STORAGES") or {}).items()}
    storages["staticfiles"] = {**storages.get("staticfiles", {}), "BACKEND": new_static}
    if new_static != static:
        storages["staticfiles"].pop("OPTIONS", None)
    storages.setdefault("default", {"BACKEND": files})
    # Django refuses STORAGES beside the names it replaced.
    out.removed.extend(name for name in ("STATICFILES_STORAGE", "DEFAULT_FILE_STORAGE") if name in site)
    out.set("STORAGES", storages, f"staticfiles {_engine_name(static)}", f"staticfiles {_engine_name(new_static)}")


def _caches(out: Overlay, site: Mapping[str, Any], env: Mapping[str, str]) -> None:
    """The stack's memcached as the default cache, keys versioned by release so old and new code
    never read each other's entries; sessions kept in the cache survive a promote."""
    caches = {alias: dict(config) for alias, config in dict(site.get("CACHES") or {}).items()}
    old = caches.get("default", {})
    location = env.get("MEMCACHED_LOCATION", "unix:/run/memcached/memcached.sock")
    release = env.get("SWITCHER_RELEASE", "unknown")
    memcached = old.get("BACKEND") == MEMCACHED
    new = {
        "BACKEND": MEMCACHED,
        "LOCATION": location,
        "KEY_PREFIX": old.get("KEY_PREFIX", "site"),
        "VERSION": release,
        "TIMEOUT": old.get("TIMEOUT", 300),
        "OPTIONS": {**MEMCACHED_OPTIONS, **(old.get("OPTIONS") or {} if memcached else {})},
    }
    caches["default"] = new
    session_engine = site.get("SESSION_ENGINE", "django.contrib.sessions.backends.db")
    if session_engine in SESSION_CACHE_ENGINES and site.get("SESSION_CACHE_ALIAS", "default") == "default":
        caches["switcher-sessions"] = {**new, "KEY_PREFIX": "sessions", "TIMEOUT": 1209600}
        caches["switcher-sessions"].pop("VERSION")
        out.set(
            "SESSION_CACHE_ALIAS", "switcher-sessions", "default", "switcher-sessions", "sessions survive a promote"
        )
    before = _engine_name(old.get("BACKEND", "django.core.cache.backends.locmem.LocMemCache"))
    if memcached and old.get("LOCATION") != location:
        before += " elsewhere"
    if memcached and old.get("VERSION") != release:
        before += " not versioned by release"
    out.set("CACHES", caches, before, _engine_name(MEMCACHED), "the stack's memcached, keys versioned by release")


def _celery(out: Overlay, site: Mapping[str, Any], name: str, value: str) -> None:
    """For a site that configures Celery from Django's settings (CELERY_ names): the stack's
    broker, and beat's schedule in the state volume (its default is a file in /app, which is
    read-only)."""
    if value and any(key.startswith("CELERY_") for key in site):
        before = site.get(name)
        out.set(name, value, repr(before) if before is not None else "unset", repr(value))


def _writable(path: Any) -> bool:
    return any(str(path).startswith(prefix) for prefix in WRITABLE)


def _logging(out: Overlay, site: Mapping[str, Any]) -> None:
    """Logs to stdout (`switcher logs`); a file handler the site points into the read-only image
    writes to stdout instead, one into the logs volume stays."""
    config = site.get("LOGGING")
    if not config:
        out.set("LOGGING", STDOUT_LOGGING, "Django's default (errors by mail only)", "stdout")
        return
    handlers = {name: dict(handler) for name, handler in dict(config.get("handlers") or {}).items()}
    moved = []
    for name, handler in handlers.items():
        if "filename" in handler and not _writable(handler["filename"]):
            replacement = {"class": "logging.StreamHandler", "stream": "ext://sys.stdout"}
            replacement.update({k: handler[k] for k in ("level", "formatter", "filters") if k in handler})
            handlers[name] = replacement
            moved.append(name)
    if not moved:
        out.values["LOGGING"] = config
        return
    out.set(
        "LOGGING",
        {**config, "handlers": handlers},
        f"file handler{'s' if len(moved) > 1 else ''} {', '.join(moved)} in the image",
        "stdout",
    )


def is_manifest_storage(path: str) -> bool:
    """Whether the storage class at `path` hashes file names (ManifestFilesMixin); a class that
    cannot be imported does not."""
    from importlib import import_module

    module, _, name = path.rpartition(".")
    try:
        storage = getattr(import_module(module), name)
        from django.contrib.staticfiles.storage import ManifestFilesMixin
    except (ImportError, AttributeError, ValueError):
        return False
    return isinstance(storage, type) and issubclass(storage, ManifestFilesMixin)
