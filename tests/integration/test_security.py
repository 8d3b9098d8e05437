"""Issue #7, tried as an attacker would: every bad input or fault is sent for real, and the test
shows that nothing gets through and nothing is lost. One stack, bound to the address of a test
network whose clients (in a network namespace) reach it with their own addresses."""

from __future__ import annotations

import http.client
import ipaddress
import json
import re
import socket
import stat
import subprocess
import time
from pathlib import Path

import pytest

from .stackenv import StackEnv, ok, running_stack
from .testnet import client_network

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def net():
    with client_network(clients=3) as network:
        yield network


@pytest.fixture(scope="module")
def site(tmp_path_factory, release, client, net):
    """Client .2 of the test network is a trusted proxy; .3 and .4 are plain clients."""
    settings = {
        "BIND_ADDRESS": net.host,
        "SITE_HOSTS": f"localhost,127.0.0.1,{net.host}",
        "TRUSTED_PROXIES": f"{net.client(2)}",
    }
    with running_stack(tmp_path_factory.mktemp("security"), release, client, **settings) as env:
        yield env


@pytest.fixture
def maintenance_off(site):
    yield
    ok(site.switcher("maintenance", "off", "--env", site.name))


# -- maintenance: what lets a request through --------------------------------------------------
def test_allow_list_sees_the_real_client_whatever_it_sends(site, net, maintenance_off):
    allowed, other, proxy = net.client(3), net.client(4), net.client(2)
    ok(site.switcher("maintenance", "on", "--env", site.name, "--allow", allowed, "--allow", "2001:db8::/64"))
    port, cert = site.settings["HTTPS_PORT"], str(site.cert)

    def status(source: str, **headers: str) -> int:
        return net.request(source, port, cert, "/", headers=headers)["status"]

    assert status(allowed) == 200, "an allowed client passes"
    forged = {"X-Real-IP": allowed, "X-Forwarded-For": allowed, "Forwarded": f"for={allowed}", "X-Client-IP": allowed}
    assert status(other) == 503
    assert status(other, **forged) == 503, "headers a client sends never make it allowed"
    # A trusted proxy (TRUSTED_PROXIES) is believed about the client it forwards, IPv6 too …
    assert status(proxy) == 503, "the proxy itself is not allowed"
    assert status(proxy, **{"X-Forwarded-For": allowed}) == 200
    assert status(proxy, **{"X-Forwarded-For": f"{allowed}, {other}"}) == 503, "the nearest untrusted hop counts"
    assert status(proxy, **{"X-Forwarded-For": "2001:db8::5"}) == 200
    assert status(proxy, **{"X-Forwarded-For": "2001:db9::5"}) == 503
    # … and nobody else is.
    assert status(other, **{"X-Forwarded-For": allowed}) == 503
    with site.session() as http:  # this host, to the same published port
        assert http.get(site.live_url + "/", headers=forged, timeout=10).status_code == 503


def test_allow_takes_networks_and_refuses_anything_else(site, net, maintenance_off):
    network = f"{net.network.network_address}/30"  # .0 - .3: client .3 in, .4 out
    ok(site.switcher("maintenance", "on", "--env", site.name, "--allow", network))
    port, cert = site.settings["HTTPS_PORT"], str(site.cert)
    assert net.request(net.client(3), port, cert)["status"] == 200
    assert net.request(net.client(4), port, cert)["status"] == 503
    before = site.status()["maintenance"]
    for bad in ("", "everyone", "10.0.0.0/33", "203.0.113.7 203.0.113.8"):
        result = site.switcher("maintenance", "on", "--env", site.name, "--allow", bad)
        assert result.returncode == 3, bad
        assert "is not an IP address or CIDR network" in result.stderr and "Traceback" not in result.stderr
    assert site.status()["maintenance"] == before, "a refused --allow changes nothing"
    loopback = ok(site.switcher("maintenance", "on", "--env", site.name, "--allow", "127.0.0.1"))
    assert "never sees 127.0.0.1/32" in loopback.stderr and "userland proxy" in loopback.stderr


