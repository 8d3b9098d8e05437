"""TLS_MODE=acme against a real ACME server on this machine (issue #10): Debian's pebble in a
container on the stack's network, with pebble-challtestsrv answering the site's test names
with the lb's address. The site starts on a self-signed stand-in and the stack's acme service
asks the CA at once: with no CA yet its attempts fail and back off (1, 2, 4 s…); once pebble
answers, the next attempt issues a certificate for both names through HTTP-01 on the lb's port
80, chaining to pebble's root. pebble issues 20-day certificates here, so they are always due
(within 30 days of expiry): the acme service renews at its check, and a forced `switcher tls
renew` under 16 keep-alive and 16 new-connection clients fails no request and gives new
connections the new certificate. With pebble cut off the certificate in use keeps serving, the
failure shows in `tls status` and `status`, and the service's next attempt succeeds when pebble
is back. Bad settings are one line each."""

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
import urllib3

from .load import Load
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


def start_pebble(client, image: str, site, pebble_tls: Path, validity_days: int = 20):
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
        environment={"PEBBLE_VALIDITY": str(validity_days * 86400)},
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


def renewal_note(site) -> dict:
    """renewal.json as the lb's tls volume has it now (read in the lb, without switcher)."""
    code, output = site.container("lb").exec_run(["cat", "/etc/nginx/tls/renewal.json"])
    return json.loads(output) if code == 0 else {}


def wait_for_note(site, accept, seconds: float = 90) -> list[dict]:
    """Every distinct renewal note seen until one satisfies `accept`."""
    seen: list[dict] = []
    deadline = time.monotonic() + seconds
    while True:
        note = renewal_note(site)
        if note and (not seen or note != seen[-1]):
            seen.append(note)
            if accept(note):
                return seen
        if time.monotonic() > deadline:
            logs = site.container("acme").logs(tail=15).decode(errors="replace")
            raise AssertionError(f"no such renewal note in {seconds} s: {seen[-3:]}; the acme service said:\n{logs}")
        time.sleep(0.2)


def by_service(note: dict) -> bool:
    return note.get("by") == "acme service"


def stamp(text: str) -> float:
    return time.mktime(time.strptime(text, "%Y-%m-%dT%H:%M:%SZ"))


def test_the_acme_service_issues_renews_and_retries(client, release, pebble_image, pebble_tls, tmp_path):
    settings = {
        "SITE_HOSTS": ",".join([*NAMES, "localhost", "127.0.0.1"]),
        "TLS_MODE": "acme",
        "ACME_EMAIL": "ops@site.test",
        "ACME_DIRECTORY": "https://pebble:14000/dir",
        "ACME_CA_ROOT": str(pebble_tls / "ca.pem"),
        "ACME_CHECK_SECONDS": "3600",
        "ACME_RETRY_SECONDS": "1",
    }
    with running_stack(tmp_path / "env", release, client, **settings) as site:
        pebble = None
        try:
            # No CA yet: the service's attempts fail, each retried twice as late as the last.
            failed = wait_for_note(site, lambda n: by_service(n) and n["failures"] >= 1)
            count = failed[-1]["failures"]
            failed += wait_for_note(site, lambda n: by_service(n) and n["failures"] > count)
            delays = {n["failures"]: stamp(n["next_attempt"]) - stamp(n["time"]) for n in failed if by_service(n)}
            assert len(delays) >= 2 and all(delay == 2 ** (k - 1) for k, delay in delays.items()), failed
            assert all(n["outcome"] == "failed" and n["error"] for n in failed if by_service(n))
            note = ok(site.switcher("status", "--env", site.name)).stdout
            assert "the last certificate renewal failed" in note and "next attempt" in note, note

            # pebble answers: the service's next attempt issues for both names, chaining to its root.
            pebble, root_pem = start_pebble(client, pebble_image, site, pebble_tls)
            root = tmp_path / "pebble-root.pem"
            root.write_text(root_pem)
            wait_for_note(site, lambda n: by_service(n) and n["outcome"] == "ok", seconds=60)
            first = served(site, root)
            served(site, root, NAMES[1])
            assert sorted(v for k, v in first["subjectAltName"]) == sorted(NAMES)
            status = tls_status(site)
            assert status["certificate"]["names"] == list(NAMES) and "Pebble" in status["certificate"]["issuer"]
            assert status["last_renewal"]["failures"] == 0

            # Due (20 days < 30): the service renews at its next check (at start, here).
            issued_at = status["last_renewal"]["time"]
            site.container("acme").restart(timeout=10)
            wait_for_note(site, lambda n: by_service(n) and n["outcome"] == "ok" and n["time"] != issued_at)
            second = served(site, root)
            assert second["sha256"] != first["sha256"], "new connections get the renewed certificate"

            # A renewal under load: no request fails; the next connection gets the new certificate.
            urllib3.disable_warnings(urllib3.exceptions.InsecureRequestWarning)
            url = f"https://127.0.0.1:{site.settings['HTTPS_PORT']}/healthz"  # verified apart: served()
            with Load(url, False, clients=16) as kept, Load(url, False, clients=16, keepalive=False) as fresh:
                time.sleep(2)
                renewed = time.monotonic()
                result = ok(site.switcher("tls", "renew", "--force", "--env", site.name))
                third = served(site, root)
                time.sleep(2)
            assert "renewed (acme)" in result.stderr and "new connections get it now" in result.stderr, result.stderr
            assert third["sha256"] != second["sha256"]
            for label, load in (("keep-alive", kept), ("new connections", fresh)):
                failures = load.failures()
                assert failures == [], f"{label}: {len(failures)} of {len(load.answers)} failed, e.g. {failures[:3]}"
                assert len([a for a in load.answers if a.started > renewed]) > 20, f"{label}: too little load after"

            # The CA cannot be reached: a renewal fails in one line, the certificate in use stays.
            network = client.networks.get(f"{site.project}_default")
            network.disconnect(pebble)
            failed = site.switcher("tls", "renew", "--force", "--env", site.name)
            assert failed.returncode != 0 and "the ACME client failed" in failed.stderr
            assert "Traceback" not in failed.stderr
            assert served(site, root)["sha256"] == third["sha256"]
            assert tls_status(site)["last_renewal"]["outcome"] == "failed"
            assert "the last certificate renewal failed" in ok(site.switcher("status", "--env", site.name)).stdout
            # The service's own check fails too, and is retried...
            site.container("acme").restart(timeout=10)
            wait_for_note(site, lambda n: by_service(n) and n["outcome"] == "failed")
            assert served(site, root)["sha256"] == third["sha256"]
            # ...until the CA is back: its next attempt succeeds without anyone asking.
            network.connect(pebble, aliases=["pebble"])
            wait_for_note(site, lambda n: by_service(n) and n["outcome"] == "ok", seconds=60)
            assert served(site, root)["sha256"] != third["sha256"]
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
