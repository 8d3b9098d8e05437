"""The engine interface (engine.py) on one Docker engine with Compose: the lb, the colours and
cron are containers of the environment's project, read and changed through a Session."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from switcher.engine import ColorState, EveryLb, Routing, wait_drained
from switcher.errors import Unhealthy
from switcher.lock import EnvironmentLock
from switcher.switch import LbContainer

if TYPE_CHECKING:  # chores.py uses this engine for maintenance
    from switcher.chores import Chores


class ComposeEngine(EveryLb):
    def __init__(self, session: Chores) -> None:
        self.session, self.docker = session, session.docker
        self.env, self.store, self.report = session.env, session.store, session.report

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

    def drain(self, color: str, timeout: float) -> None:
        container = self.session.color_container(color)
        if container is None or container.state != "running":
            return
        name = container.name

        def in_flight() -> int | None:
            code, output = self.docker.exec_output(name, ["inflight"])
            return int(output.strip() or 0) if code == 0 else None

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