def echo_upstream(site: StackEnv):
    """Green replaced by a server that answers with the request headers it got; live -> green."""
    site.container("app-green").remove(force=True)
    address = str(ipaddress.ip_network(site.settings["SUBNET"])[12])  # green's fixed address
    script = (
        "import http.server, json\n"
        "class H(http.server.BaseHTTPRequestHandler):\n"
        "    protocol_version = 'HTTP/1.1'\n"
        "    def do_GET(self):\n"
        "        body = json.dumps(dict(self.headers.items())).encode()\n"
        "        self.send_response(200); self.send_header('Content-Length', str(len(body)))\n"
        "        self.send_header('X-Release', 'echo'); self.end_headers(); self.wfile.write(body)\n"
        "http.server.ThreadingHTTPServer(('0.0.0.0', 8000), H).serve_forever()\n"
    )
    container = site.client.containers.create(
        f"switcher/site:{site.release}",
        ["python3", "-c", script],
        entrypoint=[],
        name=f"{site.project}-echo",
        labels={"io.switcher.project": site.project},
    )
    site.client.networks.get(f"{site.project}_default").connect(container, ipv4_address=address)
    container.start()
    site.set_live_flag(green=True)
    return container


def test_the_site_never_sees_the_bypass_or_forged_forwarding_headers(site, maintenance_off):
    ok(site.switcher("maintenance", "on", "--env", site.name))
    token = ok(site.switcher("maintenance", "token", "--env", site.name)).stdout.strip()
    echo = echo_upstream(site)
    try:
        headers = {
            "X-Maintenance-Bypass": token,
            "X-Forwarded-For": "198.51.100.1",
            "X-Real-IP": "198.51.100.1",
            "Forwarded": "for=198.51.100.1",
            "X-Forwarded-Host": "evil.example",
            "Cookie": f"a=1; switcher_bypass={token}; Switcher_Bypass=x; b=two=2",
        }
        with site.session() as http:
            for _ in range(20):
                answer = http.get(site.live_url + "/echo", headers=headers, timeout=10)
                if answer.headers.get("X-Release") == "echo":
                    break
                time.sleep(0.5)
        assert answer.status_code == 200 and answer.headers["X-Release"] == "echo", answer.text[:200]
        seen = {key.lower(): value for key, value in answer.json().items()}
        assert "x-maintenance-bypass" not in seen
        assert seen["cookie"] == "a=1; b=two=2", "every cookie but the bypass reaches the site"
        assert token not in json.dumps(seen)
        assert seen["x-forwarded-for"] == seen["x-real-ip"] != "198.51.100.1", "the lb's own view of the client"
        assert "forwarded" not in seen and "x-forwarded-host" not in seen
        assert seen["x-forwarded-proto"] == "https"
    finally:
        echo.remove(force=True)
        site.set_live_flag(green=False)
        site.up()  # green back from the compose definition


# -- TLS, host names, static files ---------------------------------------------------------------
def handshake(site: StackEnv, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        ["openssl", "s_client", "-connect", f"{site.bind_address}:{site.settings['HTTPS_PORT']}", *args],
        input="",
        capture_output=True,
        text=True,
        timeout=15,
        check=False,
    )


def test_tls_is_mozilla_intermediate(site):
    weak = handshake(site, "-tls1_2", "-cipher", "AES128-SHA")
    assert weak.returncode != 0 and "Cipher is (NONE)" in weak.stdout
    suites = subprocess.run(["openssl", "ciphers", "ALL:COMPLEMENTOFALL"], capture_output=True, text=True, check=True)
    accepted = {
        suite
        for suite in suites.stdout.strip().split(":")
        if handshake(site, "-tls1_2", "-cipher", suite).returncode == 0
    }
    assert accepted == {"ECDHE-RSA-AES128-GCM-SHA256", "ECDHE-RSA-AES256-GCM-SHA384", "ECDHE-RSA-CHACHA20-POLY1305"}
    assert handshake(site, "-tls1_1").returncode != 0
    modern = handshake(site, "-tls1_3")
    assert modern.returncode == 0 and "TLSv1.3" in modern.stdout


def test_unknown_host_names_get_no_redirect_and_no_page(site):
    connection = http.client.HTTPConnection(site.bind_address, int(site.settings["HTTP_PORT"]), timeout=10)
    connection.request("GET", "/x", headers={"Host": "evil.example"})
    with pytest.raises((http.client.RemoteDisconnected, ConnectionResetError)):
        connection.getresponse()  # 444: closed without an answer
    with site.session() as browser:
        known = browser.get(site.http_url + "/x", allow_redirects=False, timeout=10)
        assert known.status_code == 301 and known.headers["Location"] == f"{site.live_url}/x"
        unknown = browser.get(site.live_url + "/", headers={"Host": "evil.example"}, timeout=10)
        assert unknown.status_code == 421 and "X-Release" not in unknown.headers
        preview = browser.get(site.preview_url + "/", headers={"Host": "evil.example"}, timeout=10)
        assert preview.status_code == 421


