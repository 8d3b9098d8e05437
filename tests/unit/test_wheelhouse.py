"""scripts/wheelhouse.py: the site's pins decide, the platform adds only what the site lacks,
the wheelhouse is keyed by content, and pip's conflicts become one line."""

import importlib.util
import os
import sys

import pytest

from .conftest import ROOT

sys.path.insert(0, str(ROOT / "scripts"))  # its sibling module sdists
spec = importlib.util.spec_from_file_location("wheelhouse", ROOT / "scripts" / "wheelhouse.py")
wheelhouse = importlib.util.module_from_spec(spec)
sys.modules["wheelhouse"] = wheelhouse  # dataclasses look their module up there
spec.loader.exec_module(wheelhouse)

PLATFORM = (ROOT / "images" / "site" / "platform-requirements.txt").read_text()


def site(tmp_path, files: dict[str, str]):
    tmp_path.mkdir(parents=True, exist_ok=True)
    (tmp_path / "manage.py").write_text("")
    for name, text in files.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text)
    return tmp_path


def test_the_platform_adds_only_what_the_site_does_not_name(tmp_path):
    sources = wheelhouse.find_requirements(site(tmp_path, {"requirements.txt": "django==5.1.4\nwhitenoise==6.7\n"}))
    added = wheelhouse.additions(wheelhouse.named(sources), PLATFORM)
    assert not any(line.lower().startswith("django") for line in added), "the site's Django decides"
    assert any(line.startswith("gunicorn==") for line in added) and any(line.startswith("psycopg") for line in added)


@pytest.mark.parametrize("driver", ["psycopg2-binary==2.9.10", "psycopg2==2.9.10", "psycopg[binary]==3.2.3"])
def test_a_site_with_its_own_postgresql_driver_gets_no_other(tmp_path, driver):
    sources = wheelhouse.find_requirements(site(tmp_path, {"requirements.txt": f"Django==5.1.4\n{driver}\n"}))
    added = wheelhouse.additions(wheelhouse.named(sources), PLATFORM)
    assert not [line for line in added if line.startswith("psycopg")]


def test_requirements_are_found_where_django_projects_keep_them(tmp_path):
    layered = site(
        tmp_path / "a",
        {
            "requirements/base.txt": "Django==5.1.4  # the framework\n",
            "requirements/production.txt": "-r base.txt\ngunicorn==23.0.0 \\\n    --hash=sha256:abc\n",
        },
    )
    sources = wheelhouse.find_requirements(layered)
    assert sources.top == layered / "requirements/production.txt"
    assert wheelhouse.named(sources) == {"django", "gunicorn"}
    project = site(tmp_path / "b", {"pyproject.toml": '[project]\nname = "x"\ndependencies = ["Django>=5.1,<5.2"]\n'})
    assert wheelhouse.named(wheelhouse.find_requirements(project)) == {"django"}
    assert wheelhouse.find_requirements(site(tmp_path / "c", {})).files == ()


def test_bad_requirements_are_one_line(tmp_path):
    with pytest.raises(wheelhouse.BuildError, match="does not exist"):
        wheelhouse.find_requirements(site(tmp_path / "a", {"requirements.txt": "-r missing.txt\n"}))
    sources = wheelhouse.find_requirements(site(tmp_path / "b", {"requirements.txt": "Django===\n"}))
    with pytest.raises(wheelhouse.BuildError, match="not a requirement pip understands"):
        wheelhouse.named(sources)
    with pytest.raises(wheelhouse.BuildError, match=r"has no manage\.py"):
        wheelhouse.build(tmp_path / "nowhere", tmp_path / "wh")


def test_the_wheelhouse_is_keyed_by_content_never_by_file_times(tmp_path):
    files = {"requirements/base.txt": "Django==5.1.4\n", "requirements.txt": "-r requirements/base.txt\n"}
    path = site(tmp_path, files)
    first = wheelhouse.key(wheelhouse.find_requirements(path), PLATFORM)
    os.utime(path / "requirements/base.txt", (0, 0))  # a checkout's old file time changes nothing
    assert wheelhouse.key(wheelhouse.find_requirements(path), PLATFORM) == first
    (path / "requirements/base.txt").write_text("Django==5.1.5\n")  # an included file's pin does
    os.utime(path / "requirements/base.txt", (0, 0))
    assert wheelhouse.key(wheelhouse.find_requirements(path), PLATFORM) != first
    assert wheelhouse.key(wheelhouse.find_requirements(path), PLATFORM + "x==1\n") != first


PIP_CONFLICT = """\
ERROR: Cannot install psycopg because these package versions have conflicting dependencies.

The conflict is caused by:
    psycopg 3.3.9 depends on typing-extensions>=4.6; python_version < "3.13"
    The user requested (constraint) typing-extensions==4.0.0

Additionally, some packages in these conflicts have no matching distributions available for your environment:
    typing-extensions

To fix this you could try to:
1. loosen the range of package versions you've specified
ERROR: ResolutionImpossible: for help visit https://pip.pypa.io/...
"""


def test_pip_conflicts_and_missing_wheels_become_one_line():
    assert wheelhouse.conflict_line(PIP_CONFLICT) == (
        'psycopg 3.3.9 depends on typing-extensions>=4.6; python_version < "3.13"; '
        "the site pins typing-extensions==4.0.0"
    )
    assert wheelhouse.conflict_line("ERROR: No matching distribution found for Django==9.9.9") is None
    missing = wheelhouse.not_found("ERROR: No matching distribution found for python-ldap==3.4.4\n")
    assert missing == "python-ldap==3.4.4"


def test_the_lock_names_every_wheel(tmp_path):
    for name in ("Django-5.1.4-py3-none-any.whl", "psycopg_binary-3.3.9-cp311-cp311-manylinux2014_x86_64.whl"):
        (tmp_path / name).write_text("")
    assert wheelhouse.lock(tmp_path) == ["django==5.1.4", "psycopg-binary==3.3.9"]


def fake_wheel(directory, name: str, version: str, *requires: str) -> None:
    """A wheel with only its METADATA, enough for the marker check."""
    import zipfile

    metadata = "Metadata-Version: 2.1\nName: {}\nVersion: {}\n{}\n\nDescription".format(
        name, version, "".join(f"Requires-Dist: {line}\n" for line in requires)
    )
    with zipfile.ZipFile(directory / f"{name}-{version}-py3-none-any.whl", "w") as archive:
        archive.writestr(f"{name}-{version}.dist-info/METADATA", metadata)


def test_dependencies_are_judged_by_the_images_python_not_the_hosts(tmp_path):
    fake_wheel(
        tmp_path,
        "redis",
        "5.2.1",
        'async-timeout>=4.0.3; python_full_version < "3.11.3"',
        'hiredis>=3.0.0; extra == "hiredis"',
        'pywin32; sys_platform == "win32"',
        "present>=1",
    )
    fake_wheel(tmp_path, "present", "1.0")
    assert wheelhouse.missing_for_target(tmp_path) == ["async-timeout>=4.0.3"]
    fake_wheel(tmp_path, "async_timeout", "5.0.1")
    assert wheelhouse.missing_for_target(tmp_path) == []
