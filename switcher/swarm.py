"""The Docker Swarm of an ENGINE=swarm environment, through its manager's API (SWARM_MANAGER)
and, for what the Swarm API cannot do (exec in a task: the lbs' live flags, the db's roles),
through each node's own engine, named by the node's `switcher.engine` label.

Nothing here decides anything: the steps of `switcher up`/`down` on a cluster are in
`cluster_lifecycle.py`, `status` in `cluster_stack.py`.
"""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import cast

import docker
import docker.errors

from switcher.config import Environment, Paths
from switcher.errors import ConfigError, DockerUnavailable, NotFound, SwitcherError, Unhealthy
from switcher.runtime import Docker, UnreachableDocker, _docker_errors, _short

ENGINE_LABEL = "switcher.engine"  # a node's own Docker endpoint (unix://, tcp://, ssh://)
STACK_LABEL = "com.docker.stack.namespace"


@dataclass(frozen=True)
class Node:
    id: str
    hostname: str
    role: str  # manager or worker
    state: str  # ready, down, unknown, disconnected
    availability: str  # active, pause, drain
    address: str
    labels: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class ServiceInfo:
    replicas: int | None  # None: global (one task per eligible node)
    release: str


@dataclass(frozen=True)
class Task:
    service: str  # without the stack's prefix: lb, app-blue, …
    node_id: str
    state: str  # Swarm's: running, starting, complete, failed, shutdown, …
    desired: str
    container_id: str
    image: str
    error: str = ""
    id: str = ""
    addresses: tuple[str, ...] = ()  # its addresses on the stack's network

    @property
    def release(self) -> str:
        return release_of(self.image)


def release_of(image: str) -> str:
    """The release (tag) of an image reference, with or without its digest."""
    return image.split("@", 1)[0].rsplit(":", 1)[-1]


def endpoint_url(value: str) -> str:
    """A Docker endpoint URL from SWARM_MANAGER or a node's label (a context name is looked up)."""
    if "://" in value:
        return value
    try:
        context = docker.ContextAPI.get_context(value)
    except docker.errors.DockerException as error:
        raise ConfigError(f"Docker context {value!r}: {_short(error)}") from None
    if context is None or not context.Host:
        raise ConfigError(f"no Docker context named {value!r} (SWARM_MANAGER)")
    return str(context.Host)


