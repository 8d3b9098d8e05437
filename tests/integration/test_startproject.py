"""A site nobody wrote for this platform (issue #8): tests/sites/startproject is what
`django-admin startproject` leaves (sqlite, DEBUG = True, ALLOWED_HOSTS = [], no /healthz, a
root that redirects) plus an app with a model, a migration and an upload form, its own Django
pin (5.1, not the default site's 5.2), psycopg2 and whitenoise. It is built from the repository
unchanged and must run, switch and roll back under load with zero failed requests."""

from __future__ import annotations

import re
import threading
import time

import pytest

from .load import Load
from .stackenv import ok, running_stack, wait_until

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def built(startproject):
    """Two releases of the site: one built with `make build`, one relabelled from it (conftest.py)."""
    return startproject


@pytest.fixture(scope="module")
def site(built, client, tmp_path_factory):
    with running_stack(
        tmp_path_factory.mktemp("startproject"), built[0], client, WRITE_RATE_LIMIT="1000", WORKER_STOP_TIMEOUT="30"
    ) as env:
        yield env


def test_the_build_says_what_the_settings_layer_changed(built):
    report = built[2]
    for line in (
        "build: settings:   DATABASES: sqlite3 → postgresql",
        "build: settings:   DEBUG: True → False",
        "build: settings:   ALLOWED_HOSTS: [] → ",
        "build: settings:   STORAGES: staticfiles StaticFilesStorage → staticfiles ManifestStaticFilesStorage",
        "build: settings:   CELERY_BROKER_URL: 'redis://localhost:6379/0' → 'redis+socket:///run/redis/redis.sock'",
        "build: the site's pins decide",
        "django==5.1.4",
        "build: Procfile: web: is not run (the platform runs gunicorn itself)",
        "build: processes from the Procfile: worker,beat",
        "build: built from source in the image (no wheel): python-ldap==3.4.4",
        "build: Aptfile: run-time packages: libmagic1; for compiling only: libldap2-dev libsasl2-dev",
    ):
        assert line in report, report


def test_pages_static_files_and_health_answer(site):
    with site.session() as http:
        root = http.get(site.live_url + "/", allow_redirects=False, timeout=10)
        assert (root.status_code, root.headers["Location"]) == (301, "/catalog/")
        page = http.get(site.live_url + "/catalog/", timeout=10)
        assert page.status_code == 200 and page.headers["X-Release"] == site.release
        css = re.search(r'href="(/static/catalog/catalog\.[0-9a-f]{12}\.css)"', page.text)
        assert css, "hashed static names (the layer's manifest storage) under /static/"
        asset = http.get(site.live_url + css.group(1), timeout=10)
        assert (
            asset.status_code == 200 and "font-family" in asset.text and "immutable" in asset.headers["Cache-Control"]
        )
        admin_css = http.get(site.live_url + "/admin/login/", timeout=10)
        assert admin_css.status_code == 200
        health = http.get(site.live_url + "/healthz", timeout=10).json()
        assert health["by"] == "platform" and health["db"] == "ok" and health["cache"] == "ok"
        missing = http.get(site.live_url + "/catalog/nowhere", timeout=10)
        assert missing.status_code == 404 and "URLconf" not in missing.text, "DEBUG is off"
    version = site.exec("app-blue", ["python3", "-c", "import django; print(django.__version__)"])
    assert version.strip() == "5.1.4", "the site's own Django pin"


def test_a_package_without_a_wheel_is_compiled_and_the_compiler_stays_out(site):
    """python-ldap has no wheel: built from its source against the Aptfile's -dev packages in a
    stage of its own; the image gets the libraries it links to and the Aptfile's run-time
    packages, and no compiler or headers."""
    assert site.exec("app-blue", ["python3", "-c", "import ldap; print(ldap.__version__)"]).strip() == "3.4.4"
    packages = site.exec("app-blue", ["dpkg-query", "-W", "-f", "${Package}\\n"]).split()
    assert {"libldap-2.5-0", "libsasl2-2", "libmagic1"} <= set(packages)
    assert not [name for name in packages if name.endswith("-dev") or name in ("gcc", "gcc-12", "build-essential")]


