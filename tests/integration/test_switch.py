"""deploy, promote and rollback with live traffic: zero failed requests, and the truth told."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import threading
import time

import pytest
import requests

from .load import Load
from .stackenv import SWITCHER, StackEnv, build_site_release, derived_release, ok, remove_release, running_stack

pytestmark = pytest.mark.integration


def css_variant(rule: str):
    def edit(site_dir) -> None:
        with open(site_dir / "press/static/press/css/site.css", "a") as css:
            css.write(f"\n{rule}\n")

    return edit


@pytest.fixture(scope="module")
def next_release(release, client, tmp_path_factory):
    """A second release of the site, so the colours answer with different X-Release and CSS."""
    tag = build_site_release(f"{release}-next", tmp_path_factory.mktemp("next"), css_variant("main { color: #111; }"))
    yield tag
    remove_release(client, tag)


@pytest.fixture(scope="module")
def third_release(release, client, tmp_path_factory):
    tag = build_site_release(f"{release}-third", tmp_path_factory.mktemp("third"), css_variant("main { color: #222; }"))
    yield tag
    remove_release(client, tag)


@pytest.fixture(scope="module")
def site(tmp_path_factory, release, client, next_release, third_release):
    """The stack of this module. It asks for both test releases so that it is torn down before
    them: their images are removed when no container uses them any more."""
    # The default site's test settings, for /slow (a test aid, absent in production); many
    # orders from one address, so no write limit to speak of.
    settings = {"RETAIN_RELEASES": "2", "SETTINGS_MODULE": "pressroom.settings_test", "WRITE_RATE_LIMIT": "100000"}
    with running_stack(tmp_path_factory.mktemp("switch"), release, client, **settings) as env:
        yield env


def summary(load: Load) -> str:
    failures = load.failures()
    return f"{len(failures)} of {len(load.answers)} failed, e.g. {failures[:3]}"


def slow_requests(site: StackEnv, count: int = 3) -> tuple[list[threading.Thread], list]:
    """Requests of 2 s sent just before a switch; they must finish on the colour that took them."""
    results: list = []

    def one() -> None:
        with site.session() as http:
            try:
                response = http.get(site.live_url + "/slow?seconds=2", timeout=20)
                results.append((response.status_code, response.headers.get("X-Release")))
            except requests.RequestException as error:
                results.append((0, str(error)))

    threads = [threading.Thread(target=one) for _ in range(count)]
    for thread in threads:
        thread.start()
    time.sleep(0.5)
    return threads, results


def live_release(site: StackEnv) -> str:
    data = site.status()
    return data["colors"][data["live"]]["release"]


def test_deploy_beside_live_traffic(site, next_release):
    with Load(site.live_url + "/press/", str(site.cert)) as load:
        result = ok(site.switcher("deploy", next_release, "--env", site.name))
    assert load.failures() == [], summary(load)
    assert len(load.answers) > 50
    assert load.releases_started_after(0) == {site.release}, "the new release leaked onto the live listener"
    assert "step 10/10 publish" in result.stderr
    data = site.status()
    assert data["live"] == "blue"
    assert data["colors"]["green"] == {"release": next_release, "state": "running", "health": "healthy"}
    with site.session() as http:
        assert http.get(site.preview_url + "/healthz", timeout=10).headers["X-Release"] == next_release


def test_promote_and_rollback_ten_times_under_load(site, next_release):
    assert site.status()["colors"]["green"]["release"] == next_release, "runs after the deploy test"
    for number in range(10):
        before = site.status()
        old_release = before["colors"][before["live"]]["release"]
        new_release = before["colors"][before["idle"]]["release"]
        command = ["promote"] if number % 2 == 0 else ["rollback"]
        keepalive = number % 4 < 2
        with Load(site.live_url + "/press/", str(site.cert), keepalive=keepalive) as load:
            threads, slow = slow_requests(site)
            ok(site.switcher(*command, "--env", site.name))
            verified = time.monotonic()
            time.sleep(0.5)
            for thread in threads:
                thread.join(timeout=30)
        label = f"switch {number + 1} ({command[0]}, keepalive={keepalive})"
        assert load.failures() == [], f"{label}: {summary(load)}"
        assert len(load.answers) > 50, f"{label}: too little load to tell: {len(load.answers)} requests"
        assert load.releases_started_after(verified) == {new_release}, label
        assert slow == [(200, old_release)] * 3, f"{label}: requests in flight at the switch: {slow}"
        after = site.status()
        assert after["live"] == before["idle"], label
        assert after["colors"][after["idle"]]["state"] == "running", "the old colour stays warm"


def test_orders_survive_ten_switches(site):
    """The old guide's orderid.txt, carried by hand before: now one counter in the shared state
    volume, used by both colours. Orders placed across 10 switches: unique, gap-free, none lost.
    (It was 20 switches, 48 s; 10 show the same and keep `make test` within its time.)"""
    with Load(site.live_url + "/orders", str(site.cert), clients=8, method="POST") as load:
        for number in range(10):
            ok(site.switcher("promote" if number % 2 == 0 else "rollback", "--env", site.name))
    assert load.failures() == [], summary(load)
    ids = [json.loads(answer.body)["id"] for answer in load.answers]
    assert len(ids) > 100
    assert len(set(ids)) == len(ids), "an order id was handed out twice"
    assert sorted(ids) == list(range(min(ids), max(ids) + 1)), "the order ids have a gap"
    counter = site.exec(f"app-{site.status()['live']}", ["cat", "/var/lib/site/state/orderid.txt"])
    assert int(counter) == max(ids), "an acknowledged order is missing from the counter"
    releases = {answer.release for answer in load.answers}
    assert len(releases) == 2, f"both releases took orders: {releases}"


def test_history_records_every_mutation(site):
    result = ok(site.switcher("history", "--env", site.name, "--json", "-n", "100"))
    records = [json.loads(line) for line in result.stdout.splitlines()]
    actions = [r["action"] for r in records]
    assert actions.count("deploy") >= 1 and actions.count("promote") >= 5 and actions.count("rollback") >= 5
    for record in records:
        assert {"time", "user", "host", "env", "action", "color", "release", "outcome", "duration"} <= set(record)
    assert "recent changes" in ok(site.switcher("status", "--env", site.name)).stdout


def flag_and_history(site: StackEnv) -> tuple[str, int]:
    records = ok(site.switcher("history", "--env", site.name, "--json", "-n", "100000")).stdout.splitlines()
    return site.status()["live"], len(records)


def one_line_error(result) -> str:
    lines = result.stderr.strip().splitlines()
    assert lines and lines[-1].startswith("switcher: error: "), result.stderr
    assert "Traceback" not in result.stderr
    return lines[-1]


def test_dry_run_changes_nothing(site):
    before = flag_and_history(site)
    result = ok(site.switcher("promote", "--env", site.name, "--dry-run"))
    assert "dry run" in result.stderr and "switch:" in result.stderr
    ok(site.switcher("deploy", site.release, "--env", site.name, "--dry-run", "--promote"))
    assert flag_and_history(site) == before


def test_refusals_change_nothing(site):
    before = flag_and_history(site)
    idle = site.status()["idle"]

    unknown = site.switcher("deploy", "no-such-release", "--env", site.name)
    assert unknown.returncode == 5 and "no-such-release" in one_line_error(unknown)

    bad_colour = site.switcher("promote", "red", "--env", site.name)
    assert bad_colour.returncode == 2

    site.container(f"app-{idle}").stop(timeout=10)
    try:
        unhealthy = site.switcher("promote", idle, "--env", site.name)
        assert unhealthy.returncode == 6, unhealthy.stderr
        assert "not healthy" in one_line_error(unhealthy)
    finally:
        site.container(f"app-{idle}").start()
        site.wait_healthy(f"app-{idle}")

    site.exec("lb", ["sh", "-c", "echo 'this is not nginx' > /etc/nginx/switcher/zz-broken.conf"])
    try:
        broken = site.switcher("promote", "--env", site.name)
        assert broken.returncode == 3
        assert "nginx configuration is invalid" in one_line_error(broken)
    finally:
        site.exec("lb", ["rm", "-f", "/etc/nginx/switcher/zz-broken.conf"])

    with site.lock_held_elsewhere("promote green"):
        held = site.switcher("promote", "--env", site.name)
        assert held.returncode == 7
        assert "alice@elsewhere" in one_line_error(held)
        assert "locked by" in ok(site.switcher("status", "--env", site.name)).stdout
        ok(site.switcher("unlock", "--env", site.name))
    assert flag_and_history(site)[0] == before[0]


@pytest.fixture
def broken_release(release, client):
    """A release whose site image cannot start: its server exits at once."""
    tag = derived_release(
        client, release, f"{release}-broken", 'CMD ["python3", "-c", "raise SystemExit(\'this release cannot start\')"]'
    )
    yield tag
    client.images.remove(f"switcher/site:{tag}", force=True)


def test_failed_deploy_stops_the_idle_colour_and_leaves_live_alone(site, broken_release):
    before = site.status()
    idle, live = before["idle"], before["live"]
    with Load(site.live_url + "/press/", str(site.cert)) as load:
        failed = site.switcher("deploy", broken_release, "--env", site.name)
    assert failed.returncode == 6, failed.stderr
    assert "this release cannot start" in failed.stderr, "the failure shows the container's last log lines"
    assert f"stopping app-{idle}" in failed.stderr
    assert load.failures() == [], summary(load)
    after = site.status()
    assert after["live"] == live
    assert after["colors"][idle]["state"] == "exited"
    assert after["colors"][live] == before["colors"][live]
    history = ok(site.switcher("history", "--env", site.name, "--json", "-n", "1")).stdout
    assert json.loads(history)["outcome"] == "failed"

    # The failed release never goes live: promote refuses it, and rollback brings the colour
    # back with its last release that deployed ok instead (reproduced in issue #7: it used to
    # start the failed colour and make it live).
    refused = site.switcher("promote", "--env", site.name)
    assert refused.returncode == 8, refused.stderr
    assert f"will not make {idle} live: the deploy of {broken_release} to {idle} failed" in one_line_error(refused)
    assert site.status()["live"] == live
    with Load(site.live_url + "/press/", str(site.cert)) as load:
        rolled = ok(site.switcher("rollback", "--env", site.name))
    assert f"rolling {idle} back to its last good release {before['colors'][idle]['release']}" in rolled.stderr
    assert load.failures() == [], summary(load)
    assert broken_release not in {answer.release for answer in load.answers}
    back = site.status()
    assert back["live"] == idle
    good = before["colors"][idle]["release"]
    assert back["colors"][idle] == {"release": good, "state": "running", "health": "healthy"}
    ok(site.switcher("rollback", "--env", site.name))  # as it was
    assert site.status()["live"] == live


def test_killed_switcher_at_each_step_leaves_a_serving_site(site):
    steps = ["gate", "nginx-check", "publish", "switch", "verify", "drain"]
    for number, step in enumerate(steps, start=1):
        target = site.status()["idle"]
        with Load(site.live_url + "/press/", str(site.cert)) as load:
            process = subprocess.Popen(
                [str(SWITCHER), "promote", target, "--env", site.name],
                env={
                    **os.environ,
                    "SWITCHER_ENV_DIR": str(site.directory / "env"),
                    "SWITCHER_STATE_DIR": str(site.directory / "state"),
                },
                stderr=subprocess.PIPE,
                text=True,
            )
            seen = []
            for line in process.stderr:
                seen.append(line)
                if line.startswith(f"switcher: step {number}/"):
                    process.send_signal(signal.SIGKILL)
                    break
            process.wait(timeout=60)
            killed_live = site.status()["live"]
            assert killed_live in ("blue", "green")
            again = site.switcher("promote", target, "--env", site.name)
        assert again.returncode == 0, f"after a kill at {step}: {again.stderr}\n{''.join(seen)}"
        assert load.failures() == [], f"kill at {step}: {summary(load)}"
        assert site.status()["live"] == target, step


def test_rollback_starts_a_stopped_colour_again(site):
    before = site.status()
    ok(site.switcher("promote", "--env", site.name, "--stop-old"))
    stopped = site.status()
    assert stopped["colors"][before["live"]]["state"] == "exited"
    with Load(site.live_url + "/press/", str(site.cert)) as load:
        ok(site.switcher("rollback", "--env", site.name))
    assert load.failures() == [], summary(load)
    after = site.status()
    assert after["live"] == before["live"]
    assert after["colors"][after["live"]]["health"] == "healthy"


def stylesheet(http, url: str) -> str:
    return re.search(r'href="(/static/press/css/site\.[0-9a-f]{12}\.css)"', http.get(url, timeout=10).text).group(1)


def test_static_files_across_releases_and_pruning(site, third_release):
    """The old guide's rsync merge: pages of the old and the new release both find their
    assets after a promote; files of releases beyond RETAIN_RELEASES (2 here) are removed."""
    before = site.status()
    assert before["colors"]["blue"]["release"] != before["colors"]["green"]["release"]
    with site.session() as http:
        live_css, idle_css = stylesheet(http, site.live_url + "/"), stylesheet(http, site.preview_url + "/")
        assert live_css != idle_css
        for url in (live_css, idle_css):
            assert http.get(site.live_url + url, timeout=10).status_code == 200, url
    ok(site.switcher("deploy", third_release, "--env", site.name, "--promote"))
    after = site.status()
    assert after["colors"][after["live"]]["release"] == third_release
    with site.session() as http:
        third_css = stylesheet(http, site.live_url + "/")
        old_page_css = stylesheet(http, site.preview_url + "/")  # the release that was live
        assert old_page_css == live_css
        for url in (third_css, old_page_css):
            assert http.get(site.live_url + url, timeout=10).status_code == 200, url
        assert http.get(site.live_url + idle_css, timeout=10).status_code == 404, "a release beyond 2 was kept"
        for url in re.findall(r'src="(/static/[^"]+)"', http.get(site.live_url + "/", timeout=10).text):
            assert http.get(site.live_url + url, timeout=10).status_code == 200, "shared files must stay"
    kept = site.switcher("prune", "--env", site.name, "--dry-run")
    assert third_release in kept.stderr and idle_css not in kept.stderr


def test_site_configuration_files_are_shared_and_survive_switches(site, tmp_path):
    """The old guide's coposweb.ini, carried by hand before: one volume for both colours."""
    config = tmp_path / "coposweb.ini"
    config.write_text("[shop]\nendpoint = https://payments.example\n")
    ok(site.switcher("config", "put", str(config), "--env", site.name))
    assert "coposweb.ini" in ok(site.switcher("config", "list", "--env", site.name)).stdout
    ok(site.switcher("promote", "--env", site.name))
    for color in ("blue", "green"):
        assert "payments.example" in site.exec(f"app-{color}", ["cat", "/var/lib/site/config/coposweb.ini"])
    with pytest.raises(AssertionError):  # read-only for the site itself
        site.exec("app-blue", ["touch", "/var/lib/site/config/x"])
    bad = site.switcher("config", "put", str(config), "--name", "../escape", "--env", site.name)
    assert bad.returncode == 3


