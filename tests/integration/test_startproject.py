"""A site nobody wrote for this platform (issue #8): tests/sites/startproject is what
`django-admin startproject` leaves (sqlite, DEBUG = True, ALLOWED_HOSTS = [], no /healthz, a
root that redirects) plus an app with a model, a migration and an upload form, its own Django
pin (5.1, not the default site's 5.2), psycopg2 and whitenoise. It is built from the repository
unchanged and must run, switch and roll back under load with zero failed requests."""

from __future__ import annotations

import hashlib
import re
import subprocess

import pytest

from .load import Load
from .stackenv import ROOT, derived_release, ok, remove_release, running_stack

pytestmark = pytest.mark.integration
SITE = ROOT / "tests/sites/startproject"


def tree_digest() -> dict[str, str]:
    return {
        str(path.relative_to(SITE)): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in sorted(SITE.rglob("*"))
        if path.is_file()
    }


@pytest.fixture(scope="module")
def built(release, client):
    """Two releases of the site: one built with `make build`, one relabelled from it."""
    before = tree_digest()
    tag = f"{release}-sp"
    result = subprocess.run(
        ["make", "-s", "build", f"RELEASE={tag}", f"SITE={SITE}", "SITE_SETTINGS=mysite.settings"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    try:
        assert result.returncode == 0, result.stderr
        assert tree_digest() == before, "the build changed the site's files"
        yield tag, derived_release(client, tag, f"{tag}2"), result.stdout + result.stderr
    finally:
        remove_release(client, tag)
        remove_release(client, f"{tag}2")


@pytest.fixture(scope="module")
def site(built, client, tmp_path_factory):
    with running_stack(tmp_path_factory.mktemp("startproject"), built[0], client, WRITE_RATE_LIMIT="1000") as env:
        yield env


def test_the_build_says_what_the_settings_layer_changed(built):
    report = built[2]
    for line in (
        "build: settings:   DATABASES: sqlite3 → postgresql",
        "build: settings:   DEBUG: True → False",
        "build: settings:   ALLOWED_HOSTS: [] → ",
        "build: settings:   STORAGES: staticfiles StaticFilesStorage → staticfiles ManifestStaticFilesStorage",
        "build: the site's pins decide",
        "django==5.1.4",
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
