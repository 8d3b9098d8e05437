#!/usr/bin/env python3
"""The Debian packages a site lists in its Aptfile (the Heroku and Dokku convention), split for
the site image: `-dev` packages only in the stage that compiles packages without wheels (with
the compiler), everything else in the image the site runs in (ImageMagick, ffmpeg, libldap …).

Writes OUT_DIR/apt-build.txt and OUT_DIR/apt-runtime.txt (empty without an Aptfile) and says
on stderr what it read; a name that is not a Debian package name is one line and exit 2.

Usage: aptfile.py SITE_DIR OUT_DIR
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

# Debian policy 5.6.1: lower case letters, digits, + - . ; at least two characters.
_NAME = re.compile(r"[a-z0-9][a-z0-9+.-]+")


def split(text: str) -> tuple[list[str], list[str]]:
    """(build-only packages, run-time packages); ValueError names the first bad line."""
    build: list[str] = []
    runtime: list[str] = []
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        if not _NAME.fullmatch(line):
            raise ValueError(f"Aptfile line {number}: {line[:80]!r} is not a Debian package name")
        target = build if line.endswith("-dev") else runtime
        if line not in target:
            target.append(line)
    return build, runtime


def main() -> int:
    site, out = Path(sys.argv[1]), Path(sys.argv[2])
    path = site / "Aptfile"
    build: list[str] = []
    runtime: list[str] = []
    if path.is_file():
        try:
            build, runtime = split(path.read_text(encoding="utf-8"))
        except (ValueError, UnicodeDecodeError) as error:
            print(f"build: error: {error}", file=sys.stderr)
            return 2
        print(
            f"build: Aptfile: run-time packages: {' '.join(runtime) or 'none'}; "
            f"for compiling only: {' '.join(build) or 'none'}",
            file=sys.stderr,
        )
    out.mkdir(parents=True, exist_ok=True)
    (out / "apt-build.txt").write_text("".join(f"{name}\n" for name in build))
    (out / "apt-runtime.txt").write_text("".join(f"{name}\n" for name in runtime))
    return 0


if __name__ == "__main__":
    sys.exit(main())
