"""The lb's certificate over time: `switcher tls status` and `switcher tls renew`, in every
TLS_MODE. A new certificate is stored (cert.pem, key.pem in the tls volume), then the running lb
installs it (lb-tls-install: an immutable site-HASH.pem and a pointer renamed to it, docs/tls.md);
nginx loads it per handshake, so new connections get the new certificate and no open connection
is closed. A failed renewal keeps the certificate in use, and its outcome is shown by
`tls status`. In TLS_MODE=acme the acme service (images/acme/acme-renewd.sh) does the same on its
own every day, with retries and backoff, and writes its outcome to the same renewal.json."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime

from switcher.errors import SwitcherError
from switcher.session import Session
from switcher.tls import RENEWAL_FILE, certificate_info, renewal, tls_status


class Certificates(Session):
    def tls_status(self) -> dict:
        return tls_status(self.env, self.store)

    def _from_acme(self, force: bool) -> bytes | None:
        """Ask the ACME CA (lego in a one-off task of the acme image, HTTP-01 through the lb's
        port 80). The task installs a certificate the lb does not serve yet itself (into the tls
        volume, as the acme service does); the new certificate, or None when it was not due."""
        self.report(f"asking {self.env.settings['ACME_DIRECTORY']} for {', '.join(self.env.acme_names)}")
        output = self.stack.run_acme_task(self.releases(), "force" if force else "renew")
        if "acme: installed" not in output:
            return None
        cert = self.store.read_certificate()
        if cert is None:
            raise SwitcherError(f"the ACME client left no certificate: {output.strip()[-200:]}")
        return cert

    def _note(self, outcome: str, **fields: object) -> None:
        note = {"time": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"), "outcome": outcome, "by": "switcher"}
        note.update(fields)
        self.store.write_tls_file(RENEWAL_FILE, json.dumps(note, sort_keys=True).encode())

    def tls_renew(self, force: bool) -> str:
        self.store.ensure()
        started = time.monotonic()
        with self.locked("tls renew"):
            mode = self.env.tls_mode
            try:
                if mode == "acme":
                    cert = self._from_acme(force)
                else:
                    current = (self.store.read_certificate(), self.store.read_key())
                    made = renewal(self.env, current, force, datetime.now(UTC), self.report)
                    cert = made[0] if made else None
                if cert is None:
                    self._note("not due", mode=mode)
                    due = {
                        "files": "TLS_CERT is the certificate in use",
                        "acme": "the CA's certificate is in use and not due",
                    }.get(mode, "not due yet")
                    return f"nothing to renew ({mode}): {due}; --force renews anyway"
                if mode != "acme":
                    self.store.write_certificate(*made)
                    self.stack.install_certificate()
                served = self.stack.running_lb() is not None
            except SwitcherError as error:
                self._note("failed", mode=mode, error=str(error))
                self.record("tls-renew", started, "failed", mode=mode, error=str(error))
                raise
            info = certificate_info(cert)
            expires = info.not_after.strftime("%Y-%m-%d")
            self._note("ok", mode=mode, sha256=info.sha256, not_after=expires)
            self.record("tls-renew", started, "ok", mode=mode, sha256=info.sha256, not_after=expires)
        where = "new connections get it now" if served else "the lb takes it when it starts"
        return f"renewed ({mode}): {', '.join(info.names) or info.subject}, until {expires}; {where}"
