"""One switch for every load balancer (issue #11's rule, used by promote and rollback).

An environment has one lb on a single engine and one per lb node on a cluster; they must never
be left routing to different colours. `switch_all` flips all of them side by side, reading each
one back in the same call, and only returns when every lb took the new colour; when one did not (its flip failed
or it reads back the old colour), the ones that took it are switched back and the switch fails
naming the lb.

Pure logic over a small interface (`LoadBalancer`): the Docker-backed lb of one engine is in
`LbContainer`; the unit tests use an in-memory fake.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Protocol

from switcher.config import FOLLOWED, LIVE_FLAG
from switcher.errors import ConfigError, SwitcherError
from switcher.maintenance import MaintenanceSwitch
from switcher.runtime import Docker


class LoadBalancer(Protocol):
    name: str

    def set_live(self, color: str) -> str | None:
        """Route live traffic to `color`, then read back the colour it routes to (None: it
        cannot say); raises SwitcherError when the flip itself failed."""

    def live(self) -> str | None:
        """The colour it routes live traffic to now (None: it cannot say)."""


class LbContainer:
    """An lb container (of one engine, or a cluster's lb task through its node's engine): its
    flag file, flipped and read with docker exec."""

    def __init__(self, docker: Docker, container: str, name: str | None = None) -> None:
        self.docker, self.container, self.name = docker, container, name or container

    def set_live(self, color: str) -> str | None:
        """One exec (the flip's time is mostly round trips to the node's engine): the flag file
        set, then tested as nginx tests it on every request; the answer is the exit code (an
        exec's output can be lost: docker-py #2042; its exit code is not). The flip's time goes
        beside the flag: a cluster's lb follows only commits newer than it (nginx/lb-follow.sh)."""
        flip = f"touch {LIVE_FLAG}" if color == "green" else f"rm -f {LIVE_FLAG}"
        flip += f" && printf '%s\\n' {time.time_ns()} > {FOLLOWED}.tmp && mv -f {FOLLOWED}.tmp {FOLLOWED}"
        code, output = self.docker.exec_output(self.container, ["sh", "-c", f"{flip} || exit 3; test -f {LIVE_FLAG}"])
        if code in (0, 1):
            return "green" if code == 0 else "blue"
        if code == 3:
            raise SwitcherError(f"could not switch {self.name} to {color}: {output.strip()[:200]}")
        return self.live()  # no exit code came back: read the flag again

    def live(self) -> str | None:
        code = self.docker.exec_status(self.container, ["test", "-f", LIVE_FLAG])
        return {0: "green", 1: "blue"}.get(code)

    def resolves(self, name: str) -> set[str] | None:
        """The addresses its DNS gives for `name` (on a cluster, the tasks of a colour's service
        as its node's engine knows them); None when it cannot be asked."""
        code, output = self.docker.exec_printing(self.container, ["getent", "ahostsv4", name])
        if code not in (0, 2):  # 2: the name is unknown there
            return None
        return {line.split()[0] for line in output.splitlines() if line.strip()}

    def check_config(self) -> None:
        """Its nginx configuration is valid (nginx -t); else ConfigError."""
        code, output = self.docker.exec_output(self.container, ["nginx", "-t", "-q", "-e", "stderr"])
        if code != 0:
            raise ConfigError(f"{self.name}'s nginx configuration is invalid: {output.strip().splitlines()[-1:]}")

    def in_maintenance(self) -> bool:
        return MaintenanceSwitch(self.docker, self.container).read() is not None

    def maintenance_page(self, release: str) -> str:
        """The maintenance page `release` published here (SwitcherError: none)."""
        return MaintenanceSwitch(self.docker, self.container).page_of(release)

    def set_maintenance(self, page: str | None, state: str | None, generation: int) -> None:
        """Maintenance on (`state`, its `page`) or off (None), `generation` its switch's time."""
        maintenance = MaintenanceSwitch(self.docker, self.container)
        if state is None:
            maintenance.turn_off(generation)
        else:
            maintenance.write(page or "", state, generation)

    def refresh_maintenance(self, release: str) -> None:
        """When maintenance is on here: its page becomes `release`'s (about to be live)."""
        maintenance = MaintenanceSwitch(self.docker, self.container)
        if maintenance.read() is not None:
            maintenance.refresh_page(release)

    def published_releases(self) -> list[str]:
        """The releases whose static files it has, newest first."""
        code, output = self.docker.exec_output(self.container, ["ls", "-t", "/srv/static/.releases"])
        return [name[: -len(".json")] for name in output.split() if name.endswith(".json")] if code == 0 else []

    def has_published(self, release: str) -> bool:
        """The static files of `release` are in its static volume."""
        return self.docker.exec_status(self.container, ["test", "-f", f"/srv/static/.releases/{release}.json"]) == 0


def side_by_side(lbs: Sequence[LoadBalancer], action: Callable[[LoadBalancer], object]) -> list[object]:
    """`action` on every lb at once (one lb: in this thread); each result or the error it raised."""

    def guarded(lb: LoadBalancer) -> object:
        try:
            return action(lb)
        except SwitcherError as error:
            return error

    if len(lbs) == 1:
        return [guarded(lbs[0])]
    with ThreadPoolExecutor(max_workers=min(len(lbs), 16)) as pool:
        return list(pool.map(guarded, lbs))


def switch_all(
    lbs: Sequence[LoadBalancer], color: str, previous: str, report: Callable[[str], None] = lambda _: None
) -> None:
    """Every lb routes to `color`, checked by reading each back; else none does (those that took
    it are switched back to `previous`) and SwitcherError names the lb that did not."""
    if not lbs:
        raise SwitcherError("no lb runs: nothing routes live traffic")
    started = time.monotonic()
    flipped = side_by_side(lbs, lambda lb: lb.set_live(color))  # each flip read back in the same call
    failed = [
        (lb, outcome if isinstance(outcome, SwitcherError) else f"it routes to {outcome or 'an unknown colour'}")
        for lb, outcome in zip(lbs, flipped, strict=True)
        if outcome != color
    ]
    if not failed:
        report(f"  {len(lbs)} lb(s) switched to {color} and read back in {1000 * (time.monotonic() - started):.0f} ms")
        return
    # back: every lb the flip reached that does not read back `previous` (one that cannot say too)
    took = [
        lb
        for lb, outcome in zip(lbs, flipped, strict=True)
        if outcome != previous and not isinstance(outcome, SwitcherError)
    ]
    if took:
        report(f"{failed[0][0].name} did not take {color}: switching {len(took)} lb(s) back to {previous}")
        back = side_by_side(took, lambda lb: lb.set_live(previous))
        stuck = [lb.name for lb, outcome in zip(took, back, strict=True) if isinstance(outcome, SwitcherError)]
        if stuck:
            report(f"could not switch {', '.join(stuck)} back to {previous}: the lbs disagree, see `switcher status`")
    lb, why = failed[0]
    raise SwitcherError(f"{lb.name} did not take the switch to {color} ({why}); live traffic stays on {previous}")
