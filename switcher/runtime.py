"""The only module that speaks the Docker SDK: containers, images and execs of a project."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass

import docker
import docker.errors
import requests

from switcher.config import PROJECT_LABEL, RELEASE_LABEL, SERVICE_LABEL
from switcher.errors import DockerUnavailable


@dataclass(frozen=True)
class ContainerInfo:
    """What switcher needs to know of one container, read from Docker."""

    name: str
    service: str
    state: str  # Docker's: created, running, restarting, exited, ...
    health: str  # healthy, unhealthy, starting, or none (no health check)
    release: str | None
    health_log: tuple[str, ...] = ()


@contextmanager
def _docker_errors(action: str) -> Iterator[None]:
    try:
        yield
    except (requests.exceptions.ConnectionError, docker.errors.DockerException) as error:
        if isinstance(error, docker.errors.APIError):
            raise
        raise DockerUnavailable(f"cannot reach the Docker daemon while {action}: {_short(error)}") from None


def _short(error: Exception) -> str:
    text = str(error).splitlines()[0] if str(error) else type(error).__name__
    return text[:200]


class Docker:
    """A connected Docker client, checked with a ping so later calls fail only for real."""

    def __init__(self, timeout: int = 30) -> None:
        with _docker_errors("connecting"):
            self.client = docker.from_env(timeout=timeout)
            self.client.ping()

    def image_exists(self, reference: str) -> bool:
        with _docker_errors("looking up images"):
            try:
                self.client.images.get(reference)
                return True
            except docker.errors.ImageNotFound:
                return False

    def project_containers(self, project: str) -> list[ContainerInfo]:
        with _docker_errors("listing containers"):
            containers = self.client.containers.list(all=True, filters={"label": f"{PROJECT_LABEL}={project}"})
            return [self._info(c) for c in containers]

    @staticmethod
    def _info(container: docker.models.containers.Container) -> ContainerInfo:
        attrs = container.attrs
        labels = attrs.get("Config", {}).get("Labels") or {}
        health = attrs.get("State", {}).get("Health") or {}
        log = tuple((entry.get("Output") or "").strip() for entry in health.get("Log") or [])
        return ContainerInfo(
            name=container.name,
            service=labels.get(SERVICE_LABEL, ""),
            state=attrs.get("State", {}).get("Status", "unknown"),
            health=health.get("Status", "none"),
            release=labels.get(RELEASE_LABEL),
            health_log=log,
        )

    def exec_status(self, container_name: str, command: list[str]) -> int:
        """Exit code of a command run in a running container."""
        return self.exec_output(container_name, command)[0]

    def exec_output(self, container_name: str, command: list[str], user: str = "") -> tuple[int, str]:
        """Exit code and output of a command run in a running container."""
        with _docker_errors("running a command in a container"):
            result = self.client.containers.get(container_name).exec_run(command, user=user)
            return result.exit_code, result.output.decode("utf-8", "replace")

    def container(self, name: str) -> ContainerInfo | None:
        with _docker_errors("inspecting a container"):
            try:
                return self._info(self.client.containers.get(name))
            except docker.errors.NotFound:
                return None

    def stop(self, name: str, timeout: int = 30) -> None:
        with _docker_errors("stopping a container"), suppress(docker.errors.NotFound):
            self.client.containers.get(name).stop(timeout=timeout)

    def start(self, name: str) -> None:
        with _docker_errors("starting a container"):
            self.client.containers.get(name).start()

    def logs_tail(self, container_name: str, lines: int = 20) -> str:
        with _docker_errors("reading container logs"):
            try:
                raw = self.client.containers.get(container_name).logs(tail=lines)
            except docker.errors.NotFound:
                return ""
            return raw.decode("utf-8", "replace")

    # -- markers: created, never started containers whose name and labels carry state --------
    def create_marker(self, name: str, image: str, labels: dict[str, str]) -> bool:
        """Create the marker; False when one of that name exists already (atomic in Docker)."""
        with _docker_errors("creating a lock"):
            try:
                self.client.containers.create(image, ["true"], name=name, labels=labels, network_disabled=True)
                return True
            except docker.errors.APIError as error:
                if error.status_code == 409:
                    return False
                raise

    def marker_labels(self, name: str) -> dict[str, str] | None:
        with _docker_errors("reading a lock"):
            try:
                return dict(self.client.containers.get(name).labels)
            except docker.errors.NotFound:
                return None

    def remove_marker(self, name: str) -> None:
        with _docker_errors("removing a lock"), suppress(docker.errors.NotFound):
            self.client.containers.get(name).remove(force=True)