def test_static_files_dot_files_and_caching_of_missing_files(site, client):
    client.containers.run(
        f"switcher/base:{site.release}",
        ["sh", "-c", "echo secret > /s/.releases/abc.0123456789ab.json && echo x > /s/.x"],
        volumes={f"{site.project}_static": {"bind": "/s", "mode": "rw"}},
        remove=True,
    )
    with site.session() as http:
        dot_files = (f"/static/.releases/{site.release}.json", "/static/.releases/abc.0123456789ab.json", "/static/.x")
        for path in dot_files:
            answer = http.get(site.live_url + path, timeout=10)
            assert answer.status_code == 404, path
            assert answer.headers["Cache-Control"] == "no-store", path
        missing = http.get(site.live_url + "/static/press/css/gone.0123456789ab.css", timeout=10)
        assert missing.status_code == 404 and "immutable" not in missing.headers.get("Cache-Control", "")
        css = re.search(r'href="(/static/[^"]+\.css)"', http.get(site.live_url + "/", timeout=10).text).group(1)
        present = http.get(site.live_url + css, timeout=10)
        assert present.status_code == 200 and "immutable" in present.headers["Cache-Control"]


def test_writes_are_rate_limited_per_client_and_reads_are_not(site):
    with site.session() as http:
        posts = [http.post(site.live_url + "/orders", timeout=10).status_code for _ in range(60)]
        gets = [http.get(site.live_url + "/", timeout=10).status_code for _ in range(60)]
    assert set(posts) == {200, 429} and posts[:15] == [200] * 15, posts
    assert set(gets) == {200}


def test_test_aids_are_not_in_production(site):
    with site.session() as http:
        assert http.get(site.live_url + "/slow?seconds=5", timeout=10).status_code == 404


# -- the database and memcached ------------------------------------------------------------------
def test_database_and_memcached_are_unreachable_from_the_host(site):
    for service in ("db", "memcached"):
        attrs = site.container(service).attrs
        assert attrs["HostConfig"]["NetworkMode"] == "none", service
        assert not any(n.get("IPAddress") for n in attrs["NetworkSettings"]["Networks"].values()), service
    addresses = [
        n["IPAddress"]
        for container in site.client.containers.list(filters={"label": f"io.switcher.project={site.project}"})
        for n in container.attrs["NetworkSettings"]["Networks"].values()
        if n.get("IPAddress")
    ]
    assert len(addresses) >= 3
    for address in addresses:
        for port in (5432, 11211):
            with socket.socket() as probe:
                probe.settimeout(2)
                assert probe.connect_ex((address, port)) != 0, f"{address}:{port} answers"
    code, _ = site.container("lb").exec_run(["test", "-e", "/run/postgresql/.s.PGSQL.5432"])
    assert code != 0, "the lb must not reach the database"
    with site.session() as http:  # and the site still uses both
        first = http.get(site.live_url + "/press/?sockets", timeout=10).text
        assert "Ångström-scale optics" in first
        assert http.get(site.live_url + "/press/?sockets", timeout=10).text == first, "served from memcached"


SITE_CONNECTS = """
import os, sys, psycopg
try:
    with psycopg.connect(host="/run/postgresql", dbname=os.environ["DB_NAME"], user=sys.argv[1],
                         password=os.environ["DB_PASSWORD"], connect_timeout=5) as connection:
        row = connection.execute("select rolsuper from pg_roles where rolname = current_user").fetchone()
        print("super" if row[0] else "plain")
except psycopg.OperationalError as error:
    print("refused", str(error).strip().splitlines()[-1])
"""


def test_the_site_has_its_own_role_and_cannot_become_the_superuser(site):
    as_postgres = site.exec("app-blue", ["python3", "-c", SITE_CONNECTS, "postgres"])
    assert as_postgres.startswith("refused"), as_postgres
    assert site.exec("app-blue", ["python3", "-c", SITE_CONNECTS, "site"]).strip() == "plain"
    query = "select pg_get_userbyid(datdba) from pg_database where datname = 'site'"
    owner = site.exec("db", ["psql", "-At", "-d", "postgres", "-c", query])
    assert owner.strip() == "site"


