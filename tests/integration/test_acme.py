"""TLS_MODE=acme against a real ACME server on this machine (issue #10): Debian's pebble in a
container on the stack's network, with pebble-challtestsrv answering the site's test names
with the lb's address. The site starts on a self-signed stand-in; `switcher tls renew` has
lego issue a certificate for both names through HTTP-01 on the lb's port 80; it chains to
pebble's root; a forced renewal gives new connections the new certificate; with pebble down
the old certificate keeps serving and the failure shows; bad settings are one line each."""

from __future__ import annotations

import hashlib
import json
import socket
import ssl
import subprocess
import time
from pathlib import Path

import pytest
import requests

from .stackenv import ROOT, ok, running_stack

pytestmark = pytest.mark.integration
NAMES = ("site.test", "www.site.test")


def openssl(*args: str) -> None:
    subprocess.run(["openssl", *args], check=True, capture_output=True)


@pytest.fixture(scope="module")
def pebble_image(client, release):
    tag = f"switcher-test/pebble:{release}"
    client.images.build(path=str(ROOT / "tests/acme"), tag=tag, buildargs={"BASE": f"switcher/base:{release}"}, rm=True)
    yield tag
    client.images.remove(tag, force=True)


@pytest.fixture(scope="module")
def pebble_tls(tmp_path_factory) -> Path:
    """pebble's own HTTPS certificate (for the name `pebble`), signed by a CA of the test's."""
    work = tmp_path_factory.mktemp("pebble")
    openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(work / "ca.key"), "-out",
            str(work / "ca.pem"), "-subj", "/CN=pebble test CA", "-days", "2")  # fmt: skip
    (work / "ext").write_text("subjectAltName=DNS:pebble,DNS:localhost,IP:127.0.0.1\n")
    openssl("req", "-newkey", "rsa:2048", "-nodes", "-keyout", str(work / "key.pem"), "-out", str(work / "csr"),
            "-subj", "/CN=pebble")  # fmt: skip
    openssl("x509", "-req", "-in", str(work / "csr"), "-CA", str(work / "ca.pem"), "-CAkey", str(work / "ca.key"),
            "-CAcreateserial", "-out", str(work / "cert.pem"), "-days", "2", "-extfile", str(work / "ext"))  # fmt: skip
    for name in ("cert.pem", "key.pem"):
        (work / name).chmod(0o644)  # read by pebble's user in its container
    return work


def start_pebble(client, image: str, site, pebble_tls: Path):
    lb = site.container("lb")
    network = f"{site.project}_default"
    address = lb.attrs["NetworkSettings"]["Networks"][network]["IPAddress"]
    container = client.containers.run(
        image,
        [address],
        name=f"{site.project}-pebble",
        detach=True,
        volumes={str(pebble_tls): {"bind": "/etc/pebble", "mode": "ro"}},
        ports={"15000/tcp": ("127.0.0.1", None)},
        labels={"io.switcher.project": site.project},
    )
    client.networks.get(network).connect(container, aliases=["pebble"])
    container.reload()
    port = container.attrs["NetworkSettings"]["Ports"]["15000/tcp"][0]["HostPort"]
    deadline = time.monotonic() + 30
    while True:
        try:
            root = requests.get(f"https://127.0.0.1:{port}/roots/0", verify=str(pebble_tls / "ca.pem"), timeout=5)
            if root.status_code == 200:
                return container, root.text
        except requests.RequestException:
            pass
        assert time.monotonic() < deadline, container.logs()[-2000:]
        time.sleep(0.5)


def served(site, cafile: Path, name: str = NAMES[0]) -> dict:
    """The certificate a new connection for `name` gets, verified against `cafile`."""
    context = ssl.create_default_context(cafile=str(cafile))
    with (
        socket.create_connection(("127.0.0.1", int(site.settings["HTTPS_PORT"])), timeout=10) as raw,
        context.wrap_socket(raw, server_hostname=name) as tls,
    ):
        der = tls.getpeercert(binary_form=True)
        return {"sha256": hashlib.sha256(der).hexdigest(), **tls.getpeercert()}


