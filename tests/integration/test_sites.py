"""Sites the platform did not write (issue #8, the dependencies part): the site's own pins
decide, and a build that cannot work says why in one line and builds nothing."""

from __future__ import annotations

import shutil
import subprocess

import pytest

from .stackenv import ROOT, build_site_release, ok, remove_release, running_stack

pytestmark = pytest.mark.integration


def pin(requirements: str):
    def edit(site_dir) -> None:
        (site_dir / "requirements.txt").write_text(requirements)

    return edit


def test_a_site_with_its_own_django_pin_runs_that_django(release, client, tmp_path_factory):
    tag = build_site_release(f"{release}-dj51", tmp_path_factory.mktemp("dj51"), pin("Django==5.1.4\n"))
    try:
        with running_stack(tmp_path_factory.mktemp("dj51stack"), tag, client) as env:
            versions = env.exec("app-blue", ["python3", "-c", "import django, gunicorn; print(django.__version__)"])
            assert versions.strip() == "5.1.4"
            with env.session() as http:
                answer = http.get(env.live_url + "/healthz", timeout=10)
            assert answer.status_code == 200 and answer.headers["X-Release"] == tag
    finally:
        remove_release(client, tag)


BAD_SITES = {
    "a conflict between the site's pins and the platform's packages": (
        pin("Django==5.2.19\ntyping-extensions==4.0.0\n"),
        "the platform's packages and the site's pins conflict: psycopg 3.3.9 depends on typing-extensions>=4.6",
    ),
    "a conflict within the site's own pins": (
        pin("Django==5.2.19\nasgiref==3.2.0\n"),
        "the site's own requirements conflict",
    ),
    "a version that does not exist": (pin("Django==9.9.9\n"), "Django==9.9.9 has no wheel"),
    "no manage.py": (lambda site_dir: (site_dir / "manage.py").unlink(), "has no manage.py"),
}


@pytest.mark.parametrize("case", list(BAD_SITES))
def test_a_build_that_cannot_work_says_why_in_one_line_and_builds_nothing(case, client, tmp_path):
    edit, message = BAD_SITES[case]
    site_dir = tmp_path / "site"
    shutil.copytree(ROOT / "images/site/default-site", site_dir)
    edit(site_dir)
    tag = f"bad-{tmp_path.name[-12:].lower().strip('_-')}"
    result = subprocess.run(
        ["make", "-s", "build", f"RELEASE={tag}", f"SITE={site_dir}"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert result.returncode != 0, result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("build: error: ")]
    assert len(errors) == 1 and message in errors[0], result.stderr
    assert "Traceback" not in result.stderr + result.stdout
    assert client.images.list(filters={"reference": f"switcher/*:{tag}"}) == [], "nothing half-built"


def test_a_wrong_settings_module_is_one_line(client):
    result = subprocess.run(
        ["make", "-s", "build", "RELEASE=bad-settings", "SITE_SETTINGS=pressroom.nosuch"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert result.returncode != 0
    assert "build: error: SITE_SETTINGS=pressroom.nosuch is not a settings module" in result.stderr
    assert client.images.list(filters={"reference": "switcher/*:bad-settings"}) == []


PLAIN_URLS = """from django.urls import path
from django.views.generic import RedirectView

from press import views

# No /healthz; the root redirects, like many sites' do; /away leaves the site.
urlpatterns = [
    path("", RedirectView.as_view(url="/press/")),
    path("press/", views.press_list, name="press-list"),
    path("away", RedirectView.as_view(url="https://evil.example/")),
]
"""


def plain_site(site_dir) -> None:
    (site_dir / "pressroom" / "urls.py").write_text(PLAIN_URLS)


@pytest.fixture(scope="module")
def plain(release, client, tmp_path_factory):
    """A release of a site with no /healthz of its own and a root that redirects."""
    tag = build_site_release(f"{release}-plain", tmp_path_factory.mktemp("plain"), plain_site)
    with running_stack(tmp_path_factory.mktemp("plainstack"), tag, client) as env:
        yield env
    remove_release(client, tag)


def test_a_site_without_healthz_gets_the_platforms(plain):
    with plain.session() as http:
        health = http.get(plain.live_url + "/healthz", timeout=10)
        assert health.status_code == 200
        assert health.json() == {"release": plain.release, "color": "blue", "db": "ok", "cache": "ok", "by": "platform"}
        assert http.get(plain.live_url + "/", allow_redirects=False, timeout=10).headers["Location"] == "/press/"
    assert plain.status()["colors"]["blue"]["health"] == "healthy", "Docker's health check uses it too"
    plain.container("db").stop(timeout=20)
    try:
        with plain.session() as http:
            down = http.get(plain.live_url + "/healthz", timeout=15)
        assert down.status_code == 503 and down.json()["db"] == "down"
    finally:
        plain.container("db").start()
        plain.wait_healthy("db")
        plain.wait_healthy("app-blue")


def test_a_redirecting_root_passes_the_smoke_test_and_bad_paths_fail_it(plain):
    ok(plain.switcher("deploy", plain.release, "--env", plain.name))  # `/` answers 302 to /press/
    for paths, message in (("/,/nowhere", "preview /nowhere answered 404"), ("/,/away", "a redirect off the site")):
        plain.settings["SMOKE_PATHS"] = paths
        plain.write_env_file()
        failed = plain.switcher("deploy", plain.release, "--env", plain.name)
        assert failed.returncode == 6 and message in failed.stderr, failed.stderr
        assert plain.status()["live"] == "blue"
    plain.settings["SMOKE_PATHS"] = "/"
    plain.write_env_file()
