"""Maintenance mode: the release's page with 503 and Retry-After, a bypass for operators,
static files and health still served, and no request dropped when it is turned on or off."""

from __future__ import annotations

import re
import time

import pytest

from .load import Load
from .stackenv import ok, running_stack

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def site(tmp_path_factory, release, client):
    with running_stack(tmp_path_factory.mktemp("maintenance"), release, client) as env:
        yield env


@pytest.fixture
def maintenance_off(site):
    yield
    ok(site.switcher("maintenance", "off", "--env", site.name))


@pytest.mark.parametrize("keepalive", [True, False])
def test_turning_it_on_and_off_drops_no_request(site, maintenance_off, keepalive):
    with Load(site.live_url + "/", str(site.cert), keepalive=keepalive) as load:
        ok(site.switcher("maintenance", "on", "--env", site.name))
        on = time.monotonic()
        time.sleep(1.5)
        off_started = time.monotonic()
        ok(site.switcher("maintenance", "off", "--env", site.name))
        off = time.monotonic()
        time.sleep(1.0)
    statuses = {a.status for a in load.answers}
    assert statuses <= {200, 503}, f"unexpected answers: {[a for a in load.answers if a.status not in (200, 503)][:3]}"
    during = {a.status for a in load.answers if a.started > on and a.finished < off_started}
    after = {a.status for a in load.answers if a.started > off}
    assert during == {503} and after == {200}


def test_maintenance_page_bypass_static_and_health(site, maintenance_off):
    with site.session() as http:
        assets = re.findall(r'href="(/static/[^"]+\.css)"', http.get(site.live_url + "/", timeout=10).text)
    ok(
        site.switcher(
            "maintenance", "on", "--env", site.name, "--message", "Upgrading <the> archive", "--retry-after", "120"
        )
    )
    token = ok(site.switcher("maintenance", "token", "--env", site.name)).stdout.strip()
    with site.session() as http:
        page = http.get(site.live_url + "/press/", timeout=10)
        assert page.status_code == 503
        assert page.headers["Retry-After"] == "120"
        assert "down for maintenance" in page.text and "Upgrading &lt;the&gt; archive" in page.text
        assert "X-Release" not in page.headers, "the page comes from nginx, not from the site"
        assert http.post(site.live_url + "/orders", timeout=10).status_code == 503
        assert http.get(site.live_url + assets[0], timeout=10).status_code == 200
        health = http.get(site.live_url + "/healthz", timeout=10)
        assert health.status_code == 200 and health.json()["release"] == site.release
        by_cookie = http.get(site.live_url + "/press/", cookies={"switcher_bypass": token}, timeout=10)
        assert by_cookie.status_code == 200 and by_cookie.headers["X-Release"] == site.release
        by_header = http.get(site.live_url + "/", headers={"X-Maintenance-Bypass": token}, timeout=10)
        assert by_header.status_code == 200
        wrong = http.get(site.live_url + "/", headers={"X-Maintenance-Bypass": "guess"}, timeout=10)
        assert wrong.status_code == 503
        assert http.get(site.preview_url + "/", timeout=10).status_code == 200, "preview is for operators"
    data = site.status()
    assert data["maintenance"]["message"] == "Upgrading <the> archive"
    assert "token" not in data["maintenance"]
    assert "maintenance  ON" in ok(site.switcher("status", "--env", site.name)).stdout


def test_it_survives_an_lb_restart_and_a_deploy_and_promote(site, maintenance_off):
    ok(site.switcher("maintenance", "on", "--env", site.name, "--message", "Moving house"))
    site.container("lb").restart(timeout=10)
    site.wait_healthy("lb")
    with site.session() as http:
        assert http.get(site.live_url + "/", timeout=10).status_code == 503
    # The old guide's upgrade: enter maintenance, migrate, check through the bypass, go live.
    ok(site.switcher("deploy", site.release, "--env", site.name, "--promote"))
    token = ok(site.switcher("maintenance", "token", "--env", site.name)).stdout.strip()
    with site.session() as http:
        page = http.get(site.live_url + "/", timeout=10)
        assert page.status_code == 503 and "Moving house" in page.text
        assert http.get(site.live_url + "/", cookies={"switcher_bypass": token}, timeout=10).status_code == 200
    ok(site.switcher("maintenance", "off", "--env", site.name))
    with site.session() as http:
        assert http.get(site.live_url + "/", timeout=10).status_code == 200
    assert site.status()["maintenance"] is None


def test_the_reproduced_bypass_by_header_is_closed(site, maintenance_off):
    """Issue #7: `--allow 203.0.113.7`, then a request claiming that address in X-Real-IP got 200."""
    ok(site.switcher("maintenance", "on", "--env", site.name, "--allow", "203.0.113.7"))
    forged = {"X-Real-IP": "203.0.113.7", "X-Forwarded-For": "203.0.113.7", "Forwarded": "for=203.0.113.7"}
    with site.session() as http:
        assert http.get(site.live_url + "/", headers=forged, timeout=10).status_code == 503
