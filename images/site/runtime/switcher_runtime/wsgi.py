"""The site's WSGI application, wrapped so every response says which release answered, each
worker publishes how many requests it has in flight (for draining a colour), and /healthz
answers even when the site has no such URL.

Done here rather than in the site's middleware so any Django site gets all three unchanged.
"""

import json
import logging
import os
import threading
import uuid

from django.core.wsgi import get_wsgi_application

RELEASE = os.environ.get("SWITCHER_RELEASE", "unknown")
COLOR = os.environ.get("SWITCHER_COLOR", "unknown")
INFLIGHT_DIR = os.environ.get("SWITCHER_INFLIGHT_DIR", "/dev/shm")
HEALTH_PATHS = ("/healthz", "/healthz/")
log = logging.getLogger("switcher.health")
_django_app = get_wsgi_application()


def _site_answers_health() -> bool:
    """Whether the site's own URLs have /healthz (then it answers, its way)."""
    from django.urls import Resolver404, resolve

    for path in HEALTH_PATHS:
        try:
            resolve(path)
            return True
        except Resolver404:
            continue
        except Exception:  # a broken URLconf: let Django answer, and show its own error
            return True
    return False


PLATFORM_HEALTH = not _site_answers_health()


def _database_state() -> str:
    from django.db import DEFAULT_DB_ALIAS, close_old_connections, connections

    if DEFAULT_DB_ALIAS not in connections.settings:
        return "none"
    close_old_connections()  # as Django does around a request (CONN_MAX_AGE, health checks)
    try:
        with connections[DEFAULT_DB_ALIAS].cursor() as cursor:
            cursor.execute("SELECT 1")
        return "ok"
    except Exception as error:  # any driver error means the database cannot serve the site
        log.warning("health: database unreachable: %s", error)
        return "down"
    finally:
        close_old_connections()


def _cache_state() -> str:
    from django.core.cache import cache

    key = f"switcher-healthz:{uuid.uuid4().hex}"
    try:
        cache.set(key, "ok", 10)
        state = "ok" if cache.get(key) == "ok" else "degraded"
        cache.delete(key)
        return state
    except Exception:  # an unreachable cache is degraded, not fatal
        return "degraded"


def health(environ, start_response):
    """The platform's /healthz: 200 when the database answers, 503 when it does not; a cache
    outage is "degraded" and still 200."""
    database = _database_state()
    body = json.dumps(
        {"release": RELEASE, "color": COLOR, "db": database, "cache": _cache_state(), "by": "platform"}
    ).encode()
    status = "503 Service Unavailable" if database == "down" else "200 OK"
    start_response(
        status,
        [
            ("Content-Type", "application/json"),
            ("Content-Length", str(len(body))),
            ("Cache-Control", "no-store"),
            ("X-Release", RELEASE),
        ],
    )
    return [body]


class InFlight:
    """A per-process count of unfinished requests, kept in a small file on tmpfs."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.count = 0
        self.pid = 0
        self.fd = -1

    def add(self, delta: int) -> None:
        with self.lock:
            if self.pid != os.getpid():  # first request in this (forked) worker
                self.pid, self.count = os.getpid(), 0
                path = os.path.join(INFLIGHT_DIR, f"switcher-inflight-{self.pid}")
                self.fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_TRUNC, 0o644)
            self.count += delta
            os.pwrite(self.fd, f"{self.count:<12}".encode(), 0)


IN_FLIGHT = InFlight()


class _Finishing:
    """The response body, counting the request as finished when the server closes it."""

    def __init__(self, body):
        self.body = body
        self.done = False

    def __iter__(self):
        return iter(self.body)

    def close(self):
        try:
            close = getattr(self.body, "close", None)
            if close is not None:
                close()
        finally:
            if not self.done:
                self.done = True
                IN_FLIGHT.add(-1)


def application(environ, start_response):
    if PLATFORM_HEALTH and environ.get("PATH_INFO") in HEALTH_PATHS:
        return health(environ, start_response)

    def start_with_release(status, headers, exc_info=None):
        headers.append(("X-Release", RELEASE))
        return start_response(status, headers, exc_info)

    IN_FLIGHT.add(1)
    try:
        body = _django_app(environ, start_with_release)
    except BaseException:
        IN_FLIGHT.add(-1)
        raise
    return _Finishing(body)
