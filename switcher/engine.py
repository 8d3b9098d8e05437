"""The one interface deploy, promote, rollback and maintenance run over (deployment.py,
promotion.py, maintenance_mode.py): what they need of the engine an environment runs on. Two
implementations: one Docker engine with Compose (compose_engine.py) and a Swarm
(swarm_engine.py); the unit tests use an in-memory fake (tests/unit/fakes.py).

Every method is safe to repeat: a switcher killed between any two leaves a serving site and
the same command run again finishes the job.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Any, Protocol

from switcher.config import Environment
from switcher.errors import Refused
from switcher.probe import Answer
from switcher.switch import LbContainer


class Store(Protocol):
    """The environment's store: colour records and the history (colors.py, history.py)."""

    def read(self, path: str) -> bytes | None: ...
    def read_dir(self, path: str) -> dict[str, bytes]: ...
    def write(self, files: dict[str, tuple[bytes, int]]) -> None: ...


@dataclass(frozen=True)
class ColorState:
    """A colour as it runs: its release (None: nothing of it exists) and whether it serves."""

    release: str | None
    running: bool
    healthy: bool
    detail: str  # for messages: "running/healthy", "exited", "1 of 2 tasks run r2"


@dataclass(frozen=True)
class Routing:
    """The colour every lb routes to, or None with why (the lbs disagree)."""

    live: str | None
    why: str = ""

    def required(self) -> str:
        """The live colour; refuses (nothing changed) when the lbs disagree."""
        if self.live is None:
            raise Refused(f"{self.why}: `switcher promote COLOR` puts every lb on COLOR; nothing changed")
        return self.live


class Engine(Protocol):
    env: Environment
    store: Store
    report: Callable[[str], None]

    def locked(self, command: str) -> AbstractContextManager[object]:
        """The environment's lock, held by `command`."""

    def routing(self) -> Routing:
        """Which colour the lbs route to; raises when no lb runs."""

    def color(self, color: str) -> ColorState: ...

    def lbs(self) -> Sequence[LbContainer]:
        """Every lb that routes live traffic and can be reached (one on one engine; one per lb
        node that is ready on a Swarm)."""

    def away_lbs(self) -> list[str]:
        """Where an lb runs that cannot be reached now (a Swarm's nodes that are down)."""

    def gate(self, color: str, release: str, timeout: float) -> None:
        """`color` runs `release`, healthy, and answers; else Unhealthy."""

    def migrations_ahead(self, color: str, release: str) -> list[str]:
        """Migrations the database has that `release` does not know; Unhealthy when it cannot say."""

    def check_lbs(self) -> None:
        """Every lb's nginx configuration is valid (nginx -t); else ConfigError."""

    def publish(self, release: str) -> None:
        """The static files and maintenance page of `release` are on every lb (kept if there)."""

    def refresh_maintenance(self, release: str) -> None:
        """When maintenance is on: its page becomes `release`'s (about to be live)."""

    def verify(self, release: str, count: int, timeout: float) -> None:
        """Every lb answers `count` times in a row from `release`; else Unhealthy."""

    def commit_live(self, color: str, release: str) -> None:
        """`color` (running `release`) is live for good (promote verified it): one engine has
        nothing to do; on a Swarm an lb that missed the switch (its node away) follows it once
        back."""

    def commit_maintenance(
        self, lbs: Sequence[LbContainer], page: str, state: str | None, generation: int
    ) -> str | None:
        """Maintenance on (`state`, `page`) or off (None), set at `generation`, for lbs that are
        away to take once back, written through one of `lbs` (a Swarm; one engine has nothing
        to do): None when done, else why it could not be."""

    def cron_follow(self, release: str, timeout: float) -> None:
        """Cron (and beat, workers) run `release`, the old ones stopped first."""

    def drain(self, color: str, timeout: float) -> None:
        """Wait until `color` has finished its requests in flight (up to `timeout`)."""

    def stop_color(self, color: str) -> None: ...

    def prune(self) -> None:
        """Remove static files no retained release references."""

    def has_release(self, release: str) -> bool:
        """The site image of `release` is where this engine runs it from."""

    def bring_back(self, color: str, release: str, timeout: float) -> None:
        """`color` runs `release` again, healthy (rollback to an idle colour that is stopped,
        gone or holds a release that did not deploy ok)."""


class DeployEngine(Engine, Protocol):
    """What deploy needs of an engine beyond promote's (deployment.py)."""

    # Where an operator can look at the idle colour: one engine's preview listener; None on a
    # Swarm, whose lbs serve the preview to the stack's own network only (cluster_preview.py).
    preview_url: str | None

    def credentials(self) -> dict[str, str]: ...

    def require_release(self, release: str) -> None:
        """Refuse (nothing changed) unless every image of `release` is where this engine runs it from."""

    def migration_plan(self, release: str, idle: str) -> dict[str, Any]:
        """What `release`'s unapplied migrations do, and those it lacks (migrations.parse_output)."""

    def recreate(self, color: str, release: str) -> None:
        """`color` runs `release` (not waited for)."""

    def backup(self, release: str, reason: str) -> str:
        """A backup of the database; its id."""

    def migrate(self, release: str, idle: str) -> None: ...

    def run(self, release: str, idle: str, command: list[str]) -> str:
        """`command` in a one-off container of `release` with the site's settings; its output."""

    def wait_ready(self, color: str, release: str, health_timeout: float, verify_timeout: float) -> None:
        """`color` runs `release`, healthy (one engine: and answers through preview)."""

    def warm(self, color: str) -> None: ...

    def preview_get(self, color: str, path: str) -> Answer: ...

    def stop_processes(self) -> None:
        """Cron, beat and workers stopped (deploy --maintenance); promote starts them again."""

    def explain_failure(self, color: str) -> None:
        """Say what `color`'s health checks and logs say."""


class EveryLb:
    """What both engines do alike on each of their lbs (docker exec in each lb container)."""

    def lbs(self) -> Sequence[LbContainer]:
        raise NotImplementedError

    def check_lbs(self) -> None:
        for lb in self.lbs():
            lb.check_config()

    def refresh_maintenance(self, release: str) -> None:
        for lb in self.lbs():
            lb.refresh_maintenance(release)

    def lacks_release(self, release: str) -> bool:
        """Some lb lacks the static files of `release`."""
        return not all(lb.has_published(release) for lb in self.lbs())


def require_every_lb(engine: Engine, what: str) -> None:
    """Refused (nothing changed) while an lb cannot be reached: `what` must reach every lb, or one
    that comes back would serve without it."""
    away = engine.away_lbs()
    if away:
        raise Refused(
            f"{what} must reach every lb, and the lb on {', '.join(away)} cannot be reached (its node is not "
            "ready): bring it back, or take the node out of the swarm (`docker node rm`); nothing was changed"
        )


def wait_drained(
    color: str, in_flight: Callable[[], int | None], timeout: float, report: Callable[[str], None]
) -> None:
    """Until `in_flight()` (the colour's requests in flight; None: it cannot count them) is 0,
    at most `timeout` seconds; says so when it gives up."""
    deadline = time.monotonic() + timeout
    while True:
        count = in_flight()
        if count is None:
            report(f"  app-{color} cannot count its requests in flight; not waiting")
            return
        if count == 0:
            return
        if time.monotonic() > deadline:
            report(f"  app-{color} still has {count} requests in flight after {timeout:.0f} s")
            return
        time.sleep(0.2)
