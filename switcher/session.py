"""One switcher command's hold on an environment: what runs (read from Docker and the lb),
the environment's store (credentials, certificate, history, colour records), the lock, and
one-off task containers. chores.py (cron, configuration files, secrets, pruning) and
compose_engine.py (the engine interface deploy, promote, rollback and maintenance run over on
one engine) build on it."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import replace

from switcher import colors, history
from switcher.compose import Releases
from switcher.config import Environment, Paths
from switcher.errors import SwitcherError, Unhealthy
from switcher.lock import EnvironmentLock
from switcher.plans import Step, run_steps
from switcher.probe import SiteProbe
from switcher.runtime import ContainerInfo, Docker
from switcher.stack import Stack, plan_up
from switcher.state import StackStatus, by_service, derive_status, read_green_flag
from switcher.store import EnvironmentStore
from switcher.switch import LbContainer

Report = Callable[[str], None]


class Session:
    def __init__(self, paths: Paths, env: Environment, docker: Docker, report: Report) -> None:
        self.paths, self.env, self.docker, self.report = paths, env, docker, report
        self.store = EnvironmentStore(docker, env.project)
        self.stack = Stack(paths, env, docker, self.store, report)
        self._probe: SiteProbe | None = None

    # -- reading the truth ----------------------------------------------------------------------
    def containers(self) -> dict[str, ContainerInfo]:
        return by_service(self.docker.project_containers(self.env.project))

    def status(self) -> StackStatus:
        """What runs now; an environment whose lb does not run cannot be switched."""
        containers = self.docker.project_containers(self.env.project)
        status = derive_status(self.env, containers, read_green_flag(self.docker, containers))
        if status.live is None:
            raise SwitcherError(f"the lb of {self.env.name} is not running; start the stack with `make up`")
        return status

    def releases(self, fallback: str | None = None, **override: str) -> Releases:
        """The releases running now (a missing part gets `fallback`), with `override` applied."""
        containers = self.docker.project_containers(self.env.project)
        plan = plan_up(self.env, containers, None, fallback or self.any_release())
        return replace(plan.releases, **override)

    def any_release(self) -> str:
        for container in self.containers().values():
            if container.release and container.service.startswith("app-"):
                return container.release
        raise SwitcherError(f"{self.env.name} has no site containers; start it with `make up`")

    def lbs(self) -> list[LbContainer]:
        """Every lb that routes live traffic: one on a single engine."""
        return [LbContainer(self.docker, self.lb())]

    def lb(self) -> str:
        lb = self.containers().get("lb")
        if lb is None or lb.state != "running":
            raise SwitcherError("the lb is not running")
        return lb.name

    def color_container(self, color: str) -> ContainerInfo | None:
        return self.containers().get(f"app-{color}")

    def wait_healthy(self, color: str, timeout: float) -> ContainerInfo:
        deadline = time.monotonic() + timeout
        last_said = 0.0
        while True:
            container = self.color_container(color)
            if container is None:
                raise Unhealthy(f"app-{color} does not exist")
            if container.state == "running" and container.health == "healthy":
                return container
            if container.state in ("exited", "dead", "restarting") or container.health == "unhealthy":
                raise Unhealthy(f"app-{color} is {container.state}/{container.health}")
            now = time.monotonic()
            if now > deadline:
                raise Unhealthy(f"app-{color} not healthy after {timeout:.0f} s ({container.health})")
            if now - last_said >= 5:
                self.report(f"  app-{color}: {container.state}/{container.health}")
                last_said = now
            time.sleep(0.5)

    def expect(self, listener: str, release: str, path: str = "/healthz", count: int = 1, timeout: float = 15) -> None:
        """`count` answers in a row with 200 and X-Release `release`, within `timeout`."""
        deadline = time.monotonic() + timeout
        good = 0
        while good < count:
            last = self.probe.get(listener, path)
            if last.status == 200 and last.release == release:
                good += 1
                continue
            good = 0
            if time.monotonic() > deadline:
                raise Unhealthy(
                    f"{listener} {path} answered {last.status} with release {last.release or '-'} "
                    f"(expected 200 from {release}): {last.body[:120]!r}"
                )
            time.sleep(0.2)

    @property
    def probe(self) -> SiteProbe:
        if self._probe is None:
            self._probe = SiteProbe(self.env, self.store.read_certificate())
        return self._probe

    # -- the store ------------------------------------------------------------------------------
    def credentials(self) -> dict[str, str]:
        return self.stack.credentials()

    def history(self) -> history.History:
        return history.read(self.store)

    def record(self, action: str, started: float, outcome: str, **fields: object) -> None:
        history.record(self.store, self.env.name, action, started, outcome, **fields)

    def color_record(self, color: str) -> colors.ColorRecord | None:
        return colors.read_record(self.store, color)

    def set_color_record(self, color: str, record: colors.ColorRecord) -> None:
        colors.write_record(self.store, color, record)

    # -- acting ---------------------------------------------------------------------------------
    def _run(self, title: str, steps: list[Step], actions: dict[str, Callable[[], object]], dry_run: bool) -> None:
        run_steps(self.report, title, steps, actions, dry_run)

    def locked(self, command: str) -> EnvironmentLock:
        return EnvironmentLock(self.docker, self.env.project, command, self.report)

    def task(
        self,
        command: list[str],
        release: str | None = None,
        releases: Releases | None = None,
        user: str | None = None,
        stdin: bytes | None = None,
        environment: dict[str, str] | None = None,
    ) -> str:
        """A one-off container of `release` (default: blue's) with the stack's volumes."""
        releases = releases or self.releases()
        return self.stack.run_task(
            releases,
            self.credentials(),
            release or releases.blue,
            command,
            user=user,
            stdin=stdin,
            environment=environment,
        )
