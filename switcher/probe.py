"""HTTP checks of the site through the lb's own listeners, as a visitor would send them:
the site's real Host header (so ALLOWED_HOSTS is exercised) and verified TLS."""

from __future__ import annotations

import ssl
from dataclasses import dataclass

import requests
from requests.adapters import HTTPAdapter

from switcher.config import Environment


class _HostAdapter(HTTPAdapter):
    """Connect to 127.0.0.1 but verify the certificate for the site's host name (SNI too),
    against `trusted` (PEM) when given, else the system's CAs."""

    def __init__(self, host: str, trusted: bytes | None) -> None:
        self.host, self.trusted = host, trusted
        super().__init__(max_retries=0)

    def init_poolmanager(self, *args, **kwargs) -> None:
        kwargs["server_hostname"] = self.host
        kwargs["assert_hostname"] = self.host
        if self.trusted is not None:
            context = ssl.create_default_context()
            context.load_verify_locations(cadata=self.trusted.decode("ascii", "replace"))
            kwargs["ssl_context"] = context
        super().init_poolmanager(*args, **kwargs)


def probe_host(env: Environment) -> str:
    """The Host header of switcher's own requests: the first name of SITE_HOSTS that is not a
    wildcard."""
    return next((h for h in env.site_hosts if not h.startswith("*.")), "localhost")


@dataclass(frozen=True)
class Answer:
    status: int
    release: str | None
    body: str
    location: str | None = None


class SiteProbe:
    def __init__(self, env: Environment, certificate: bytes | None, timeout: float = 5) -> None:
        """`certificate`: the environment's self-signed one, trusted as it is; with the user's
        own certificate (TLS_CERT) or a CA's (acme) the system's CAs decide."""
        self.env, self.timeout = env, timeout
        self.host = probe_host(env)
        self.session = requests.Session()
        self.session.trust_env = False
        self.session.verify = True
        trusted = certificate if env.tls_mode == "selfsigned" else None  # else: the system's CAs
        self.session.mount("https://", _HostAdapter(self.host, trusted))
        self.session.headers["Host"] = self.host
        self.session.headers["User-Agent"] = "switcher-probe"

    def _url(self, listener: str, path: str) -> str:
        port = self.env.settings["HTTPS_PORT"] if listener == "live" else self.env.settings["PREVIEW_PORT"]
        address = self.env.public_host if listener == "live" else "127.0.0.1"
        return f"https://{address}:{port}{path}"

    def get(self, listener: str, path: str = "/healthz") -> Answer:
        try:
            response = self.session.get(self._url(listener, path), timeout=self.timeout, allow_redirects=False)
        except requests.RequestException as error:
            return Answer(status=0, release=None, body=str(error)[:200])
        return Answer(
            status=response.status_code,
            release=response.headers.get("X-Release"),
            body=response.text[:300],
            location=response.headers.get("Location"),
        )

    def close(self) -> None:
        self.session.close()