# -- secrets and privileges -----------------------------------------------------------------------
def mountpoint(site: StackEnv, volume: str) -> Path:
    return Path(site.client.volumes.get(volume).attrs["Mountpoint"])


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_secrets_live_in_private_files_of_the_environment(site):
    tls, store = mountpoint(site, f"{site.project}_tls"), mountpoint(site, f"{site.project}_switcher")
    assert (mode(tls), mode(tls / "key.pem"), tls.stat().st_uid, tls.stat().st_gid) == (0o750, 0o600, 0, 33)
    served = tls / (tls / "current").read_text().strip()  # chain and key, loaded per handshake by www-data
    for pem in (served, tls / "site.pem"):
        assert (mode(pem), pem.stat().st_uid, pem.stat().st_gid) == (0o640, 0, 33), pem
    assert (mode(store), mode(store / "credentials.env")) == (0o700, 0o600)
    assert sorted(p.name for p in (site.directory / "state").rglob("*") if p.is_file()) == ["current-env"], (
        "nothing of the environment is kept in the checkout"
    )
    secrets = site.credentials()
    for container in site.client.containers.list(all=True, filters={"label": f"io.switcher.project={site.project}"}):
        env = "\n".join(container.attrs["Config"].get("Env") or [])
        service = container.labels.get("com.docker.compose.service")
        assert secrets["DB_SUPERUSER_PASSWORD"] not in env, container.name
        assert secrets["MAINTENANCE_TOKEN"] not in env, container.name
        site_container = service in ("app-blue", "app-green", "cron")
        assert (secrets["DB_PASSWORD"] in env) == site_container, container.name
        assert (secrets["DJANGO_SECRET_KEY"] in env) == site_container, container.name
    processes = subprocess.run(["ps", "-eo", "args"], capture_output=True, text=True, check=True).stdout
    for value in secrets.values():
        assert value not in processes


def test_every_container_runs_with_least_privilege(site):
    for container in site.client.containers.list(filters={"label": f"io.switcher.project={site.project}"}):
        host = container.attrs["HostConfig"]
        service = container.labels.get("com.docker.compose.service")
        assert host["CapDrop"] == ["ALL"], container.name
        assert "no-new-privileges:true" in host["SecurityOpt"], container.name
        assert host["ReadonlyRootfs"] is True, container.name
        assert host["Memory"] > 0 and host["PidsLimit"] > 0, container.name
        expected = {"NET_BIND_SERVICE", "SETUID", "SETGID", "CHOWN"} if service == "lb" else set()
        assert {cap.removeprefix("CAP_") for cap in host["CapAdd"] or []} == expected, container.name
    effective = site.exec("app-blue", ["sh", "-c", "grep CapEff /proc/1/status"]).split()[1]
    assert int(effective, 16) == 0


def test_logs_have_no_error_lines_and_are_rotated(site):
    logs = site.container("app-blue").logs().decode("utf-8", "replace")
    assert "Control server error" not in logs and "Read-only file system" not in logs
    assert " [ERROR] " not in logs
    site.exec("cron", ["sh", "-c", "dd if=/dev/zero of=/var/lib/site/logs/site-big.log bs=1M count=51 status=none"])
    cron_log = site.container("cron").logs().decode()
    job = re.search(r"platform job: \S+ \S+ \S+ \S+ \S+ (.+)", cron_log).group(1)
    site.exec("cron", ["sh", "-c", job])  # what the cron container runs hourly
    listing = site.exec("cron", ["ls", "-l", "/var/lib/site/logs"])
    assert "site-big.log.1" in listing, listing
    assert re.search(r" 0 \w+ +\d+ [\d:]+ site-big\.log$", listing, flags=re.M), "the log goes on, empty"


def test_the_base_gets_security_updates(site, client):
    sources = client.containers.run(
        f"switcher/base:{site.release}",
        ["sh", "-c", "cat /etc/apt/sources.list /etc/apt/sources.list.d/* 2>/dev/null; true"],
        network_disabled=True,
        remove=True,
    ).decode()
    assert "bookworm-security" in sources and "bookworm-updates" in sources, sources
