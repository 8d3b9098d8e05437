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

import contextlib
import hashlib
import os
import re
import shutil
import subprocess
import sys
import tempfile
import tomllib
import zipfile
from dataclasses import dataclass
from pathlib import Path

import sdists
from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import canonicalize_name, parse_wheel_filename

ROOT = Path(__file__).resolve().parent.parent
PLATFORM = ROOT / "images" / "site" / "platform-requirements.txt"
# The Pythons a site image can have: Debian's python3 of each base (major.minor: full version).
PYTHONS = {"3.11": "3.11.2", "3.13": "3.13.5"}  # Debian 12 bookworm, Debian 13 trixie
SITE_PYTHON = os.environ.get("SITE_PYTHON", "3.11")
FULL_VERSION = PYTHONS.get(SITE_PYTHON, PYTHONS["3.11"])
TARGET = [
    "--only-binary=:all:",
    *("--platform", "manylinux2014_x86_64", "--python-version", SITE_PYTHON, "--implementation", "cp"),
]
WHAT = f"CPython {SITE_PYTHON} on manylinux x86-64"
# The image's Python as environment markers see it. pip evaluates the markers of dependencies
# with the Python that runs it, whatever --python-version says, so `add_target_dependencies`
# evaluates them again for this one (redis needs async-timeout below 3.11.3, say, which a host
# with 3.11.7 would never fetch).
TARGET_ENV = {
    "python_version": SITE_PYTHON,
    "python_full_version": FULL_VERSION,
    "implementation_name": "cpython",
    "implementation_version": FULL_VERSION,
    "platform_python_implementation": "CPython",
    "sys_platform": "linux",
    "platform_system": "Linux",
    "platform_machine": "x86_64",
    "os_name": "posix",
    "extra": "",
}
# The PostgreSQL drivers: a site that names one gets no other.
DRIVERS = {"psycopg", "psycopg-binary", "psycopg-c", "psycopg2", "psycopg2-binary"}
KEEP = 8  # wheelhouses kept (other sites, other pins), newest first


class BuildError(Exception):
    """One line for the person running `make build`."""


class NoWheel(BuildError):
    """pip found no wheel for the target for `requirement` (it may have a source distribution)."""

    def __init__(self, requirement: str, message: str) -> None:
        super().__init__(message)
        self.requirement = requirement


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
    for part in [" ".join(TARGET), repr(sorted(TARGET_ENV.items())), platform_text, sources.generated]:
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


def wheel_requirements(wheel: Path) -> list[Requirement]:
    """The Requires-Dist lines of a wheel's METADATA."""
    with zipfile.ZipFile(wheel) as archive:
        name = next((n for n in archive.namelist() if n.endswith(".dist-info/METADATA") and n.count("/") == 1), None)
        if name is None:
            return []
        metadata = archive.read(name).decode("utf-8", "replace")
    found = []
    for line in metadata.split("\n\n", 1)[0].splitlines():
        if line.startswith("Requires-Dist:"):
            with contextlib.suppress(InvalidRequirement):
                found.append(Requirement(line.split(":", 1)[1].strip()))
    return found


def missing_for_target(wheel_dir: Path) -> list[str]:
    """Pure but for reading the wheels: dependencies the target Python needs (their markers true
    for TARGET_ENV, without extras) that no wheel in `wheel_dir` provides, as requirement lines."""
    present = {canonicalize_name(parse_wheel_filename(w.name)[0]) for w in wheel_dir.glob("*.whl")}
    missing: dict[str, str] = {}
    for wheel in sorted(wheel_dir.glob("*.whl")):
        for requirement in wheel_requirements(wheel):
            if requirement.marker is not None and not requirement.marker.evaluate(TARGET_ENV):
                continue
            name = canonicalize_name(requirement.name)
            if name not in present:
                extras = f"[{','.join(sorted(requirement.extras))}]" if requirement.extras else ""
                missing.setdefault(name, f"{requirement.name}{extras}{requirement.specifier}")
    return sorted(missing.values(), key=str.lower)


def add_target_dependencies(scratch: Path, constraints: Path | None) -> None:
    """Fetch what the image's Python needs beyond what pip chose for the host's (see TARGET_ENV)."""
    for _ in range(5):
        missing = missing_for_target(scratch)
        if not missing:
            return
        (scratch / "target.txt").write_text("".join(f"{line}\n" for line in missing))
        pinned = ["-c", str(constraints)] if constraints is not None else []
        pip_download(["-r", str(scratch / "target.txt"), *pinned], scratch, "the packages and their pins")
    raise BuildError(f"dependencies for Python {TARGET_ENV['python_full_version']} do not settle: {', '.join(missing)}")


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