class Swarm:
    """One cluster: its manager's engine, and each node's engine when asked for."""

    def __init__(self, env: Environment) -> None:
        self.env, self.project = env, env.project
        self.url = endpoint_url(env.settings["SWARM_MANAGER"])
        self.manager = Docker(base_url=self.url)
        with _docker_errors("asking the manager"):
            swarm = self.manager.client.info().get("Swarm") or {}
        if not swarm.get("ControlAvailable"):
            raise ConfigError(f"SWARM_MANAGER={env.settings['SWARM_MANAGER']} is not a Swarm manager")
        self._engines: dict[str, Docker] = {}

    # -- nodes ---------------------------------------------------------------------------
    def nodes(self) -> list[Node]:
        with _docker_errors("listing the nodes"):
            found = self.manager.client.api.nodes()
        return sorted((_node(raw) for raw in found), key=lambda node: node.hostname)

    def engine(self, node: Node) -> Docker:
        """The node's own engine (its `switcher.engine` label), connected once per command."""
        if node.id not in self._engines:
            url = node.labels.get(ENGINE_LABEL)
            if not url:
                raise SwitcherError(
                    f"node {node.hostname} has no {ENGINE_LABEL} label: switcher reaches each node's engine "
                    f"by it (`docker node update --label-add {ENGINE_LABEL}=ssh://user@host {node.hostname}`)"
                )
            try:
                self._engines[node.id] = Docker(base_url=endpoint_url(url), timeout=15)
            except DockerUnavailable as error:  # a node that is down: each use of it says so
                self._engines[node.id] = cast(Docker, UnreachableDocker(error))
        return self._engines[node.id]

    # -- the stack -----------------------------------------------------------------------
    def deploy(self, paths: Paths, variables: Mapping[str, str]) -> None:
        """`docker stack deploy` of compose/swarm.yml with `variables` in its environment (never
        in its argv); returns once the manager took it, before the tasks run."""
        target = ["--host", self.url]
        command = ["docker", *target, "stack", "deploy", "--detach=true", "--prune", "--resolve-image", "never"]
        command += ["--compose-file", str(paths.root / "compose" / "swarm.yml"), self.project]
        environment = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": os.environ.get("HOME", "/root")}
        result = subprocess.run(
            command, env={**environment, **variables}, capture_output=True, text=True, timeout=300, check=False
        )
        if result.returncode != 0:
            last = [line for line in (result.stderr + result.stdout).splitlines() if line.strip()][-2:]
            raise SwitcherError(f"docker stack deploy failed: {' | '.join(last)[:400]}")

    def remove(self) -> None:
        """Remove the stack's services and network (volumes stay on their nodes)."""
        with _docker_errors("removing the stack"):
            for service in self._services():
                service.remove()
            for network in self.manager.client.networks.list(filters={"label": f"{STACK_LABEL}={self.project}"}):
                _retry_removal(network.remove)

    def _services(self) -> list:
        with _docker_errors("listing services"):
            return self.manager.client.services.list(filters={"label": f"{STACK_LABEL}={self.project}"})

    def services(self) -> dict[str, ServiceInfo]:
        """The stack's services by their name in swarm.yml."""
        out = {}
        for service in self._services():
            spec = service.attrs["Spec"]
            mode = spec.get("Mode", {})
            image = spec["TaskTemplate"]["ContainerSpec"]["Image"]
            out[service.name.removeprefix(f"{self.project}_")] = ServiceInfo(
                replicas=mode["Replicated"].get("Replicas", 1) if "Replicated" in mode else None,
                release=release_of(image),
            )
        return out

    def tasks(self, service: str | None = None) -> list[Task]:
        """The stack's tasks that are meant to run (desired state running)."""
        filters = {"label": f"{STACK_LABEL}={self.project}", "desired-state": "running"}
        if service is not None:
            filters["service"] = f"{self.project}_{service}"
        with _docker_errors("listing tasks"):
            found = self.manager.client.api.tasks(filters=filters)
        if service is not None:
            names = {raw.get("ServiceID", ""): service for raw in found}
        else:
            names = {item.id: item.name.removeprefix(f"{self.project}_") for item in self._services()}
        return [_task(raw, names) for raw in found]

    def wait_running(self, services: list[str], timeout: float) -> None:
        """Until every task of `services` runs (healthy, where the image checks health): as many
        as the service's replicas, or one per eligible node for a global service."""
        until(lambda: self._lacking(services), timeout)

    def wait_release(self, service: str, release: str, timeout: float) -> None:
        """Until `service` runs its replicas, every running task of `release` (a rolling update
        has replaced the others); timeout 0: check once."""
        until(lambda: self._not_all(service, lambda task: task.release == release, f"run {release}"), timeout)

    def wait_replaced(self, service: str, old: set[str], timeout: float) -> None:
        """Until `service` runs its replicas, none of them one of the `old` task ids."""
        until(lambda: self._not_all(service, lambda task: task.id not in old, "are new"), timeout)

    def wait_stopped(self, service: str, timeout: float) -> None:
        """Until no task of `service` runs (scaled to none)."""

        def still() -> str:
            return f"{service} still runs" if any(task.state == "running" for task in self.tasks(service)) else ""

        until(still, timeout)

    def scale(self, service: str, replicas: int) -> None:
        with _docker_errors(f"scaling {service}"):
            for found in self._service(service):
                found.scale(replicas)

    def replace_tasks(self, service: str) -> None:
        """Replace every task of `service` with a new one, in the service's update order (for the
        app colours: one at a time, each new task healthy before the old one stops)."""
        with _docker_errors(f"replacing the tasks of {service}"):
            for found in self._service(service):
                found.force_update()

    def log_stream(self, service: str, follow: bool, since: datetime | None, tail: int | None) -> Iterator[bytes]:
        """A service's log from every one of its tasks, on whichever node (the manager gathers
        them), with timestamps; until interrupted with `follow`."""
        found = self._service(service)
        if not found:
            raise NotFound(f"the stack {self.project} has no {service} service")
        with _docker_errors(f"reading the log of {service}"):
            yield from found[0].logs(
                stdout=True, stderr=True, follow=follow, timestamps=True,
                since=int(since.timestamp()) if since else None, tail="all" if tail is None else tail,
            )  # fmt: skip

    def _service(self, service: str) -> list:
        """The stack's `service` (none when the stack lacks it)."""
        return [item for item in self._services() if item.name == f"{self.project}_{service}"]

    def _not_all(self, service: str, wanted: Callable[[Task], bool], what: str) -> str:
        """What is missing for `service` to run its replicas, every running task `wanted` (empty:
        nothing)."""
        info = self.services().get(service)
        running = [task for task in self.tasks(service) if task.state == "running"]
        count = sum(1 for task in running if wanted(task))
        if info is not None and count >= (info.replicas or 1) and count == len(running):
            return ""
        rest = sorted({task.release for task in running if not wanted(task)})
        others = f", and {len(running) - count} other(s) running {', '.join(rest)}" if rest else ""
        return f"{service}: {count} of {info.replicas if info else '?'} tasks {what}{others}"

    def _lacking(self, services: list[str]) -> str:
        """What is not running yet of `services` (empty: all of it)."""
        replicas = {name: info.replicas for name, info in self.services().items()}
        for service in services:
            tasks = self.tasks(service)
            running = [task for task in tasks if task.state == "running"]
            wanted = replicas.get(service)
            if wanted is None:  # global: one per node that accepts it (what the manager made)
                wanted = max(len(tasks), 1)
            if len(running) < wanted:
                errors = sorted({task.error for task in tasks if task.error})
                why = f" ({errors[0][:200]})" if errors else ""
                return f"{service}: {len(running)} of {wanted} tasks running{why}"
        return ""

    # -- secrets -------------------------------------------------------------------------
    def ensure_secret(self, name: str, data: bytes) -> str:
        """A Swarm secret of that name (its content never changes: the name carries its hash); its id."""
        with _docker_errors("creating a secret"):
            found = [s for s in self.manager.client.secrets.list(filters={"name": name}) if s.name == name]
            if found:
                return str(found[0].id)
            return str(self.manager.client.secrets.create(name=name, data=data, labels={STACK_LABEL: self.project}).id)

    def prune_secrets(self, keep: set[str]) -> None:
        """The stack's secrets that are not in `keep` and no service uses any more."""
        with _docker_errors("removing secrets"):
            for secret in self.manager.client.secrets.list(filters={"label": f"{STACK_LABEL}={self.project}"}):
                if secret.name not in keep:
                    with suppress_missing():
                        secret.remove()

    def remove_volumes(self, nodes: list[Node]) -> list[str]:
        """The stack's volumes on every node (through each node's engine); what was removed."""
        removed = []
        for node in nodes:
            client = self.engine(node).client
            with _docker_errors(f"removing volumes on {node.hostname}"):
                for volume in client.volumes.list(filters={"label": f"{STACK_LABEL}={self.project}"}):
                    _retry_removal(volume.remove)
                    removed.append(f"{node.hostname}:{volume.name}")
        return removed


