#!/usr/bin/env python3
"""The site image's Python packages, fetched on the host as wheels for the image's Python.

The site's own pins decide: its requirements are resolved first, alone (hash-checked when
the file carries hashes). The platform then adds only what the site lacks (images/site/
platform-requirements.txt: gunicorn, a PostgreSQL driver, pymemcache, croniter, Django if the
site names none), resolved against the site's versions as constraints, so a platform package
can never move a site's pin; a real conflict is one line naming both sides. The result is a
lock file (every wheel, name==version) that the image installs with --no-deps.

The wheelhouse is a directory named by a hash of everything that decides its content (the
site's requirement files, the platform's, the target Python), never by file times: a new SITE
or an edited pin always gets its own, an unchanged one is reused.

Usage: wheelhouse.py SITE_DIR WHEELHOUSE_ROOT   (prints the wheelhouse directory last)
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import subprocess
import sys
import tempfile
import tomllib
from dataclasses import dataclass
from pathlib import Path

from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import canonicalize_name, parse_wheel_filename

ROOT = Path(__file__).resolve().parent.parent
PLATFORM = ROOT / "images" / "site" / "platform-requirements.txt"
TARGET = [
    "--only-binary=:all:",
    *("--platform", "manylinux2014_x86_64", "--python-version", "3.11", "--implementation", "cp"),
]
# The PostgreSQL drivers: a site that names one gets no other.
DRIVERS = {"psycopg", "psycopg-binary", "psycopg-c", "psycopg2", "psycopg2-binary"}
KEEP = 8  # wheelhouses kept (other sites, other pins), newest first


class BuildError(Exception):
    """One line for the person running `make build`."""


@dataclass(frozen=True)
class Sources:
    """The site's requirement files: the one pip is given, and every file it includes."""

    top: Path | None
    files: tuple[Path, ...]
    generated: str = ""  # requirements made from pyproject.toml's [project] dependencies


def find_requirements(site: Path) -> Sources:
    """The site's pins, where Django projects keep them: requirements.txt; else
    requirements/production.txt (prod.txt, base.txt); else pyproject.toml's dependencies."""
    for candidate in (
        "requirements.txt",
        "requirements/production.txt",
        "requirements/prod.txt",
        "requirements/base.txt",
    ):
        path = site / candidate
        if path.is_file():
            return Sources(top=path, files=tuple(included_files(path)))
    pyproject = site / "pyproject.toml"
    if pyproject.is_file():
        try:
            project = tomllib.loads(pyproject.read_text()).get("project", {})
        except tomllib.TOMLDecodeError as error:
            raise BuildError(f"{pyproject} is not valid TOML: {error}") from None
        dependencies = project.get("dependencies") or []
        return Sources(top=None, files=(pyproject,), generated="".join(f"{line}\n" for line in dependencies))
    return Sources(top=None, files=())


def included_files(path: Path, seen: set[Path] | None = None) -> list[Path]:
    """`path` and the files its -r/-c lines include, recursively."""
    seen = seen if seen is not None else set()
    path = path.resolve()
    if path in seen:
        return []
    seen.add(path)
    if not path.is_file():
        raise BuildError(f"requirement file {path} (included by the site) does not exist")
    found = [path]
    for line in logical_lines(path.read_text()):
        match = re.match(r"^(?:-r|--requirement|-c|--constraint)[\s=]+(\S+)", line)
        if match:
            found += included_files(path.parent / match.group(1), seen)
    return found


def logical_lines(text: str) -> list[str]:
    """Lines without comments, with backslash continuations joined."""
    joined = re.sub(r"\\\n", " ", text)
    lines = []
    for raw in joined.splitlines():
        line = re.sub(r"(^|\s)#.*$", "", raw).strip()
        if line:
            lines.append(line)
    return lines


def named(sources: Sources) -> set[str]:
    """The canonical names of the packages the site's requirements name (includes too)."""
    texts = [path.read_text() for path in sources.files if path.suffix != ".toml"]
    if sources.generated:
        texts.append(sources.generated)
    names = set()
    for text in texts:
        for line in logical_lines(text):
            if line.startswith("-"):
                continue  # options and includes (their files are read on their own)
            spec = re.split(r"\s+--", line)[0]  # without per-requirement options (--hash=…)
            try:
                names.add(canonicalize_name(Requirement(spec).name))
            except InvalidRequirement:
                if "://" in line or line.startswith((".", "/")):
                    raise BuildError(
                        f"the site's requirement {line!r} is a URL or path: pin a released version"
                    ) from None
                raise BuildError(f"the site's requirement {line!r} is not a requirement pip understands") from None
    return names


def additions(site_names: set[str], platform_text: str) -> list[str]:
    """Pure: the platform's requirement lines for what the site does not name itself."""
    wanted = []
    for line in logical_lines(platform_text):
        name = canonicalize_name(Requirement(line).name)
        if name in site_names:
            continue
        if name in DRIVERS and site_names & DRIVERS:
            continue
        wanted.append(line)
    return wanted