def upload(site, http, title: str, content: bytes):
    http.get(site.live_url + "/catalog/", timeout=10)
    return http.post(
        site.live_url + "/catalog/upload/",
        data={"title": title, "csrfmiddlewaretoken": http.cookies["csrftoken"]},
        files={"image": (f"{title}.txt", content, "text/plain")},
        headers={"Origin": site.live_url, "Referer": site.live_url + "/catalog/"},
        allow_redirects=False,
        timeout=15,
    )


def test_an_upload_through_one_colour_is_served_after_switches_under_load(site, built):
    content = b"an upload from a form, kept across switches\n"
    with site.session() as http:
        posted = upload(site, http, "first", content)
        assert (posted.status_code, posted.headers.get("Location")) == (302, "/catalog/"), posted.text[:500]
        forged = http.post(site.live_url + "/catalog/upload/", data={"title": "x"}, timeout=10)
        assert forged.status_code == 403, "CSRF protection stays on"
    ok(site.switcher("deploy", built[1], "--env", site.name))
    for command, release in (("promote", built[1]), ("rollback", built[0]), ("promote", built[1])):
        with Load(site.live_url + "/catalog/", str(site.cert)) as load:
            ok(site.switcher(command, "--env", site.name))
        failures = load.failures()
        assert failures == [], f"{command}: {len(failures)} of {len(load.answers)} failed: {failures[:3]}"
        assert len(load.answers) > 50
        with site.session() as http:
            page = http.get(site.live_url + "/catalog/", timeout=10)
            assert page.headers["X-Release"] == release
            link = re.search(r'<a href="(/media/pictures/first[^"]*\.txt)">first</a>', page.text)
            assert link, page.text[:500]
            assert http.get(site.live_url + link.group(1), timeout=10).content == content


def task_runs(site) -> dict:
    with site.session() as http:
        return http.get(site.live_url + "/catalog/tasks/", timeout=10).json()


def test_tasks_queued_before_during_and_after_a_switch_run_exactly_once(site, built):
    """The Procfile's worker and beat run from the live release and are handed over with it;
    Celery tasks queued around the handover each run once, none is lost or run twice."""
    services = site.status()["services"]
    assert services["broker"]["state"] == "running"
    assert services["worker"]["state"] == services["beat"]["state"] == "running"
    old_release = services["worker"]["release"]
    new_release = built[0] if old_release == built[1] else built[1]
    command = "rollback" if new_release == built[0] else "promote"
    sent: list[str] = []
    stop = threading.Event()

    def enqueue(token: str, http) -> None:
        answer = http.post(site.live_url + "/catalog/tasks/", data={"token": token}, timeout=10)
        assert answer.status_code == 202, answer.text[:300]
        sent.append(token)

    def during() -> None:
        with site.session() as http:
            for number in range(400):  # bounded: at most 400 tasks, 20 s
                if stop.is_set():
                    break
                enqueue(f"during-{number}", http)
                time.sleep(0.05)

    with site.session() as http:
        for number in range(20):  # 10 s of work for two worker processes: running at the switch
            enqueue(f"before-{number}", http)
    thread = threading.Thread(target=during)
    thread.start()
    try:
        ok(site.switcher(command, "--env", site.name))
    finally:
        stop.set()
        thread.join(timeout=30)
    with site.session() as http:
        for number in range(20):
            enqueue(f"after-{number}", http)
    wait_until(lambda: set(task_runs(site)["runs"]) >= set(sent), 180, "every queued task runs")
    runs = task_runs(site)["runs"]
    assert {token: count for token, count in runs.items() if count != 1} == {}, "each task ran exactly once"
    assert set(runs) == set(sent)
    services = site.status()["services"]
    assert services["worker"]["release"] == services["beat"]["release"] == new_release
    ticks = task_runs(site)["ticks"]
    wait_until(lambda: task_runs(site)["ticks"] > ticks, 30, "the new release's beat schedules its task")
    beats = [
        c
        for c in site.client.containers.list(filters={"label": f"com.docker.compose.project={site.project}"})
        if c.labels.get("com.docker.compose.service") == "beat"
    ]
    assert len(beats) == 1, "exactly one beat"
