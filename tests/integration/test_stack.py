"""The running stack, checked through TLS as a visitor and an operator would."""

import re
import subprocess
import threading
import time

import pytest

from .stackenv import wait_until

pytestmark = pytest.mark.integration


def asset_urls(html: str) -> list[str]:
    return re.findall(r'(?:href|src)="(/static/[^"]+)"', html)


def test_home_page_renders_from_postgresql(stack):
    with stack.session() as http:
        page = http.get(stack.live_url + "/", timeout=10)
        assert page.status_code == 200
        assert "Ångström-scale optics" in page.text  # seed data, UTF-8 end to end
        title = f"Inserted by a test {time.time_ns()}"
        sql = (
            "INSERT INTO press_pressrelease (slug, title, summary, published) "
            f"VALUES ('test-{time.time_ns()}', '{title}', 'café', '2099-01-01')"
        )
        stack.exec("db", ["psql", "-q", "-U", "postgres", "-d", "site", "-c", sql])
        assert title in http.get(stack.live_url + "/", timeout=10).text


def test_archive_page_is_served_from_memcached(stack):
    with stack.session() as http:
        url = f"{stack.live_url}/press/?probe={time.time_ns()}"
        first = http.get(url, timeout=10)
        before = stack.memcached_stats()
        second = http.get(url, timeout=10)
        after = stack.memcached_stats()
    assert first.status_code == second.status_code == 200
    rendered = re.search(r"Rendered at ([^<]+)<", first.text).group(1)
    assert f"Rendered at {rendered}<" in second.text, "the second response was rendered again"
    assert after["get_hits"] > before["get_hits"]


def test_hashed_static_files_come_from_nginx_with_immutable_caching(stack):
    with stack.session() as http:
        urls = asset_urls(http.get(stack.live_url + "/", timeout=10).text)
        assert len(urls) == 3
        for url in urls:
            assert re.search(r"\.[0-9a-f]{12}\.\w+$", url), url
            response = http.get(stack.live_url + url, timeout=10)
            assert response.status_code == 200
            assert "immutable" in response.headers["Cache-Control"]
            assert "X-Release" not in response.headers, "static files must not reach gunicorn"
        assert http.get(stack.live_url + f"/static/.releases/{stack.release}.json", timeout=10).status_code == 404


def test_healthz_reports_release_and_colour(stack):
    with stack.session() as http:
        live = http.get(stack.live_url + "/healthz", timeout=10)
        preview = http.get(stack.preview_url + "/healthz", timeout=10)
    assert live.json() == {"release": stack.release, "color": "blue", "db": "ok", "cache": "ok"}
    assert live.headers["X-Release"] == stack.release
    assert preview.json()["color"] == "green"


def test_http_redirects_to_https_and_headers_are_set(stack):
    with stack.session() as http:
        redirect = http.get(stack.http_url + "/press/?a=1", allow_redirects=False, timeout=10)
        assert redirect.status_code == 301
        assert redirect.headers["Location"] == f"{stack.live_url}/press/?a=1"
        page = http.get(stack.live_url + "/", timeout=10)
    assert page.headers["Strict-Transport-Security"].startswith("max-age=")
    assert page.headers["X-Content-Type-Options"] == "nosniff"
    assert page.headers["X-Frame-Options"] == "DENY"
    assert "," not in page.headers["X-Frame-Options"], "sent twice"


def test_status_tells_the_truth(stack):
    data = stack.status()
    assert data["env"] == stack.name
    assert data["live"] == "blue"
    for color in ("blue", "green"):
        assert data["colors"][color] == {"release": stack.release, "state": "running", "health": "healthy"}
    assert data["urls"] == {"live": stack.live_url + "/", "preview": stack.preview_url + "/"}
    text = stack.switcher("status", "--env", stack.name)
    assert text.returncode == 0 and "live colour  blue" in text.stdout


def test_live_colour_is_read_from_the_lb(stack):
    stack.set_live_flag(green=True)
    try:
        assert stack.status()["live"] == "green"
        with stack.session() as http:
            assert http.get(stack.live_url + "/healthz", timeout=10).json()["color"] == "green"
            assert http.get(stack.preview_url + "/healthz", timeout=10).json()["color"] == "blue"
    finally:
        stack.set_live_flag(green=False)
    assert stack.status()["live"] == "blue"


def test_order_ids_are_unique_and_gap_free_across_both_colours(stack):
    ids: list[int] = []
    errors: list[str] = []
    lock = threading.Lock()

    def place(base_url: str, count: int) -> None:
        with stack.session() as http:
            for _ in range(count):
                response = http.post(base_url + "/orders", timeout=10)
                if response.status_code != 200:
                    errors.append(f"{response.status_code} {response.text[:80]}")
                    continue
                with lock:
                    ids.append(response.json()["id"])

    clients = [threading.Thread(target=place, args=(url, 25)) for url in [stack.live_url, stack.preview_url] * 4]
    for client in clients:
        client.start()
    for client in clients:
        client.join(timeout=120)
    assert errors == []
    assert len(ids) == 200
    assert sorted(ids) == list(range(min(ids), min(ids) + 200))


