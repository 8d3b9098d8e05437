"""Sites the platform did not write (issue #8, the dependencies part): the site's own pins
decide, and a build that cannot work says why in one line and builds nothing."""

from __future__ import annotations

import shutil
import subprocess

import pytest

from .stackenv import ROOT, build_site_release, remove_release, running_stack

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
