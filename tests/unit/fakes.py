"""In-memory stand-ins for the environment's store and for the Docker runtime, for unit tests
of the pure logic and of the order of decisions (never for what Docker itself does)."""

from __future__ import annotations

import itertools

from switcher.config import LIVE_FLAG
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
