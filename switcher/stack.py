"""Starting and stopping an environment's whole stack: the named steps of `switcher up`.

`plan_up` is pure (what would run, with which releases); `up` carries the plan out through
compose and reports each step.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from switcher.compose import Compose, Releases, compose_variables
from switcher.config import COLORS, CRON_STOPPED_FLAG, Environment, Paths
from switcher.credentials import ensure_credentials, read_credentials
from switcher.errors import NotFound, SwitcherError, Unhealthy
from switcher.runtime import ContainerInfo, Docker
from switcher.state import StackStatus, by_service, read_green_flag, read_status
from switcher.tls import ensure_tls

Report = Callable[[str], None]
SITE_SERVICES = tuple(f"app-{color}" for color in COLORS)


@dataclass(frozen=True)
class UpPlan:
    releases: Releases
    live: str
    images: tuple[str, ...]
    notes: tuple[str, ...]


def plan_up(env: Environment, containers: list[ContainerInfo], green_flag: bool | None, requested: str) -> UpPlan:
    """Keep the release each existing container runs; new containers get the requested one."""
    services = by_service(containers)

    def kept(service: str) -> str | None:
        container = services.get(service)
        return container.release if container is not None and container.release else None

    live = "green" if green_flag else "blue"
    blue, green = kept("app-blue") or requested, kept("app-green") or requested
    releases = Releases(
        blue=blue,
        green=green,
        stack=kept("lb") or kept("db") or kept("memcached") or requested,
        cron=kept("cron") or (green if live == "green" else blue),
    )
    notes = tuple(
        f"{part} keeps release {release} (use switcher deploy to change it)"
        for part, release in (("blue", releases.blue), ("green", releases.green), ("lb/db/memcached", releases.stack))
        if release != requested
    )
    prefix = env.image_prefix
    images = tuple(
        dict.fromkeys(
            [
                f"{prefix}/site:{releases.blue}",
                f"{prefix}/site:{releases.green}",
                f"{prefix}/site:{releases.cron}",
                *(f"{prefix}/{name}:{releases.stack}" for name in ("lb", "db", "memcached")),
            ]
        )
    )
    return UpPlan(releases=releases, live=live, images=images, notes=notes)


class Stack:
    """One environment's stack, driven through compose."""

    def __init__(self, paths: Paths, env: Environment, docker: Docker) -> None:
        self.paths, self.env, self.docker = paths, env, docker
        self.state_dir = paths.env_state_dir(env.name)

    def compose(self, releases: Releases, credentials: dict[str, str], task_release: str | None = None) -> Compose:
        variables = compose_variables(self.env, releases, self.state_dir / "tls", credentials, task_release)
        return Compose(self.paths, self.env, variables)

    def up(self, requested: str, report: Report) -> StackStatus:
        containers = self.docker.project_containers(self.env.project)
        plan = plan_up(self.env, containers, read_green_flag(self.docker, containers), requested)
        missing = [image for image in plan.images if not self.docker.image_exists(image)]
        if missing:
            raise NotFound(f"release not built: missing image {', '.join(missing)} (run `make build RELEASE=…`)")
        for note in plan.notes:
            report(note)
        ensure_tls(self.env, self.state_dir / "tls")
        credentials = ensure_credentials(self.state_dir / "credentials.env")
        compose = self.compose(plan.releases, credentials)

        report("starting db and memcached")
        self.start_services(compose, ["db", "memcached"])
        live_release = plan.releases.for_color(plan.live)
        report(f"migrating the database with release {live_release}")
        self.run_task(plan.releases, credentials, live_release, ["python3", "manage.py", "migrate", "--noinput"])
        for release in dict.fromkeys([plan.releases.blue, plan.releases.green]):
            report(f"publishing static files and maintenance page of release {release}")
            self.run_task(
                plan.releases, credentials, release, ["publish-assets", "/srv/static", "/srv/maintenance"], user="0"
            )
        report("starting lb, app-blue and app-green")
        self.start_services(compose, ["lb", *SITE_SERVICES])
        if self.cron_stopped_by_operator():
            report("cron stays stopped (`switcher cron start` starts it)")
        else:
            report(f"starting cron with release {plan.releases.cron}")
            self.start_cron(plan.releases)
        self.paths.state_dir.mkdir(parents=True, exist_ok=True)
        (self.paths.state_dir / "current-env").write_text(self.env.name + "\n")
        return read_status(self.env, self.docker)

    def start_services(self, compose: Compose, services: list[str]) -> None:
        timeout = int(self.env.settings["HEALTH_TIMEOUT"])
        result = compose.run(
            ["up", "--detach", "--wait", "--wait-timeout", str(timeout), *services], check=False, timeout=timeout + 120
        )
        if result.returncode != 0:
            raise Unhealthy(self._unhealthy_summary(services, result.output))

    def _unhealthy_summary(self, services: list[str], output: str) -> str:
        found = by_service(self.docker.project_containers(self.env.project))
        for service in services:
            container = found.get(service)
            if container is None or (container.state == "running" and container.health in ("healthy", "none")):
                continue
            last_check = container.health_log[-1] if container.health_log else "no health check output"
            logs = " | ".join(self.docker.logs_tail(container.name, 3).strip().splitlines()[-3:])
            return (
                f"{service} is {container.state}/{container.health}: "
                f"last health check: {last_check[:200]!r}; last log lines: {logs[:400]}"
            )
        last = [line for line in output.strip().splitlines() if line.strip()][-2:]
        return f"starting {', '.join(services)} failed: {' | '.join(last)}"

    def run_task(
        self,
        releases: Releases,
        credentials: dict[str, str],
        release: str,
        command: list[str],
        user: str | None = None,
        stdin: bytes | None = None,
    ) -> str:
        compose = self.compose(releases, credentials, task_release=release)
        args = ["run", "--rm", "--no-deps", "-T"]
        if user is not None:
            args += ["--user", user]
        result = compose.run([*args, "app-task", *command], check=False, stdin=stdin)
        if result.returncode != 0:
            last = [line for line in result.output.strip().splitlines() if line.strip()][-3:]
            raise SwitcherError(f"`{' '.join(command)}` of release {release} failed: {' | '.join(last)}")
        return result.output

    def cron_stopped_by_operator(self) -> bool:
        lb = by_service(self.docker.project_containers(self.env.project)).get("lb")
        if lb is None or lb.state != "running":
            return False
        return self.docker.exec_status(lb.name, ["test", "-f", CRON_STOPPED_FLAG]) == 0

    def start_cron(self, releases: Releases) -> None:
        """Run cron from `releases.cron`; a cron of another release is stopped first (its running
        job may finish, up to CRON_STOP_TIMEOUT), so only one scheduler is ever active."""
        self._cron(releases, ["up", "--detach", "--no-deps"])

    def create_cron_stopped(self, releases: Releases) -> None:
        """A cron container of `releases.cron` that is not started (cron was stopped by hand)."""
        self._cron(releases, ["up", "--no-start", "--no-deps", "--force-recreate"])

    def _cron(self, releases: Releases, args: list[str]) -> None:
        compose = self.compose(releases, self.credentials())
        timeout = int(self.env.settings["CRON_STOP_TIMEOUT"]) + 120
        result = compose.run([*args, "cron"], check=False, timeout=timeout)
        if result.returncode != 0:
            last = [line for line in result.output.strip().splitlines() if line.strip()][-2:]
            raise SwitcherError(f"cron with release {releases.cron} failed: {' | '.join(last)}")

    def credentials(self) -> dict[str, str]:
        return ensure_credentials(self.state_dir / "credentials.env")

    def recreate_color(self, color: str, releases: Releases) -> None:
        """(Re)create one colour's container from the compose definition, leaving all else alone."""
        compose = self.compose(releases, self.credentials())
        result = compose.run(["up", "--detach", "--no-deps", "--force-recreate", f"app-{color}"], check=False)
        if result.returncode != 0:
            last = [line for line in result.output.strip().splitlines() if line.strip()][-2:]
            raise SwitcherError(f"creating app-{color} failed: {' | '.join(last)}")

    def down(self, remove_volumes: bool, report: Report) -> None:
        credentials = read_credentials(self.state_dir / "credentials.env") or {
            "DJANGO_SECRET_KEY": "unused",
            "DB_PASSWORD": "unused",
        }
        compose = self.compose(Releases("none", "none", "none"), credentials)
        args = ["down", "--remove-orphans"]
        if remove_volumes:
            args.append("--volumes")
        report(f"stopping project {self.env.project}" + (" and deleting its volumes" if remove_volumes else ""))
        compose.run(args, timeout=180)
