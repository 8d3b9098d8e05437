"""The site's WSGI application, wrapped so every response says which release answered and
each worker publishes how many requests it has in flight (for draining a colour).

Done here rather than in the site's middleware so any Django site gets both unchanged.
"""

import os
import threading

from django.core.wsgi import get_wsgi_application

RELEASE = os.environ.get("SWITCHER_RELEASE", "unknown")
INFLIGHT_DIR = os.environ.get("SWITCHER_INFLIGHT_DIR", "/dev/shm")
_django_app = get_wsgi_application()


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
