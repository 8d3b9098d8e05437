"""The truth about an environment, read from what runs: containers, their labels and health,
and the live colour from the lb's own flag file. Nothing here is remembered locally."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field

from switcher.config import COLORS, LIVE_FLAG_DIR, LIVE_FLAG_NAME, Environment, split_list
from switcher.runtime import ContainerInfo, Docker
from switcher.switch import LbContainer

SERVICES = ("lb", "db", "memcached", "cron")
# Shown only where they run: the processes a site declares in its Procfile and their broker.
PROCESS_SERVICES = ("worker", "beat")
OPTIONAL_SERVICES = ("broker", *PROCESS_SERVICES)
PROCESSES_LABEL = "io.switcher.processes"  # on a site image: its Procfile's processes (the build)


def declared_processes(labels: Mapping[str, str]) -> list[str]:
    """What a site image's Procfile declares that runs beside cron (worker, beat), from its labels."""
    declared = split_list(labels.get(PROCESSES_LABEL, ""))
    return [name for name in PROCESS_SERVICES if name in declared]


@dataclass(frozen=True)
class ColorStatus:
    release: str | None
    state: str  # Docker's state, or "missing"
    health: str  # healthy, unhealthy, starting, none, or missing


@dataclass(frozen=True)
class StackStatus:
    env: str
    project: str
    live: str | None  # None when the lb is not running, so the flag cannot be read
    colors: dict[str, ColorStatus]
    services: dict[str, ColorStatus]
    urls: dict[str, str]
    notes: list[str] = field(default_factory=list)
    maintenance: dict | None = None  # the lb's maintenance state, without the bypass token

    @property
    def idle(self) -> str | None:
        if self.live is None:
            return None
        return COLORS[1 - COLORS.index(self.live)]

    @property
    def live_release(self) -> str | None:
        return None if self.live is None else self.colors[self.live].release

    def to_json(self) -> dict:
        return {
            "env": self.env,
            "project": self.project,
            "live": self.live,
            "idle": self.idle,
            "colors": {color: asdict(status) for color, status in self.colors.items()},
            "services": {name: asdict(status) for name, status in self.services.items()},
            "urls": dict(self.urls),
            "maintenance": self.maintenance,
            "notes": list(self.notes),
        }


MISSING = ColorStatus(release=None, state="missing", health="missing")


def _status_of(container: ContainerInfo | None) -> ColorStatus:
    if container is None:
        return MISSING
    return ColorStatus(release=container.release, state=container.state, health=container.health)


def by_service(containers: list[ContainerInfo]) -> dict[str, ContainerInfo]:
    """The stack's long-running containers by service (one-off task containers left out)."""
    found: dict[str, ContainerInfo] = {}
    for container in containers:
        if container.service and "-run-" not in container.name:
            found[container.service] = container
    return found


def derive_status(
    env: Environment, containers: list[ContainerInfo], green_flag: bool | None, maintenance: dict | None = None
) -> StackStatus:
    """Pure: the status from the containers and whether the lb's green flag exists."""
    services = by_service(containers)
    notes = []
    live = None if green_flag is None else ("green" if green_flag else "blue")
    if not containers:
        notes.append(f"no containers of project {env.project}: start it with `make up ENV={env.name}`")
    elif green_flag is None:
        notes.append("the lb is not running, so the live colour cannot be read")
    return StackStatus(
        env=env.name,
        project=env.project,
        live=live,
        colors={color: _status_of(services.get(f"app-{color}")) for color in COLORS},
        services={
            name: _status_of(services.get(name))
            for name in (*SERVICES, *(name for name in OPTIONAL_SERVICES if name in services))
        },
        urls={"live": env.live_url, "preview": env.preview_url},
        notes=notes,
        maintenance=None if maintenance is None else {k: v for k, v in maintenance.items() if k != "token"},
    )


def lb_container(docker: Docker, containers: list[ContainerInfo]) -> ContainerInfo | None:
    lb = by_service(containers).get("lb")
    return lb if lb is not None and lb.state == "running" else None


def read_green_flag(docker: Docker, containers: list[ContainerInfo]) -> bool | None:
    """Whether nginx routes live traffic to green, asked of the running lb itself."""
    lb = lb_container(docker, containers)
    if lb is None:
        return None
    live = LbContainer(docker, lb.name).live()
    return None if live is None else live == "green"


def read_status(env: Environment, docker: Docker, containers: list[ContainerInfo] | None = None) -> StackStatus:
    """The containers, and the live colour and maintenance state from the running lb's flag
    directory (one archive read of it: both files)."""
    from switcher.maintenance import STATE_FILE, parse_state

    if containers is None:
        containers = docker.project_containers(env.project)
    lb = lb_container(docker, containers)
    green = maintenance = None
    if lb is not None:
        files = docker.read_files(lb.name, LIVE_FLAG_DIR)
        if files is not None:
            parent = LIVE_FLAG_DIR.rsplit("/", 1)[-1]
            green = f"{parent}/{LIVE_FLAG_NAME}" in files
            maintenance = parse_state(files.get(f"{parent}/{STATE_FILE.rsplit('/', 1)[-1]}"))
    return derive_status(env, containers, green, maintenance)
