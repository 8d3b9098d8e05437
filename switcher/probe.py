"""HTTP checks of the site through the lb's own listeners, as a visitor would send them:
the site's real Host header (so ALLOWED_HOSTS is exercised) and verified TLS."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import requests
from requests.adapters import HTTPAdapter

from switcher.config import Environment


class _HostAdapter(HTTPAdapter):
    """Connect to 127.0.0.1 but verify the certificate for the site's host name (SNI too)."""

    def __init__(self, host: str) -> None:
        self.host = host
        super().__init__(max_retries=0)

    def init_poolmanager(self, *args, **kwargs) -> None:
        kwargs["server_hostname"] = self.host
        kwargs["assert_hostname"] = self.host
        super().init_poolmanager(*args, **kwargs)


@dataclass(frozen=True)
class Answer:
    status: int
    release: str | None
    body: str


class SiteProbe:
    def __init__(self, env: Environment, tls_dir: Path, timeout: float = 5) -> None:
        self.env, self.timeout = env, timeout
        self.host = env.site_hosts[0]
        self.session = requests.Session()
        self.session.trust_env = False
        # Our self-signed certificate, or the user's, verified against the system's CAs.
        self.session.verify = True if env.tls_cert else str(tls_dir / "cert.pem")
        self.session.mount("https://", _HostAdapter(self.host))
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
        return Answer(status=response.status_code, release=response.headers.get("X-Release"), body=response.text[:300])

    def close(self) -> None:
        self.session.close()