def not_found(output: str) -> str | None:
    """The requirement pip found no wheel for, from its output."""
    match = re.search(r"No matching distribution found for (\S+)", output)
    return match.group(1) if match else None


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
        missing = None if conflict else not_found(output)
        if missing is not None:
            raise NoWheel(missing, f"{missing} has no wheel for {WHAT} (or no such version)")
        line = f"{what} conflict: {conflict}" if conflict else None
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
    compiled = SourceBuilds(scratch)
    try:
        site_arguments = []
        if sources.top is not None:
            site_arguments = ["-r", str(sources.top)]
        elif sources.generated:
            (scratch / "pyproject-requirements.txt").write_text(sources.generated)
            site_arguments = ["-r", str(scratch / "pyproject-requirements.txt")]
        if site_arguments:  # alone; hashes checked, if any
            compiled.download(site_arguments, "the site's own requirements")
            add_target_dependencies(scratch, None)
        constraints = scratch / "site-constraints.txt"
        constraints.write_text("".join(f"{pin}\n" for pin in lock(scratch)))
        if added:
            (scratch / "platform.txt").write_text("".join(f"{line}\n" for line in added))
            arguments = ["-r", str(scratch / "platform.txt"), "-c", str(constraints)]
            compiled.download(arguments, "the platform's packages and the site's pins")
        add_target_dependencies(scratch, constraints)
        compiled.finish()
        site_pins = {pin.split("==")[0].lower() for pin in constraints.read_text().split()}
        pins = sorted([*lock(scratch), *compiled.pins], key=str.lower)
        platform_pins = [pin for pin in pins if pin.split("==")[0].lower() not in site_pins]
        decided = sorted(set(pins) - set(platform_pins))
        versions = [
            f"the site's pins decide {len(decided)} packages: {', '.join(decided) or 'none'}",
            f"the platform added {', '.join(platform_pins) or 'nothing'}",
        ]
        if compiled.pins:
            versions.append(f"built from source in the image (no wheel): {', '.join(compiled.pins)}")
        (scratch / "versions.txt").write_text("".join(f"{line}\n" for line in versions))
        (scratch / "lock.txt").write_text("".join(f"{pin}\n" for pin in pins))
        for helper in ("site-constraints.txt", "platform.txt", "pyproject-requirements.txt", "target.txt"):
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


class SourceBuilds:
    """Downloads into `scratch` that fetch, for each pinned package without a wheel, its source
    (`sdists/`), the wheels to build it with (`build-wheels/`) and a stand-in wheel with its
    metadata so pip resolves around it (scripts/sdists.py)."""

    def __init__(self, scratch: Path) -> None:
        self.scratch = scratch
        self.stubs = scratch / ".stand-ins"
        self.pins: list[str] = []

    def download(self, arguments: list[str], what: str) -> None:
        for _ in range(10):
            try:
                pip_download([*arguments, "--find-links", str(self.stubs)], self.scratch, what)
                return
            except NoWheel as missing:
                self.add(missing.requirement)
        raise BuildError(f"{what}: more than 10 packages without wheels")

    def add(self, requirement: str) -> None:
        try:
            sdist = sdists.fetch(requirement, self.scratch / "sdists", WHAT)
            meta = sdists.metadata(sdist)
        except sdists.SourceError as error:
            raise BuildError(str(error)) from None
        pin = f"{canonicalize_name(meta['name'])}=={meta['version']}"
        if pin in self.pins:
            raise BuildError(f"{requirement} has no wheel, and its source {sdist.name} did not satisfy pip")
        sdists.stand_in(meta, self.stubs)
        self.pins.append(pin)
        report(f"{requirement} has no wheel: its source {sdist.name} is compiled in the image")

    def finish(self) -> None:
        """The stand-ins go (the image builds the real wheels); the build backends' wheels come."""
        for stub in self.stubs.glob("*.whl"):
            (self.scratch / stub.name).unlink(missing_ok=True)
        shutil.rmtree(self.stubs, ignore_errors=True)
        requires = sorted(
            {line for sdist in (self.scratch / "sdists").glob("*") for line in sdists.build_requires(sdist)}
        )
        if requires:
            (self.scratch / "build-requires.txt").write_text("".join(f"{line}\n" for line in requires))
            arguments = ["-r", str(self.scratch / "build-requires.txt")]
            pip_download(arguments, self.scratch / "build-wheels", "the build backends of the source packages")
            (self.scratch / "build-requires.txt").unlink()


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
