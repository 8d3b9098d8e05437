"""Starting and stopping an environment's whole stack: the named steps of `switcher up`.

`plan_up` is pure (what would run, with which releases); `up` carries the plan out through
compose and reports each step.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from switcher import history
from switcher.colors import read_record, ready, refusal, write_record
from switcher.compose import Compose, Releases, compose_variables
from switcher.config import COLORS, CRON_STOPPED_FLAG, LIVE_FLAG_NAME, Environment, Paths
from switcher.credentials import GENERATED, ensure_credentials
from switcher.drift import differences
from switcher.errors import Refused, SwitcherError, Unhealthy, last_lines
from switcher.lock import EnvironmentLock
from switcher.runtime import ContainerInfo, Docker, require_images
from switcher.state import (
    PROCESS_SERVICES,
    StackStatus,
    by_service,
    declared_processes,
    lb_container,
    read_green_flag,
    read_status,
)
from switcher.store import EnvironmentStore, import_local_state
from switcher.tls import acme_ca_root_pem, ensure_tls, require_user_files

Report = Callable[[str], None]
SITE_SERVICES = tuple(f"app-{color}" for color in COLORS)


@dataclass(frozen=True)
class UpPlan:
    releases: Releases
    live: str
    images: tuple[str, ...]
    notes: tuple[str, ...]


def plan_up(
    env: Environment,
    containers: list[ContainerInfo],
    green_flag: bool | None,
    requested: str,
    recorded: dict[str, str] | None = None,
) -> UpPlan:
    """Keep the release each existing container runs; a colour without a container gets the
    release last deployed ok to it (`recorded`: after `down`, say), else the requested one."""
    services = by_service(containers)
    recorded = recorded or {}

    def kept(service: str) -> str | None:
        container = services.get(service)
        return container.release if container is not None and container.release else None

    live = "green" if green_flag else "blue"
    blue = kept("app-blue") or recorded.get("blue") or requested
    green = kept("app-green") or recorded.get("green") or requested
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


STACK_SERVICES = ("db", "memcached", "lb")


class Stack:
    """One environment's stack, driven through compose."""

    def __init__(self, paths: Paths, env: Environment, docker: Docker, store: EnvironmentStore, report: Report) -> None:
        self.paths, self.env, self.docker, self.store, self.report = paths, env, docker, store, report
        self._credentials: dict[str, str] | None = None  # read once per command

    def compose(self, releases: Releases, credentials: dict[str, str], task_release: str | None = None) -> Compose:
        variables = compose_variables(self.env, releases, credentials, task_release)
        variables["ACME_CA_ROOT_PEM"] = acme_ca_root_pem(self.env)
        return Compose(self.paths, self.env, variables)

    def up(self, requested: str) -> StackStatus:
        started = time.monotonic()
        with EnvironmentLock(self.docker, self.env.project, "up", self.report):
            try:
                plan = self._up(requested, self.report)
            except SwitcherError as error:
                if self.store.exists():  # a refusal before the store exists leaves no trace
                    history.record(
                        self.store, self.env.name, "up", started, "failed", release=requested, error=str(error)
                    )
                raise
            live = {"color": plan.live, "release": plan.releases.for_color(plan.live)}
            history.record(self.store, self.env.name, "up", started, "ok", **live, requested=requested)
        self.paths.state_dir.mkdir(parents=True, exist_ok=True)
        (self.paths.state_dir / "current-env").write_text(self.env.name + "\n")
        return read_status(self.env, self.docker)

    def _up(self, requested: str, report: Report) -> UpPlan:
        containers = self.docker.project_containers(self.env.project)
        green = read_green_flag(self.docker, containers)
        if green is None:  # no lb runs (after `down`, say): the flag is still in its volume
            green = self.docker.volume_has_file(f"{self.env.project}_lb-live", LIVE_FLAG_NAME)
        records = {color: read_record(self.store, color) for color in COLORS}
        recorded = {color: record.last_ok for color, record in records.items() if record and record.last_ok}
        plan = plan_up(self.env, containers, green, requested, recorded)
        require_images(self.docker, list(plan.images))
        require_user_files(self.env)  # before anything is made
        for note in plan.notes:
            report(note)
        self.store.ensure()
        import_local_state(self.store, self.paths.env_state_dir(self.env.name), report)
        credentials = self._credentials = ensure_credentials(self.store, self.env.name)
        compose = self.compose(plan.releases, credentials)
        self.refuse_recreating(compose, by_service(containers))
        ensure_tls(self.env, self.store, report)

        report("starting db and memcached")
        self.start_services(compose, ["db", "memcached"])
        self.apply_roles(credentials)
        live_release = plan.releases.for_color(plan.live)
        report(f"migrating the database with release {live_release}")
        self.run_task(plan.releases, credentials, live_release, ["python3", "manage.py", "migrate", "--noinput"])
        for release in dict.fromkeys([plan.releases.blue, plan.releases.green]):
            report(f"publishing static files and maintenance page of release {release}")
            self.run_task(
                plan.releases, credentials, release, ["publish-assets", "/srv/static", "/srv/maintenance"], user="0"
            )
        report("starting lb")
        self.start_services(compose, ["lb"])
        self.install_certificate()  # a running lb serves what ensure_tls stored (TLS_CERT changed, say)
        self.start_acme_service(compose)
        existing = by_service(containers)
        colors_to_start = []
        for color in COLORS:
            container = existing.get(f"app-{color}")
            reason = refusal(color, records[color], container.release if container else None)
            if container is not None and reason is not None and color != plan.live:
                report(f"app-{color} stays stopped: {reason}")
                continue
            colors_to_start.append(color)
        report("starting " + " and ".join(f"app-{color}" for color in colors_to_start))
        # Colours that exist keep their container (and settings): changing them is deploy's job.
        self.start_services(compose, [f"app-{color}" for color in colors_to_start], no_recreate=True)
        for color in colors_to_start:
            if f"app-{color}" not in existing:
                write_record(self.store, color, ready(plan.releases.for_color(color)))
        if self.cron_stopped_by_operator():
            report("cron stays stopped (`switcher cron start` starts it)")
            self.start_workers(plan.releases, credentials)
        else:
            report(f"starting cron with release {plan.releases.cron}")
            self.start_cron(plan.releases, credentials)
        return plan

    def running_lb(self) -> str | None:
        """The lb container's name when it runs."""
        lb = lb_container(self.docker, self.docker.project_containers(self.env.project))
        return lb.name if lb is not None else None

    def install_certificate(self) -> bool:
        """The running lb takes the stored certificate: lb-tls-install makes site.pem from it with
        one atomic rename; nginx loads that per handshake (no reload, no connection closed).
        False when no lb runs (it does so when it starts)."""
        lb = self.running_lb()
        if lb is None:
            return False
        code, output = self.docker.exec_output(lb, ["lb-tls-install"])
        if code != 0:
            last = (output.strip().splitlines() or ["no output"])[-1]
            raise SwitcherError(f"the lb did not take the new certificate ({last[:200]}); it serves the one it had")
        return True

    def refuse_recreating(self, compose: Compose, existing: dict[str, ContainerInfo]) -> None:
        """Never recreate a running db, memcached or lb because a setting changed: that would
        interrupt the site (and, with changed credentials, lock it out of its database)."""
        running = [name for name in STACK_SERVICES if name in existing and existing[name].state == "running"]
        if not running:
            return
        wanted = compose.config_hashes(running)
        changed = [name for name in running if wanted.get(name) != existing[name].config_hash]
        if not changed:
            return
        name = changed[0]
        what = differences(compose.service_definitions().get(name, {}), self.docker.inspect(existing[name].name))
        raise Refused(
            f"{name} runs with other settings than {self.env.name} now asks for "
            f"({'; '.join(what) or 'capabilities, limits or other settings'}); switcher up never recreates "
            f"a running {name}: to apply them, `switcher down --env {self.env.name}` then "
            f"`make up ENV={self.env.name}` (volumes are kept)"
        )

    def apply_roles(self, credentials: dict[str, str]) -> None:
        """The site's own non-superuser role and both passwords, as the store says (db-roles,
        with the passwords on its stdin)."""
        db = by_service(self.docker.project_containers(self.env.project)).get("db")
        if db is None or db.state != "running":
            raise Unhealthy("the db container is not running")
        passwords = f"{credentials['DB_PASSWORD']}\n{credentials['DB_SUPERUSER_PASSWORD']}\n".encode()
        code, output = self.docker.exec_with_input(db.name, ["db-roles"], passwords)
        if code != 0:
            raise SwitcherError(f"setting the database roles failed: {last_lines(output, 2)}")

    def start_services(self, compose: Compose, services: list[str], no_recreate: bool = False) -> None:
        timeout = int(self.env.settings["HEALTH_TIMEOUT"])
        args = ["up", "--detach", "--wait", "--wait-timeout", str(timeout)]
        if no_recreate:
            args.append("--no-recreate")
        result = compose.run([*args, *services], check=False, timeout=timeout + 120)
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
        return f"starting {', '.join(services)} failed: {last_lines(output, 2)}"

    def run_task(
        self,
        releases: Releases,
        credentials: dict[str, str],
        release: str,
        command: list[str],
        user: str | None = None,
        stdin: bytes | None = None,
        environment: dict[str, str] | None = None,
    ) -> str:
        compose = self.compose(releases, credentials, task_release=release)
        args = ["run", "--rm", "--no-deps", "-T"]
        if user is not None:
            args += ["--user", user]
        for name, value in (environment or {}).items():  # never secrets: they are in the argv
            args += ["-e", f"{name}={value}"]
        result = compose.run([*args, "app-task", *command], check=False, stdin=stdin)
        if result.returncode != 0:
            raise SwitcherError(f"`{' '.join(command)}` of release {release} failed: {last_lines(result.output, 3)}")
        return result.output

    def run_db_task(self, releases: Releases, arguments: list[str]) -> str:
        """`db-backup ARGUMENTS` in a one-off container of the db image beside the running db."""
        return self._one_off(releases, "db-task", arguments, f"db-backup {arguments[0]}", timeout=7200)

    def run_acme_task(self, releases: Releases, action: str) -> str:
        """`acme-issue ACTION` (lego) in a one-off container of the acme image."""
        return self._one_off(releases, "acme-task", [action], "the ACME client", timeout=600)

    def start_acme_service(self, compose: Compose) -> None:
        """TLS_MODE=acme: the acme service (its renewal check, at once and then daily) runs;
        in other modes it is removed, if an earlier acme mode left one."""
        if self.env.tls_mode == "acme":
            self.report("starting the acme service (asks the CA now, then checks daily)")
            compose.run(["up", "--detach", "--no-deps", "acme"], timeout=120)
        elif "acme" in by_service(self.docker.project_containers(self.env.project)):
            self.report(f"TLS_MODE={self.env.tls_mode}: removing the acme service")
            compose.run(["rm", "--stop", "--force", "acme"], timeout=120)

    def _one_off(
        self,
        releases: Releases,
        service: str,
        arguments: list[str],
        what: str,
        timeout: float,
    ) -> str:
        compose = self.compose(releases, self.credentials())
        result = compose.run(["run", "--rm", "--no-deps", "-T", service, *arguments], check=False, timeout=timeout)
        if result.returncode != 0:
            raise SwitcherError(f"{what} failed: {last_lines(result.output, 2)}")
        return result.output

    def attach_task(self, releases: Releases, release: str, command: list[str], terminal: bool) -> int:
        """A one-off container of `release` attached to this process's terminal (or pipe)."""
        compose = self.compose(releases, self.credentials(), task_release=release)
        return compose.attach(["run", "--rm", "--no-deps", *([] if terminal else ["-T"]), "app-task", *command])

    def cron_stopped_by_operator(self) -> bool:
        lb = self.running_lb()
        return lb is not None and self.docker.exec_status(lb, ["test", "-f", CRON_STOPPED_FLAG]) == 0

    def processes(self, release: str) -> list[str]:
        """What the release's Procfile declares that runs beside cron (worker, beat): its image's
        io.switcher.processes label, written by the build."""
        return declared_processes(self.docker.image_labels(f"{self.env.image_prefix}/site:{release}"))

    def start_cron(self, releases: Releases, credentials: dict[str, str] | None = None) -> None:
        """Run cron and the release's schedulers and workers from `releases.cron`; those of
        another release are stopped first (a running job or task may finish, up to
        CRON_STOP_TIMEOUT / WORKER_STOP_TIMEOUT), so only one scheduler is ever active."""
        declared = self.processes(releases.cron)
        self._processes(releases, ["up", "--detach", "--no-deps", *_schedulers(declared)], credentials)
        self.start_workers(releases, credentials, declared)

    def create_cron_stopped(self, releases: Releases) -> None:
        """Cron (and beat) of `releases.cron` created but not started (an operator stopped cron);
        the workers still follow the release."""
        declared = self.processes(releases.cron)
        self._processes(releases, ["up", "--no-start", "--no-deps", "--force-recreate", *_schedulers(declared)])
        self.start_workers(releases, declared=declared)

    def start_workers(
        self, releases: Releases, credentials: dict[str, str] | None = None, declared: list[str] | None = None
    ) -> None:
        """The broker and workers when `releases.cron` declares workers; a worker or beat of an
        earlier release that the new one no longer declares is stopped and removed."""
        declared = self.processes(releases.cron) if declared is None else declared
        if declared:
            self._processes(releases, ["up", "--detach", "--no-deps", "--wait", "broker"], credentials)
        if "worker" in declared:
            self._processes(releases, ["up", "--detach", "--no-deps", "worker"], credentials)
        running = by_service(self.docker.project_containers(self.env.project))
        gone = [name for name in PROCESS_SERVICES if name not in declared and name in running]
        if gone:
            self.report(f"release {releases.cron} declares no {' or '.join(gone)}: stopping it")
            self._processes(releases, ["rm", "--stop", "--force", *gone], credentials)

    def stop_schedulers(self) -> None:
        """Stop cron and beat (`switcher cron stop`); running jobs may finish first."""
        running = by_service(self.docker.project_containers(self.env.project))
        for name, timeout in (("cron", "CRON_STOP_TIMEOUT"), ("beat", "WORKER_STOP_TIMEOUT")):
            container = running.get(name)
            if container is not None and container.state == "running":
                self.docker.stop(container.name, timeout=int(self.env.settings[timeout]))

    def stop_processes(self) -> None:
        """Stop cron, beat and the workers (their running jobs and tasks may finish first); a
        later `switcher cron start`, promote or `up` starts them again from the live release."""
        self.stop_schedulers()
        worker = by_service(self.docker.project_containers(self.env.project)).get("worker")
        if worker is not None and worker.state == "running":
            self.docker.stop(worker.name, timeout=int(self.env.settings["WORKER_STOP_TIMEOUT"]))

    def flush_cache(self) -> None:
        """Empty memcached (after the data under the cached pages changed)."""
        memcached = by_service(self.docker.project_containers(self.env.project)).get("memcached")
        if memcached is not None and memcached.state == "running":
            script = "printf 'flush_all\\r\\nquit\\r\\n' | nc -N -U /run/memcached/memcached.sock"
            self.docker.exec_output(memcached.name, ["sh", "-c", script])

    def _processes(self, releases: Releases, args: list[str], credentials: dict[str, str] | None = None) -> None:
        compose = self.compose(releases, credentials or self.credentials())
        stop = max(int(self.env.settings["CRON_STOP_TIMEOUT"]), int(self.env.settings["WORKER_STOP_TIMEOUT"]))
        result = compose.run(args, check=False, timeout=stop + 120)
        if result.returncode != 0:
            what = " ".join(arg for arg in args if not arg.startswith("-") and arg not in ("up", "rm"))
            raise SwitcherError(f"{what} with release {releases.cron} failed: {last_lines(result.output, 2)}")

    def credentials(self, fresh: dict[str, str] | None = None) -> dict[str, str]:
        """The stored credentials, read once per command (`fresh`: new values just stored)."""
        if fresh is not None:
            self._credentials = fresh
        if self._credentials is None:
            import_local_state(self.store, self.paths.env_state_dir(self.env.name), self.report)
            self._credentials = ensure_credentials(self.store, self.env.name, create=False)
        return self._credentials

    def recreate_color(self, color: str, releases: Releases) -> None:
        """(Re)create one colour's container from the compose definition, leaving all else alone."""
        compose = self.compose(releases, self.credentials())
        result = compose.run(["up", "--detach", "--no-deps", "--force-recreate", f"app-{color}"], check=False)
        if result.returncode != 0:
            raise SwitcherError(f"creating app-{color} failed: {last_lines(result.output, 2)}")

    def down(self, remove_volumes: bool) -> None:
        report, started = self.report, time.monotonic()
        with EnvironmentLock(self.docker, self.env.project, "down" + (" --volumes" if remove_volumes else ""), report):
            credentials = {key: "unused" for key in GENERATED}  # nothing is created by `down`
            compose = self.compose(Releases("none", "none", "none"), credentials)
            # The one-off services' profile too, so that the volumes only they mount (backups)
            # go with --volumes.
            args = ["--profile", "tasks", "down", "--remove-orphans"]
            if remove_volumes:
                args.append("--volumes")
            report(f"stopping project {self.env.project}" + (" and deleting its volumes" if remove_volumes else ""))
            compose.run(args, timeout=180)
            if remove_volumes:
                self.store.remove()
            else:
                history.record(self.store, self.env.name, "down", started, "ok")


def _schedulers(declared: list[str]) -> list[str]:
    """The services that schedule work (exactly one of each per environment): cron, and beat
    when the release declares it."""
    return ["cron", *(name for name in declared if name == "beat")]
