"""The lb's certificate over time: `switcher tls status` and `switcher tls renew`, in every
TLS_MODE. A new certificate is stored (cert.pem, key.pem in the tls volume), then the running lb
installs it (lb-tls-install: an immutable site-HASH.pem and a pointer renamed to it, docs/tls.md);
nginx loads it per handshake, so new connections get the new certificate and no open connection
is closed. A failed renewal keeps the certificate in use, and its outcome is shown by
`tls status`."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime

from switcher.errors import SwitcherError
from switcher.session import Session
from switcher.tls import RENEW_BEFORE_DAYS, certificate_info, check_pair, renewal

RENEWAL_FILE = "tls-renewal.json"


class Certificates(Session):
    def tls_status(self) -> dict:
        now = datetime.now(UTC)
        cert = self.store.read_certificate()
        raw = self.store.read(RENEWAL_FILE)
        try:
            last = json.loads(raw) if raw else None
        except ValueError:
            last = {"outcome": "unreadable"}
        return {
            "mode": self.env.tls_mode,
            "certificate": certificate_info(cert).to_json(now) if cert else None,
            "renew_before_days": RENEW_BEFORE_DAYS,
            "last_renewal": last,
        }

    def _from_acme(self, current: tuple[bytes | None, bytes | None], force: bool) -> tuple[bytes, bytes] | None:
        """The ACME CA's certificate for ACME_NAMES (lego in a one-off task, HTTP-01 through the
        lb's port 80), or None when it is the one in use and not due."""
        ca_root = self.env.acme_ca_root.read_bytes() if self.env.acme_ca_root else None
        names = self.env.acme_names
        self.report(f"asking {self.env.settings['ACME_DIRECTORY']} for {', '.join(names)}")
        output = self.stack.run_acme_task(self.releases(), "force" if force else "renew", ca_root)
        with self.docker.volume_holder({f"{self.env.project}_acme": "/acme"}) as holder:
            issued = self.docker.read_files(holder, "/acme/certificates") or {}
        cert, key = (issued.get(f"certificates/{names[0]}.{kind}") for kind in ("crt", "key"))
        if cert is None or key is None:
            raise SwitcherError(f"the ACME client left no certificate: {output.strip()[-200:]}")
        if (cert, key) == current:
            return None
        check_pair(cert, key)
        return cert, key

    def _note(self, outcome: str, **fields: object) -> None:
        note = {"time": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"), "outcome": outcome, **fields}
        self.store.write({RENEWAL_FILE: (json.dumps(note, sort_keys=True).encode(), 0o600)})

    def tls_renew(self, force: bool) -> str:
        self.store.ensure()
        started = time.monotonic()
        with self.locked("tls renew"):
            current = (self.store.read_certificate(), self.store.read_key())
            mode = self.env.tls_mode
            try:
                if mode == "acme":
                    made = self._from_acme(current, force)
                else:
                    made = renewal(self.env, current, force, datetime.now(UTC), self.report)
                if made is None:
                    self._note("not due", mode=mode)
                    due = {
                        "files": "TLS_CERT is the certificate in use",
                        "acme": "the CA's certificate is in use and not due",
                    }.get(mode, "not due yet")
                    return f"nothing to renew ({mode}): {due}; --force renews anyway"
                self.store.write_certificate(*made)
                served = self.stack.install_certificate()
            except SwitcherError as error:
                self._note("failed", mode=mode, error=str(error))
                self.record("tls-renew", started, "failed", mode=mode, error=str(error))
                raise
            info = certificate_info(made[0])
            expires = info.not_after.strftime("%Y-%m-%d")
            self._note("ok", mode=mode, sha256=info.sha256, not_after=expires)
            self.record("tls-renew", started, "ok", mode=mode, sha256=info.sha256, not_after=expires)
        where = "new connections get it now" if served else "the lb takes it when it starts"
        return f"renewed ({mode}): {', '.join(info.names) or info.subject}, until {expires}; {where}"