def _node(raw: dict) -> Node:
    spec, description, status = raw.get("Spec", {}), raw.get("Description", {}), raw.get("Status", {})
    return Node(
        id=raw["ID"],
        # The switcher.node label when set (nodes of one machine share a host name), else the host's.
        hostname=(spec.get("Labels") or {}).get("switcher.node") or description.get("Hostname", raw["ID"][:12]),
        role=spec.get("Role", "?"),
        state=status.get("State", "unknown"),
        availability=spec.get("Availability", "?"),
        address=status.get("Addr", ""),
        labels=dict(spec.get("Labels") or {}),
    )


def until(lacking: Callable[[], str], timeout: float) -> None:
    """Until `lacking()` says nothing is missing (empty), checked every second; Unhealthy with
    what it said last after `timeout` seconds (0: checked once)."""
    deadline = time.monotonic() + timeout
    while True:
        missing = lacking()
        if not missing:
            return
        if time.monotonic() >= deadline:
            raise Unhealthy(f"{missing} after {timeout:.0f} s" if timeout else missing)
        time.sleep(1)


def _task(raw: dict, names: dict[str, str]) -> Task:
    status = raw.get("Status", {})
    container = status.get("ContainerStatus", {})
    return Task(
        service=names.get(raw.get("ServiceID", ""), "?"),
        node_id=raw.get("NodeID", ""),
        state=status.get("State", "?"),
        desired=raw.get("DesiredState", "?"),
        container_id=container.get("ContainerID", ""),
        image=raw.get("Spec", {}).get("ContainerSpec", {}).get("Image", ""),
        error=status.get("Err", ""),
        id=raw.get("ID", ""),
        addresses=tuple(
            address.split("/")[0]
            for attachment in raw.get("NetworksAttachments") or []
            for address in attachment.get("Addresses") or []
        ),
    )


class suppress_missing:
    def __enter__(self) -> None:
        return None

    def __exit__(self, kind, error, trace) -> bool:
        return isinstance(error, docker.errors.NotFound)


def _retry_removal(remove, attempts: int = 90) -> None:
    """A network or volume is in use for a moment after its tasks stopped: try again."""
    for attempt in range(attempts):
        try:
            remove()
            return
        except docker.errors.NotFound:
            return
        except docker.errors.APIError:
            if attempt == attempts - 1:
                raise
            time.sleep(1)
