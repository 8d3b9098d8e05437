"""In-memory stand-ins for the environment's store, the Docker runtime, the lbs and the engine
interface, for unit tests of the pure logic and of the order of decisions (never for what
Docker itself does)."""

from __future__ import annotations

import itertools
from collections.abc import Callable
from contextlib import contextmanager

from switcher.config import LIVE_FLAG
from switcher.engine import ColorState, Routing
from switcher.errors import SwitcherError, Unhealthy
from switcher.probe import Answer
from switcher.runtime import ContainerInfo


class MemoryStore:
    """The EnvironmentStore interface, files in a dict with their modes."""

    def __init__(self) -> None:
        self.files: dict[str, tuple[bytes, int]] = {}
        self.tls: dict[str, tuple[bytes, int]] = {}

    def read(self, path: str) -> bytes | None:
        found = self.files.get(path)
        return None if found is None else found[0]

    def read_dir(self, path: str) -> dict[str, bytes]:
        return {name: content for name, (content, _) in self.files.items() if name.startswith(path + "/")}

    def write(self, files: dict[str, tuple[bytes, int]]) -> None:
        self.files.update(files)

    def read_certificate(self) -> bytes | None:
        found = self.tls.get("cert.pem")
        return None if found is None else found[0]

    def has_key(self) -> bool:
        return "key.pem" in self.tls

    def write_certificate(self, cert: bytes, key: bytes) -> None:
        self.tls["key.pem"] = (key, 0o600)
        self.tls["cert.pem"] = (cert, 0o644)


class FakeDocker:
    """Containers, the lb's live flag and marker containers (the lock), in memory."""

    def __init__(self, containers: list[ContainerInfo], green_flags: list[bool] | None = None) -> None:
        self.containers = containers
        self.green_flags = list(green_flags or [False])  # one per read of the flag; the last repeats
        self.markers: dict[str, tuple[str, dict[str, str]]] = {}
        self.ids = itertools.count(1)
        self.calls: list[tuple] = []

    # what runs
    def project_containers(self, project: str) -> list[ContainerInfo]:
        return list(self.containers)

    def exec_status(self, name: str, command: list[str]) -> int:
        return self.exec_output(name, command)[0]

    def exec_output(self, name: str, command: list[str], user: str = "") -> tuple[int, str]:
        self.calls.append(("exec", name, tuple(command)))
        if command == ["test", "-f", LIVE_FLAG]:
            green = self.green_flags.pop(0) if len(self.green_flags) > 1 else self.green_flags[0]
            return (0 if green else 1), ""
        return 1, ""

    def image_exists(self, reference: str) -> bool:
        return True

    def image_labels(self, reference: str) -> dict[str, str]:
        return {}

    def stop(self, name: str, timeout: int = 30) -> None:
        self.calls.append(("stop", name))

    def logs_tail(self, name: str, lines: int = 20) -> str:
        return ""

    # markers
    def create_marker(self, name: str, labels: dict[str, str], volumes=None) -> str | None:
        if name in self.markers:
            return None
        marker_id = f"id{next(self.ids)}"
        self.markers[name] = (marker_id, labels)
        return marker_id

    def marker(self, name: str) -> tuple[str, dict[str, str]] | None:
        return self.markers.get(name)

    def remove_container_id(self, container_id: str) -> bool:
        for name, (found_id, _) in list(self.markers.items()):
            if found_id == container_id:
                del self.markers[name]
                return True
        return False


def container(service: str, release: str = "r1", state: str = "running", health: str = "healthy", name: str = ""):
    return ContainerInfo(name=name or f"p-{service}-1", service=service, state=state, health=health, release=release)


class FakeLb:
    """An lb that routes to a colour; `refuses`: its flip fails; `ignores`: it reads back the old one."""

    def __init__(self, name: str, live: str = "blue", refuses: bool = False, ignores: bool = False) -> None:
        self.name, self.routes, self.refuses, self.ignores = name, live, refuses, ignores
        self.flips: list[str] = []
        self.maintenance = False
        self.lacks: set[str] = set()  # releases whose files its node lacks

    def in_maintenance(self) -> bool:
        return self.maintenance

    def maintenance_page(self, release: str) -> str:
        if release in self.lacks:
            raise SwitcherError(f"release {release} has no published maintenance page")
        return f"<html><body>{release} is down for a while</body></html>"

    def set_maintenance(self, page: str | None, state: str | None, generation: int) -> None:
        if self.refuses:
            raise SwitcherError(f"could not write the maintenance state in {self.name}")
        self.maintenance = state is not None

    def set_live(self, color: str) -> str | None:
        self.flips.append(color)
        if self.refuses:
            raise SwitcherError(f"could not switch {self.name} to {color}: no such container")
        if not self.ignores:
            self.routes = color
        return self.routes

    def live(self) -> str | None:
        return self.routes


