#!/usr/bin/env python3
"""The processes a site declares in its Procfile (the Heroku and Dokku convention), for the
site image's `io.switcher.processes` label.

`web:` is the platform's own (gunicorn, with the release header and draining) and `release:`
is its migrate step; `worker:` and `beat:` run as containers of the live release (compose/
stack.yml). Prints the names it runs, comma-separated (nothing without a Procfile), and one
`build: NOTE` line on stderr per line it does not run.

Usage: procfile.py SITE_DIR
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

RUN = ("worker", "beat")
PLATFORM = {"web": "the platform runs gunicorn itself", "release": "the platform runs migrate at deploy"}
_LINE = re.compile(r"([A-Za-z0-9_-]+):\s*(.*)")


def declared(text: str) -> tuple[list[str], list[str]]:
    """(process names the platform runs, notes about the lines it does not)."""
    names: list[str] = []
    notes: list[str] = []
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        match = _LINE.fullmatch(line)
        if match is None or not match.group(2):
            raise ValueError(f"Procfile line {number} is not `name: command`: {line[:80]!r}")
        name = match.group(1)
        if name in RUN:
            if name in names:
                raise ValueError(f"Procfile line {number}: {name} is declared twice")
            names.append(name)
        else:
            notes.append(f"Procfile: {name}: is not run ({PLATFORM.get(name, 'only worker: and beat: are')})")
    return [name for name in RUN if name in names], notes


def main() -> int:
    path = Path(sys.argv[1]) / "Procfile"
    if not path.is_file():
        return 0
    try:
        names, notes = declared(path.read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError) as error:
        print(f"build: error: {error}", file=sys.stderr)
        return 2
    for note in notes:
        print(f"build: {note}", file=sys.stderr)
    print(",".join(names))
    return 0


if __name__ == "__main__":
    sys.exit(main())