def key(sources: Sources, platform_text: str) -> str:
    digest = hashlib.sha256()
    for part in [" ".join(TARGET), platform_text, sources.generated]:
        digest.update(part.encode() + b"\0")
    for path in sources.files:
        digest.update(path.name.encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()[:16]


def lock(wheel_dir: Path) -> list[str]:
    """name==version of every wheel, sorted."""
    pins = set()
    for wheel in wheel_dir.glob("*.whl"):
        name, version, _, _ = parse_wheel_filename(wheel.name)
        pins.add(f"{name}=={version}")
    return sorted(pins, key=str.lower)


def conflict_line(output: str) -> str | None:
    """Pure: pip's ResolutionImpossible explanation as one line, or None."""
    if "ResolutionImpossible" not in output and "conflict is caused by" not in output:
        return None
    block = output.split("The conflict is caused by:", 1)[-1]
    causes = []
    for line in block.splitlines()[1:]:
        text = line.strip()
        if not text or text.startswith(("To fix", "1.", "2.", "ERROR", "Additionally")):
            if causes:
                break
            continue
        causes.append(text.replace("The user requested (constraint)", "the site pins"))
    return "; ".join(causes) if causes else None


def not_found_line(output: str) -> str | None:
    match = re.search(r"No matching distribution found for (\S+)", output)
    if match is None:
        return None
    return (
        f"{match.group(1)} has no wheel for CPython 3.11 on manylinux x86-64 (or no such version); "
        "packages that must be compiled are not supported yet"
    )


def pip_download(arguments: list[str], destination: Path, what: str) -> None:
    command = [
        sys.executable,
        "-m",
        "pip",
        "download",
        "--disable-pip-version-check",
        *TARGET,
        "-d",
        str(destination),
        *arguments,
    ]
    result = subprocess.run(command, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        output = result.stdout + result.stderr
        conflict = conflict_line(output)
        line = f"{what} conflict: {conflict}" if conflict else not_found_line(output)
        if line is None:
            last = [text.strip() for text in output.strip().splitlines() if text.strip()][-1:]
            line = f"pip could not fetch the packages: {' '.join(last)}"
        raise BuildError(line)


def build(site: Path, root: Path) -> Path:
    if not (site / "manage.py").is_file():
        raise BuildError(f"{site} has no manage.py; SITE must be a Django project")
    sources = find_requirements(site)
    platform_text = PLATFORM.read_text()
    wheelhouse = root / key(sources, platform_text)
    if (wheelhouse / "lock.txt").is_file():
        report(f"wheelhouse {wheelhouse.name} is up to date (the requirements did not change)")
        for line in (wheelhouse / "versions.txt").read_text().splitlines():
            report(line)
        return wheelhouse
    added = additions(named(sources), platform_text)
    root.mkdir(parents=True, exist_ok=True)
    for loose in [*root.glob("*.whl"), root / ".complete"]:  # the one flat wheelhouse of before
        loose.unlink(missing_ok=True)
    scratch = Path(tempfile.mkdtemp(prefix=".new-", dir=root))
    try:
        site_arguments = []
        if sources.top is not None:
            site_arguments = ["-r", str(sources.top)]
        elif sources.generated:
            (scratch / "pyproject-requirements.txt").write_text(sources.generated)
            site_arguments = ["-r", str(scratch / "pyproject-requirements.txt")]
        if site_arguments:
            pip_download(site_arguments, scratch, "the site's own requirements")  # alone; hashes checked, if any
        constraints = scratch / "site-constraints.txt"
        constraints.write_text("".join(f"{pin}\n" for pin in lock(scratch)))
        if added:
            (scratch / "platform.txt").write_text("".join(f"{line}\n" for line in added))
            arguments = ["-r", str(scratch / "platform.txt"), "-c", str(constraints)]
            pip_download(arguments, scratch, "the platform's packages and the site's pins")
        site_pins = {pin.split("==")[0].lower() for pin in constraints.read_text().split()}
        pins = lock(scratch)
        platform_pins = [pin for pin in pins if pin.split("==")[0].lower() not in site_pins]
        decided = sorted(set(pins) - set(platform_pins))
        versions = [
            f"the site's pins decide {len(decided)} packages: {', '.join(decided) or 'none'}",
            f"the platform added {', '.join(platform_pins) or 'nothing'}",
        ]
        (scratch / "versions.txt").write_text("".join(f"{line}\n" for line in versions))
        (scratch / "lock.txt").write_text("".join(f"{pin}\n" for pin in pins))
        for helper in ("site-constraints.txt", "platform.txt", "pyproject-requirements.txt"):
            (scratch / helper).unlink(missing_ok=True)
        if wheelhouse.exists():
            shutil.rmtree(wheelhouse)
        scratch.rename(wheelhouse)
    except BaseException:
        shutil.rmtree(scratch, ignore_errors=True)
        raise
    for line in versions:
        report(line)
    prune(root, keep=wheelhouse)
    return wheelhouse


def prune(root: Path, keep: Path) -> None:
    others = sorted(
        (path for path in root.iterdir() if path.is_dir() and path != keep and not path.name.startswith(".")),
        key=lambda path: path.stat().st_mtime,
        reverse=True,
    )
    for old in others[KEEP - 1 :]:
        shutil.rmtree(old, ignore_errors=True)


def report(message: str) -> None:
    print(f"build: {message}", file=sys.stderr, flush=True)


def main() -> None:
    if len(sys.argv) != 3:
        sys.exit("usage: wheelhouse.py SITE_DIR WHEELHOUSE_ROOT")
    try:
        wheelhouse = build(Path(sys.argv[1]), Path(sys.argv[2]))
    except BuildError as error:
        print(f"build: error: {error}", file=sys.stderr)
        sys.exit(2)
    os.utime(wheelhouse)  # newest first, for pruning
    print(wheelhouse)


if __name__ == "__main__":
    main()
