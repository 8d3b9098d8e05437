"""The engine interface (engine.py) on one Docker engine with Compose: the lb, the colours and
cron are containers of the environment's project, read and changed through a Session."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from switcher.compose import Releases
from switcher.engine import ColorState, EveryLb, Routing, wait_drained
from switcher.errors import Unhealthy
from switcher.lock import EnvironmentLock
from switcher.probe import Answer
from switcher.runtime import require_images
from switcher.switch import LbContainer

if TYPE_CHECKING:  # chores.py uses this engine for maintenance
    from switcher.chores import Chores


class ComposeEngine(EveryLb):
    def __init__(self, session: Chores) -> None:
        self.session, self.docker = session, session.docker
        self.env, self.store, self.report = session.env, session.store, session.report
        self.preview_url: str | None = self.env.preview_url  # PREVIEW_PORT on 127.0.0.1

    def locked(self, command: str) -> EnvironmentLock:
        return self.session.locked(command)

    def routing(self) -> Routing:
        return Routing(self.session.status().live)  # raises when the lb does not run

    def color(self, color: str) -> ColorState:
        container = self.session.color_container(color)
        if container is None:
            return ColorState(None, False, False, "missing")
        detail = f"{container.state}/{container.health}"
        return ColorState(container.release, container.state == "running", container.health == "healthy", detail)

    def lbs(self) -> Sequence[LbContainer]:
        return self.session.lbs()

    def away_lbs(self) -> list[str]:
        return []

    def gate(self, color: str, release: str, timeout: float) -> None:
        state = self.color(color)
        if not (state.running and state.healthy):
            raise Unhealthy(f"app-{color} is {state.detail}, not healthy")
        self.session.expect("preview", release, timeout=timeout)

    def migrations_ahead(self, color: str, release: str) -> list[str]:
        container = self.session.color_container(color)
        state = self.session.release_state(release, container.name) if container is not None else None
        if state is None:
            raise Unhealthy(f"app-{color} could not say which migrations it knows")
        return [str(name) for name in state.get("ahead") or []]

    def publish(self, release: str) -> None:
        if self.lacks_release(release):
            self.session.task(["publish-assets", "/srv/static", "/srv/maintenance"], release, user="0")

    def verify(self, release: str, count: int, timeout: float) -> None:
        self.session.expect("live", release, count=count, timeout=timeout)

    def cron_follow(self, release: str, timeout: float) -> None:
        self.session.cron_follow(release)

    def commit_live(self, color: str, release: str) -> None:
        """One engine, one lb: the flag promote set is all there is."""

    def commit_maintenance(
        self, lbs: Sequence[LbContainer], page: str, state: str | None, generation: int
    ) -> str | None:
        return None  # one engine, one lb: its state file is all there is

    def drain(self, color: str, timeout: float) -> None:
        container = self.session.color_container(color)
        if container is None or container.state != "running":
            return
        name = container.name

        def in_flight() -> int | None:
            code, output = self.docker.exec_printing(name, ["inflight"])
            return int(output.strip()) if code == 0 and output.strip().isdigit() else None

        wait_drained(color, in_flight, timeout, self.report)

    def stop_color(self, color: str) -> None:
        container = self.session.color_container(color)
        if container is not None:
            self.docker.stop(container.name, timeout=30)

    def prune(self) -> None:
        self.session.prune_static(quiet=True)

    def has_release(self, release: str) -> bool:
        return self.docker.image_exists(f"{self.env.image_prefix}/site:{release}")

    def bring_back(self, color: str, release: str, timeout: float) -> None:
        container = self.session.color_container(color)
        if container is not None and container.release == release and container.state != "running":
            self.docker.start(container.name)
        else:
            self.session.stack.recreate_color(color, self.session.releases(fallback=release, **{color: release}))
        self.session.wait_healthy(color, timeout)

    # -- deploy -------------------------------------------------------------------------------
    def credentials(self) -> dict[str, str]:
        return self.session.credentials()

    def _releases(self, release: str, idle: str) -> Releases:
        return self.session.releases(fallback=release, **{idle: release})

    def require_release(self, release: str) -> None:
        require_images(self.docker, [f"{self.env.image_prefix}/site:{release}"], release)

    def migration_plan(self, release: str, idle: str) -> dict[str, Any]:
        return self.session.migration_plan(release, self._releases(release, idle))

    def recreate(self, color: str, release: str) -> None:
        self.session.stack.recreate_color(color, self._releases(release, color))

    def backup(self, release: str, reason: str) -> str:
        return self.session.backup(release=release, reason=reason).id

    def migrate(self, release: str, idle: str) -> None:
        self.session.migrate(release, self._releases(release, idle))

    def run(self, release: str, idle: str, command: list[str]) -> str:
        return self.session.task(command, release, self._releases(release, idle))

    def wait_ready(self, color: str, release: str, health_timeout: float, verify_timeout: float) -> None:
        self.session.wait_healthy(color, health_timeout)
        self.session.expect("preview", release, timeout=verify_timeout)

    def warm(self, color: str) -> None:
        for path in ("/", "/", "/healthz"):
            self.session.probe.get("preview", path)

    def preview_get(self, color: str, path: str) -> Answer:
        return self.session.probe.get("preview", path)

    def stop_processes(self) -> None:
        self.session.stack.stop_processes()

    def explain_failure(self, color: str) -> None:
        container = self.session.color_container(color)
        if container is None:
            return
        for line in container.health_log[-3:]:
            self.report(f"  health check of app-{color}: {line[:300]}")
        for line in self.docker.logs_tail(container.name, 15).strip().splitlines():
            self.report(f"  app-{color} log: {line[:300]}")