def test_uploads_are_shared_by_both_colours_and_served_without_running_anything(site):
    """The media volume: an upload through one colour is served after a promote by the other."""
    before = site.status()
    page = b"<html><script>document.title='ran'</script><body>uploaded</body></html>"
    with site.session() as http:
        stored = http.post(site.live_url + "/upload", files={"file": ("report.html", page)}, timeout=10)
        assert stored.status_code == 200, stored.text[:200]
        url, color = stored.json()["url"], stored.json()["color"]
        assert url.startswith("/media/uploads/") and color == before["live"]
        ok(site.switcher("promote", "--env", site.name))
        served = http.get(site.live_url + url, timeout=10)
        assert served.status_code == 200 and served.content == page
        assert "X-Release" not in served.headers, "nginx serves uploads; nothing of the site runs"
        policy = served.headers["Content-Security-Policy"]
        assert "sandbox" in policy and "default-src 'none'" in policy, "an uploaded page cannot run script"
        assert served.headers["X-Content-Type-Options"] == "nosniff"
        assert http.get(site.live_url + "/media/.hidden", timeout=10).status_code == 404
    other = site.status()["live"]
    assert other != color
    assert site.exec(f"app-{other}", ["cat", f"/var/lib/site/media/{url.removeprefix('/media/')}"]).encode() == page
    ok(site.switcher("rollback", "--env", site.name))
