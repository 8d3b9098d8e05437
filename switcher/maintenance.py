"""Maintenance mode: the state the lb reads per request, and the page it answers with.

Pure: `render_page` and `state_json` make what `MaintenanceSwitch` writes into the lb-live
volume with docker exec (the content on stdin): the page first, then the state file (nginx's flag), each by an atomic
rename; off removes the state file and leaves the page. No nginx reload, so no request is dropped.
"""

from __future__ import annotations

import html
import json
from datetime import UTC, datetime

from switcher.config import LIVE_FLAG_DIR, MAINTENANCE_FOLLOWED
from switcher.errors import SwitcherError
from switcher.runtime import Docker

STATE_FILE = f"{LIVE_FLAG_DIR}/maintenance.json"
PAGE_FILE = f"{LIVE_FLAG_DIR}/maintenance.html"
MESSAGE_MARK = "<!--MAINTENANCE-MESSAGE-->"


def render_page(page: str, message: str | None) -> str:
    """The release's page with the operator's message (escaped) at its mark, else before </body>."""
    if not message:
        return page.replace(MESSAGE_MARK, "")
    block = f'<p class="maintenance-message">{html.escape(message)}</p>'
    if MESSAGE_MARK in page:
        return page.replace(MESSAGE_MARK, block)
    if "</body>" in page:
        return page.replace("</body>", f"{block}\n</body>", 1)
    return page + block


def state_json(token: str, message: str | None, retry_after: int, allow: list[str], release: str) -> str:
    return json.dumps(
        {
            "on": True,
            "since": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "message": message or "",
            "retry_after": retry_after,
            "allow": allow,
            "release": release,
            "token": token,
        },
        sort_keys=True,
    )


class MaintenanceSwitch:
    """Reads and writes the maintenance state through the running lb."""

    def __init__(self, docker: Docker, lb: str) -> None:
        self.docker, self.lb = docker, lb

    def _write(self, path: str, content: str) -> None:
        # On stdin (Docker.write_file): the state holds the bypass token, and a command line is
        # in every process list of the host.
        code, output = self.docker.write_file(self.lb, path, content)
        if code != 0:
            raise SwitcherError(f"could not write {path} in the lb: {output.strip()[:200]}")

    def page_of(self, release: str) -> str:
        code, output = self.docker.exec_output(self.lb, ["cat", f"/srv/maintenance/{release}/index.html"])
        if code != 0:
            raise SwitcherError(f"release {release} has no published maintenance page (run `make up` or deploy it)")
        return output

    def turn_on(self, release: str, token: str, message: str | None, retry_after: int, allow: list[str]) -> None:
        self.write(render_page(self.page_of(release), message), state_json(token, message, retry_after, allow, release))

    def write(self, page: str, state: str, generation: int | None = None) -> None:
        """The page, then the state (nginx's flag); with `generation`, the switch's time beside
        them: a cluster's lb follows only newer commits (nginx/lb-follow.sh)."""
        self._write(PAGE_FILE, page)
        self._write(STATE_FILE, state)
        if generation is not None:
            self._write(MAINTENANCE_FOLLOWED, f"{generation}\n")

    def refresh_page(self, release: str) -> None:
        """After a promote: the new live release's page, keeping the message."""
        current = self.read()
        if current is not None:
            self._write(PAGE_FILE, render_page(self.page_of(release), current.get("message")))

    def turn_off(self, generation: int | None = None) -> None:
        """Remove the state file only: a request that saw it a moment ago still finds its page
        (removing both raced with it: an nginx 404 under load). `on` overwrites the page. With
        `generation`, the switch's time beside it (as `write`)."""
        command = ["rm", "-f", STATE_FILE]
        if generation is not None:
            tmp = f"{MAINTENANCE_FOLLOWED}.tmp"
            followed = f"printf '%s\\n' {int(generation)} > {tmp} && mv -f {tmp} {MAINTENANCE_FOLLOWED}"
            command = ["sh", "-c", f"rm -f {STATE_FILE} && {followed}"]
        code, output = self.docker.exec_output(self.lb, command)
        if code != 0:
            raise SwitcherError(f"could not turn maintenance off: {output.strip()[:200]}")

    def read(self) -> dict | None:
        code, output = self.docker.exec_printing(self.lb, ["cat", STATE_FILE])  # a state file is never empty
        return parse_state(output if code == 0 else None)


def parse_state(raw: str | bytes | None) -> dict | None:
    """The maintenance state file's content (None: no file, maintenance is off)."""
    if raw is None:
        return None
    try:
        return json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError):
        return {"on": True, "message": "(unreadable state file)"}