def tls_status(site) -> dict:
    return json.loads(ok(site.switcher("tls", "status", "--json", "--env", site.name)).stdout)


def test_issue_renew_and_survive_a_ca_outage(client, release, pebble_image, pebble_tls, tmp_path):
    settings = {
        "SITE_HOSTS": ",".join([*NAMES, "localhost", "127.0.0.1"]),
        "TLS_MODE": "acme",
        "ACME_EMAIL": "ops@site.test",
        "ACME_DIRECTORY": "https://pebble:14000/dir",
        "ACME_CA_ROOT": str(pebble_tls / "ca.pem"),
    }
    with running_stack(tmp_path / "env", release, client, **settings) as site:
        pebble = None
        try:
            # `up` tried the CA (not there yet): the site started on the self-signed stand-in.
            assert tls_status(site)["last_renewal"]["outcome"] == "failed"
            pebble, root_pem = start_pebble(client, pebble_image, site, pebble_tls)
            root = tmp_path / "pebble-root.pem"
            root.write_text(root_pem)

            result = ok(site.switcher("tls", "renew", "--env", site.name))
            assert "renewed (acme)" in result.stderr, result.stderr
            first = served(site, root)  # chains to pebble's root, for both names
            served(site, root, NAMES[1])
            assert sorted(v for k, v in first["subjectAltName"]) == sorted(NAMES)
            status = tls_status(site)
            assert status["certificate"]["names"] == list(NAMES) and "Pebble" in status["certificate"]["issuer"]
            assert "not due" in ok(site.switcher("tls", "renew", "--env", site.name)).stderr

            ok(site.switcher("tls", "renew", "--force", "--env", site.name))
            second = served(site, root)
            assert second["sha256"] != first["sha256"], "new connections get the renewed certificate"

            # The CA cannot be reached: the renewal fails in one line, the certificate in use stays.
            network = client.networks.get(f"{site.project}_default")
            network.disconnect(pebble)
            failed = site.switcher("tls", "renew", "--force", "--env", site.name)
            assert failed.returncode != 0 and "the ACME client failed" in failed.stderr
            assert "Traceback" not in failed.stderr
            assert served(site, root)["sha256"] == second["sha256"]
            assert tls_status(site)["last_renewal"]["outcome"] == "failed"
            assert "the last certificate renewal failed" in ok(site.switcher("status", "--env", site.name)).stdout

            # Back: the next attempt succeeds.
            network.connect(pebble, aliases=["pebble"])
            ok(site.switcher("tls", "renew", "--force", "--env", site.name))
            assert served(site, root)["sha256"] != second["sha256"]
            assert tls_status(site)["last_renewal"]["outcome"] == "ok"
        finally:
            if pebble is not None:
                pebble.remove(force=True)


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"ACME_DIRECTORY": "https://127.0.0.1:9/dir"}, "the ACME client failed"),
        ({"ACME_NAMES": "elsewhere.test"}, "ACME_NAMES entry 'elsewhere.test' is not in SITE_HOSTS"),
        ({"ACME_EMAIL": "ops at site.test"}, "is not an email address"),
    ],
)
def test_bad_acme_settings_are_one_line_and_change_nothing(stack, settings, message):
    text = (stack.directory / "env" / f"{stack.name}.env").read_text()
    before = tls_status(stack)["certificate"]["sha256"]
    acme = {"TLS_MODE": "acme", "ACME_EMAIL": "ops@site.test", "SITE_HOSTS": "site.test,localhost,127.0.0.1"}
    try:
        stack.write_env_file(text + "".join(f"{k}={v}\n" for k, v in {**acme, **settings}.items()))
        result = stack.switcher("tls", "renew", "--env", stack.name)
        assert result.returncode != 0 and message in result.stderr and "Traceback" not in result.stderr
        assert len([line for line in result.stderr.splitlines() if "error" in line]) == 1
    finally:
        stack.write_env_file(text)
    assert tls_status(stack)["certificate"]["sha256"] == before