def test_order_counter_survives_recreating_the_app_container(stack):
    with stack.session() as http:
        before = http.post(stack.live_url + "/orders", timeout=10).json()["id"]
    stack.container("app-blue").remove(force=True)
    stack.up()  # recreates the missing container from the compose definition
    with stack.session() as http:
        after = http.post(stack.live_url + "/orders", timeout=10).json()["id"]
    assert after == before + 1


def test_memcached_outage_degrades_but_serves(stack):
    stack.container("memcached").stop(timeout=5)
    try:
        with stack.session() as http:
            for path in ("/", "/press/", f"/press/?outage={time.time_ns()}"):
                # A hang on the unreachable memcached would exceed the timeout and fail here.
                assert http.get(stack.live_url + path, timeout=5).status_code == 200
            health = http.get(stack.live_url + "/healthz", timeout=10)
        assert health.status_code == 200
        assert health.json()["cache"] == "degraded"
    finally:
        stack.container("memcached").start()
        stack.wait_healthy("memcached")
    with stack.session() as http:
        wait_until(
            lambda: http.get(stack.live_url + "/healthz", timeout=10).json()["cache"] == "ok",
            30,
            "the cache did not come back",
        )


def test_database_outage_makes_healthz_503(stack):
    stack.container("db").stop(timeout=20)
    try:
        with stack.session() as http:
            health = http.get(stack.live_url + "/healthz", timeout=15)
        assert health.status_code == 503
        assert health.json()["db"] == "down"
    finally:
        stack.container("db").start()
        stack.wait_healthy("db")
    with stack.session() as http:
        wait_until(
            lambda: http.get(stack.live_url + "/healthz", timeout=15).status_code == 200,
            60,
            "the site did not recover from the database outage",
        )
    from .load import Load

    # Every gunicorn thread's persistent connection died with the db: each is checked before
    # reuse (CONN_HEALTH_CHECKS, set by the settings layer), so no request meets a dead one.
    with Load(stack.live_url + "/", str(stack.cert), max_seconds=4) as load:
        time.sleep(3)
    assert load.failures() == [] and len(load.answers) > 50, f"{len(load.failures())} of {len(load.answers)} failed"


def test_site_container_runs_as_non_root_on_a_read_only_root(stack):
    assert stack.exec("app-blue", ["id", "-u"]).strip() == "10001"
    container = stack.container("app-blue")
    assert container.attrs["HostConfig"]["ReadonlyRootfs"] is True
    with pytest.raises(AssertionError):
        stack.exec("app-blue", ["touch", "/app/x"])


def test_image_labels_carry_the_release(stack, client):
    for name in ("base", "site", "lb", "db", "memcached"):
        labels = client.images.get(f"switcher/{name}:{stack.release}").labels
        assert labels["org.opencontainers.image.version"], name
    site = client.images.get(f"switcher/site:{stack.release}").labels
    assert site["org.opencontainers.image.version"] == stack.release
    assert site["org.opencontainers.image.created"] != "unknown"
    assert site["org.opencontainers.image.revision"]


def test_compose_file_is_valid_for_compose_v2():
    result = subprocess.run(["docker", "compose", "version"], capture_output=True, text=True, check=False)
    assert result.returncode == 0 and "version 2" in result.stdout.lower().replace("v2", "version 2")


def test_database_is_utf8(stack):
    query = "SELECT pg_encoding_to_char(encoding) || ' ' || datcollate FROM pg_database WHERE datname = 'site'"
    output = stack.exec("db", ["psql", "-At", "-U", "postgres", "-d", "site", "-c", query])
    assert output.strip() == "UTF8 C.UTF-8"


def test_killing_memcached_under_load_fails_no_request(stack):
    from .load import Load

    with Load(stack.live_url + "/press/", str(stack.cert)) as load:
        time.sleep(1)
        stack.container("memcached").kill()
        time.sleep(3)
        stack.container("memcached").start()
        stack.wait_healthy("memcached")
        time.sleep(1)
    if load.failures():  # say why: the live colour's last error, as its log has it
        log = stack.switcher("logs", "live", "--env", stack.name, "-n", "400").stdout
        lines = log[log.rfind("Traceback") :].splitlines() if "Traceback" in log else log.splitlines()
        last_error = "\n".join([*lines[:4], "…", *lines[-40:]])  # where it began and what was raised
        raise AssertionError(
            f"{len(load.failures())} of {len(load.answers)} failed: {load.failures()[:3]}\n{last_error}"
        )
    with stack.session() as http:
        deadline = time.monotonic() + 30
        while True:  # hits resume: the same page twice, the second from memcached
            url = f"{stack.live_url}/press/?after-kill={time.time_ns()}"
            http.get(url, timeout=10)
            before = stack.memcached_stats()["get_hits"]
            http.get(url, timeout=10)
            if stack.memcached_stats()["get_hits"] > before:
                break
            assert time.monotonic() < deadline, "cache hits did not resume after memcached came back"
            time.sleep(1)
