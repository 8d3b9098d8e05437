"""Sites the platform did not write (issue #8, the dependencies part): the site's own pins
decide, and a build that cannot work says why in one line and builds nothing."""

from __future__ import annotations

import shutil

import pytest

from .stackenv import ROOT, build_site_release, make_build, ok, remove_release, running_stack

pytestmark = pytest.mark.integration


def pin(requirements: str):
    def edit(site_dir) -> None:
        (site_dir / "requirements.txt").write_text(requirements)

    return edit


def test_a_site_runs_its_own_django_pin_on_the_python_it_asks_for(release, client, tmp_path_factory):
    """Django pinned to 5.1.4 (not the platform's 5.2) and .python-version 3.13: the site image
    is built on Debian 13's Python from wheels for it, and runs in the same stack (lb, db,
    memcached stay on Debian 12)."""

    def edit(site_dir) -> None:
        pin("Django==5.1.4\n")(site_dir)
        (site_dir / ".python-version").write_text("3.13\n")

    tag = build_site_release(f"{release}-own", tmp_path_factory.mktemp("own"), edit)
    try:
        with running_stack(tmp_path_factory.mktemp("ownstack"), tag, client) as env:
            script = "import sys, django; print(django.__version__, *sys.version_info[:2])"
            assert env.exec("app-blue", ["python3", "-c", script]).split() == ["5.1.4", "3", "13"]
            with env.session() as http:
                answer = http.get(env.live_url + "/press/", timeout=10)
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
    "a source package whose library is missing": (
        # python-ldap has no wheel; its Aptfile lacks libldap2-dev, so the compiler says what is missing
        lambda site_dir: (
            (site_dir / "requirements.txt").write_text("Django==5.2.19\npython-ldap==3.4.4\n"),
            (site_dir / "Aptfile").write_text("libsasl2-dev\n"),
        ),
        "fatal error: lber.h: No such file or directory",
    ),
    "a bad Aptfile line": (
        lambda site_dir: (site_dir / "Aptfile").write_text("libldap2-dev; rm -rf /\n"),
        "Aptfile line 1",
    ),
    "a Python this platform does not have": (
        lambda site_dir: (site_dir / ".python-version").write_text("3.12.4\n"),
        "the site asks for Python 3.12.4 (.python-version); available: 3.11 (Debian 12), 3.13 (Debian 13)",
    ),
    "a malformed Procfile": (
        lambda site_dir: (site_dir / "Procfile").write_text("worker celery -A pressroom worker\n"),
        "Procfile line 1 is not `name: command`",
    ),
}


@pytest.mark.parametrize("case", list(BAD_SITES))
def test_a_build_that_cannot_work_says_why_in_one_line_and_builds_nothing(case, client, tmp_path):
    edit, message = BAD_SITES[case]
    site_dir = tmp_path / "site"
    shutil.copytree(ROOT / "images/site/default-site", site_dir)
    edit(site_dir)
    tag = f"bad-{tmp_path.name[-12:].lower().strip('_-')}"
    result = make_build(f"RELEASE={tag}", f"SITE={site_dir}", timeout=600)
    assert result.returncode != 0, result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("build: error: ")]
    assert len(errors) == 1 and message in errors[0], result.stderr
    assert "Traceback" not in result.stderr + result.stdout
    assert client.images.list(filters={"reference": f"switcher/*:{tag}"}) == [], "nothing half-built"


BAD_OPTIONS = {
    "PYTHON=2.7": "build: error: PYTHON=2.7 is not available; available: 3.11 (Debian 12), 3.13 (Debian 13)",
    "SITE_SETTINGS=pressroom.nosuch": "build: error: SITE_SETTINGS=pressroom.nosuch is not a settings module",
}


@pytest.mark.parametrize("option", list(BAD_OPTIONS))
def test_a_bad_build_option_is_one_line(option, client):
    tag = "bad-option"
    result = make_build(f"RELEASE={tag}", option, timeout=600)
    assert result.returncode != 0
    errors = [line for line in result.stderr.splitlines() if line.startswith("build: error: ")]
    assert len(errors) == 1 and errors[0].startswith(BAD_OPTIONS[option]), result.stderr
    assert client.images.list(filters={"reference": f"switcher/*:{tag}"}) == []


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
