"""Packages the site pins that have no wheel for the image (python-ldap, say): their source
distribution is fetched on the host, and a stand-in wheel carrying only their metadata lets pip
resolve everything else around them. The image's compile stage builds the real wheel from the
source, against the Debian -dev packages of the site's Aptfile (images/site/Dockerfile).

Used by wheelhouse.py; the host needs network access to the package index, the image does not.
"""

from __future__ import annotations

import base64
import hashlib
import json
import subprocess
import sys
import tarfile
import tomllib
import zipfile
from pathlib import Path

from packaging.utils import canonicalize_name

# Setuptools' own default when an sdist names no build backend (PEP 517).
DEFAULT_BUILD_REQUIRES = ["setuptools>=40.8.0", "wheel"]


class SourceError(Exception):
    """One line for the person running `make build`."""


def pip(*arguments: str) -> subprocess.CompletedProcess:
    command = [sys.executable, "-m", "pip", "--disable-pip-version-check", *arguments]
    return subprocess.run(command, capture_output=True, text=True, check=False)


def fetch(requirement: str, sdists: Path, what: str) -> Path:
    """The source distribution of `requirement` (its best version), downloaded into `sdists`."""
    sdists.mkdir(parents=True, exist_ok=True)
    before = set(sdists.iterdir())
    result = pip("download", "--no-deps", "--no-binary", ":all:", "-d", str(sdists), requirement)
    new = sorted(set(sdists.iterdir()) - before)
    if result.returncode != 0 or not new:
        raise SourceError(f"{requirement} has no wheel for {what} and no source distribution (or no such version)")
    return new[0]


def metadata(sdist: Path) -> dict:
    """The package's core metadata (name, version, requires_dist), as its build backend says."""
    result = pip("install", "--dry-run", "--no-deps", "--ignore-installed", "--quiet", "--report", "-", str(sdist))
    try:
        return json.loads(result.stdout)["install"][0]["metadata"]
    except (ValueError, KeyError, IndexError):
        last = [line for line in (result.stdout + result.stderr).splitlines() if line.strip()][-1:]
        raise SourceError(f"the metadata of {sdist.name} could not be read: {' '.join(last)[:200]}") from None


def build_requires(sdist: Path) -> list[str]:
    """[build-system] requires of the sdist's pyproject.toml, or setuptools' default."""
    try:
        if sdist.name.endswith(".zip"):
            with zipfile.ZipFile(sdist) as archive:
                names = [n for n in archive.namelist() if n.count("/") == 1 and n.endswith("/pyproject.toml")]
                text = archive.read(names[0]).decode() if names else ""
        else:
            with tarfile.open(sdist) as archive:
                members = [
                    m for m in archive.getmembers() if m.name.count("/") == 1 and m.name.endswith("/pyproject.toml")
                ]
                handle = archive.extractfile(members[0]) if members else None
                text = handle.read().decode() if handle else ""
        requires = tomllib.loads(text).get("build-system", {}).get("requires") if text else None
    except (tarfile.TarError, zipfile.BadZipFile, tomllib.TOMLDecodeError, UnicodeDecodeError):
        requires = None
    return list(requires) if requires else list(DEFAULT_BUILD_REQUIRES)


def stand_in(meta: dict, directory: Path) -> Path:
    """A py3-none-any wheel with only `meta`'s name, version and dependencies: pip resolves the
    rest against it, and it never reaches an image (wheelhouse.py removes it)."""
    directory.mkdir(parents=True, exist_ok=True)
    name, version = meta["name"], meta["version"]
    stem = f"{canonicalize_name(name).replace('-', '_')}-{version}"
    lines = ["Metadata-Version: 2.1", f"Name: {name}", f"Version: {version}"]
    lines += [f"Requires-Dist: {line}" for line in meta.get("requires_dist") or []]
    files = {
        f"{stem}.dist-info/METADATA": "\n".join(lines) + "\n",
        f"{stem}.dist-info/WHEEL": (
            "Wheel-Version: 1.0\nGenerator: switcher\nRoot-Is-Purelib: true\nTag: py3-none-any\n"
        ),
    }
    record = []
    for path, text in files.items():
        digest = base64.urlsafe_b64encode(hashlib.sha256(text.encode()).digest()).rstrip(b"=").decode()
        record.append(f"{path},sha256={digest},{len(text.encode())}")
    record.append(f"{stem}.dist-info/RECORD,,")
    files[f"{stem}.dist-info/RECORD"] = "\n".join(record) + "\n"
    wheel = directory / f"{stem}-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as archive:
        for path, text in files.items():
            archive.writestr(path, text)
    return wheel
