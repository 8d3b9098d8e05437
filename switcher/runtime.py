"""The only module that speaks the Docker SDK: containers, images and execs of a project."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
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
        with _docker_errors("running a command in a container"):
            result = self.client.containers.get(container_name).exec_run(command)
            return result.exit_code

    def logs_tail(self, container_name: str, lines: int = 20) -> str:
        with _docker_errors("reading container logs"):
            try:
                raw = self.client.containers.get(container_name).logs(tail=lines)
            except docker.errors.NotFound:
                return ""
            return raw.decode("utf-8", "replace")
