"""Certificate changes that drop no connection (issue #10, the part that is done): nginx names
its certificate by a variable and loads site.pem per handshake; `switcher tls renew` stores the
new pair and the lb renames site.pem into place. Under 16 keep-alive and 16 new-connection
clients no request fails, and new connections get the new certificate at once. A bad pair
changes nothing and shows in `tls status`."""

from __future__ import annotations

import hashlib
import json
import shutil
import socket
import ssl
import subprocess
import time
from pathlib import Path

import pytest

from .load import Load
from .stackenv import ok, running_stack

pytestmark = pytest.mark.integration


def openssl(*args: str) -> None:
    subprocess.run(["openssl", *args], check=True, capture_output=True)


@pytest.fixture(scope="module")
def certificates(tmp_path_factory) -> Path:
    """A test CA and two leaf certificates (a, b) for localhost and 127.0.0.1, signed by it."""
    work = tmp_path_factory.mktemp("pki")
    openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(work / "ca.key"), "-out",
            str(work / "ca.pem"), "-subj", "/CN=switcher test CA", "-days", "2")  # fmt: skip
    extensions = work / "leaf.ext"
    extensions.write_text("subjectAltName=DNS:localhost,IP:127.0.0.1\n")
    for name in ("a", "b"):
        openssl("req", "-newkey", "rsa:2048", "-nodes", "-keyout", str(work / f"{name}.key"), "-out",
                str(work / f"{name}.csr"), "-subj", f"/CN=leaf {name}")  # fmt: skip
        openssl("x509", "-req", "-in", str(work / f"{name}.csr"), "-CA", str(work / "ca.pem"), "-CAkey",
                str(work / "ca.key"), "-CAcreateserial", "-out", str(work / f"{name}.pem"), "-days", "2",
                "-extfile", str(extensions))  # fmt: skip
    return work


def served(port: str, cafile: Path) -> str:
    """The sha256 of the certificate a new, verified connection gets."""
    context = ssl.create_default_context(cafile=str(cafile))
    with (
        socket.create_connection(("127.0.0.1", int(port)), timeout=10) as raw,
        context.wrap_socket(raw, server_hostname="localhost") as tls,
    ):
        return hashlib.sha256(tls.getpeercert(binary_form=True)).hexdigest()


def fingerprint(pem: Path) -> str:
    return hashlib.sha256(ssl.PEM_cert_to_DER_cert(pem.read_text())).hexdigest()


def summary(load: Load) -> str:
    failures = load.failures()
    return f"{len(failures)} of {len(load.answers)} failed, e.g. {failures[:3]}"


def test_a_new_certificate_reaches_new_connections_and_drops_none(certificates, release, client, tmp_path):
    live_cert, live_key = tmp_path / "site.pem", tmp_path / "site.key"
    shutil.copy(certificates / "a.pem", live_cert)
    shutil.copy(certificates / "a.key", live_key)
    live_key.chmod(0o600)
    with running_stack(tmp_path / "env", release, client, TLS_CERT=str(live_cert), TLS_KEY=str(live_key)) as site:
        port, ca = site.settings["HTTPS_PORT"], certificates / "ca.pem"
        assert served(port, ca) == fingerprint(certificates / "a.pem")
        shutil.copy(certificates / "b.pem", live_cert)
        shutil.copy(certificates / "b.key", live_key)
        url = site.live_url + "/healthz"
        with Load(url, str(ca), clients=16) as kept, Load(url, str(ca), clients=16, keepalive=False) as fresh:
            time.sleep(2)
            renewed = time.monotonic()
            result = ok(site.switcher("tls", "renew", "--env", site.name))
            assert served(port, ca) == fingerprint(certificates / "b.pem"), "the next connection gets it"
            time.sleep(2)
        assert "renewed (files)" in result.stderr and "new connections get it now" in result.stderr
        for label, load in (("keep-alive", kept), ("new connections", fresh)):
            assert load.failures() == [], f"{label}: {summary(load)}"
            assert len([a for a in load.answers if a.started > renewed]) > 20, f"{label}: too little load after"

        # Nothing changed: TLS_CERT is what is served.
        assert "nothing to renew (files)" in ok(site.switcher("tls", "renew", "--env", site.name)).stderr

        # A key that is not the certificate's: one line, nothing changed, the failure shown.
        shutil.copy(certificates / "a.key", live_key)
        bad = site.switcher("tls", "renew", "--env", site.name)
        assert bad.returncode == 3 and "TLS_KEY is not the private key of TLS_CERT" in bad.stderr
        assert len(bad.stderr.strip().splitlines()) == 1 and "Traceback" not in bad.stderr
        assert served(port, ca) == fingerprint(certificates / "b.pem")
        status = json.loads(ok(site.switcher("tls", "status", "--json", "--env", site.name)).stdout)
        assert status["last_renewal"]["outcome"] == "failed"
        assert status["certificate"]["sha256"] == fingerprint(certificates / "b.pem")
        assert status["certificate"]["names"] == ["localhost", "127.0.0.1"]

        # An lb restarted with a bad pair stored keeps its last good site.pem.
        site.container("lb").restart(timeout=10)
        site.wait_healthy("lb")
        assert served(port, ca) == fingerprint(certificates / "b.pem")


def test_selfsigned_renews_when_due_or_forced(fresh_env):
    ok(fresh_env.up())
    status = json.loads(ok(fresh_env.switcher("tls", "status", "--json", "--env", fresh_env.name)).stdout)
    assert status["mode"] == "selfsigned" and status["certificate"]["days_left"] > 800
    assert "not due yet" in ok(fresh_env.switcher("tls", "renew", "--env", fresh_env.name)).stderr
    before = status["certificate"]["sha256"]
    ok(fresh_env.switcher("tls", "renew", "--force", "--env", fresh_env.name))
    after = json.loads(ok(fresh_env.switcher("tls", "status", "--json", "--env", fresh_env.name)).stdout)
    assert after["certificate"]["sha256"] != before and after["last_renewal"]["outcome"] == "ok"
    stored = fresh_env.directory / "new-cert.pem"
    stored.write_bytes(fresh_env.store_file("/tls/cert.pem"))
    assert served(fresh_env.settings["HTTPS_PORT"], stored) == after["certificate"]["sha256"]