class FakeEngine:
    """The engine interface (switcher/engine.py) in memory: colours, lbs and a store; every
    operation is logged in `calls`, and one named in `failing` raises its error."""

    def __init__(self, env, live: str = "blue", releases: dict[str, str | None] | None = None, lbs: int = 3) -> None:
        self.env, self.store, self.said = env, MemoryStore(), []
        self.report = self.said.append
        releases = releases or {"blue": "r1", "green": "r2"}
        self.colors = {
            color: ColorState(release, release is not None, release is not None, "running/healthy")
            for color, release in releases.items()
        }
        self.lb_list = [FakeLb(f"lb-{k}", live) for k in range(1, lbs + 1)]
        self.away: list[str] = []  # nodes whose lb cannot be reached
        self.committed: list[tuple[str, str | None]] = []  # maintenance committed: (page, state)
        self.uncommittable = ""  # why a maintenance commit fails ("": it does not)
        self.ahead: list[str] = []
        self.failing: dict[str, SwitcherError] = {}
        self.registry = {release for release in releases.values() if release}
        self.calls: list[str] = []
        self.while_waiting_for_the_lock: Callable[[], object] = lambda: None  # another command's work

    def _do(self, call: str) -> None:
        self.calls.append(call)
        if call.split()[0] in self.failing:
            raise self.failing[call.split()[0]]

    @contextmanager
    def locked(self, command: str):
        self.calls.append(f"lock {command}")
        self.while_waiting_for_the_lock()
        try:
            yield self
        finally:
            self.calls.append("unlock")

    def routing(self) -> Routing:
        lives = {lb.routes for lb in self.lb_list}
        if len(lives) == 1:
            return Routing(lives.pop())
        return Routing(None, f"the lbs disagree: {', '.join(f'{lb.name} on {lb.routes}' for lb in self.lb_list)}")

    def color(self, color: str) -> ColorState:
        return self.colors[color]

    def lbs(self) -> list[FakeLb]:
        return self.lb_list

    def away_lbs(self) -> list[str]:
        return self.away

    def gate(self, color: str, release: str, timeout: float) -> None:
        self._do(f"gate {color} {release}")

    def migrations_ahead(self, color: str, release: str) -> list[str]:
        self._do(f"check-schema {release}")
        return self.ahead

    def check_lbs(self) -> None:
        self._do("nginx-check")

    def publish(self, release: str) -> None:
        self._do(f"publish {release}")

    def refresh_maintenance(self, release: str) -> None:
        self._do(f"maintenance-page {release}")

    def verify(self, release: str, count: int, timeout: float) -> None:
        self._do(f"verify {release}")
        for lb in self.lb_list:
            if self.colors[lb.routes].release != release:
                raise Unhealthy(f"{lb.name} answered from {self.colors[lb.routes].release}, not {release}")

    def commit_live(self, color: str, release: str) -> None:
        self._do(f"commit {color}")

    def commit_maintenance(self, lbs, page: str, state: str | None, generation: int) -> str | None:
        if self.uncommittable:
            return self.uncommittable
        self.committed.append((page, state))
        return None

    def cron_follow(self, release: str, timeout: float) -> None:
        self._do(f"cron {release}")

    def drain(self, color: str, timeout: float) -> None:
        self._do(f"drain {color}")

    def stop_color(self, color: str) -> None:
        self._do(f"stop {color}")
        state = self.colors[color]
        self.colors[color] = ColorState(state.release, False, False, "exited")

    def prune(self) -> None:
        self._do("prune")

    def has_release(self, release: str) -> bool:
        return release in self.registry

    def bring_back(self, color: str, release: str, timeout: float) -> None:
        self._do(f"bring-back {color} {release}")
        self.colors[color] = ColorState(release, True, True, "running/healthy")

    # -- deploy (DeployEngine) ----------------------------------------------------------------
    preview_url = "https://127.0.0.1:9443/"
    plan: dict = {}  # noqa: RUF012 (what migration_plan answers; a test sets its own)

    def credentials(self) -> dict[str, str]:
        return {"MAINTENANCE_TOKEN": "t"}

    def require_release(self, release: str) -> None:
        self._do(f"check-release {release}")

    def migration_plan(self, release: str, idle: str) -> dict:
        self._do(f"check-migrations {release}")
        return self.plan

    def recreate(self, color: str, release: str) -> None:
        self._do(f"recreate {color} {release}")
        self.colors[color] = ColorState(release, True, True, "running/healthy")

    def backup(self, release: str, reason: str) -> str:
        self._do(f"backup {release}")
        return "b1"

    def migrate(self, release: str, idle: str) -> None:
        self._do(f"migrate {release}")

    def run(self, release: str, idle: str, command: list[str]) -> str:
        self._do(f"run {release} {' '.join(command[-2:])}")
        return ""

    def wait_ready(self, color: str, release: str, health_timeout: float, verify_timeout: float) -> None:
        self._do(f"wait-healthy {color} {release}")

    def warm(self, color: str) -> None:
        self._do(f"warm {color}")

    def preview_get(self, color: str, path: str) -> Answer:
        self._do(f"smoke {path}")
        return Answer(200, self.colors[color].release, "ok")

    def stop_processes(self) -> None:
        self._do("stop-processes")

    def explain_failure(self, color: str) -> None:
        self._do(f"explain {color}")
