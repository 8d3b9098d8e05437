"""The engine interface (engine.py) on a Swarm: the colours are services with APP_REPLICAS
tasks, every lb node has its own lb task (flipped and read through that node's engine), one-off
work runs as jobs made from the site's task template (cluster_stack.py)."""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from typing import Any

from switcher import migrations
from switcher.cluster_lbs import commit_live, commit_maintenance
from switcher.cluster_plan import plan_releases
from switcher.cluster_preview import PREVIEW_TIMEOUT, parse_answers
from switcher.cluster_preview import command as preview_command
from switcher.cluster_probe import verify_lbs
from switcher.cluster_stack import LB_CONSTRAINT, ClusterStack
from switcher.compose import Releases
from switcher.db_backups import DbBackups
from switcher.engine import ColorState, EveryLb, Routing, wait_drained
from switcher.errors import NotFound, SwitcherError, Unhealthy, last_lines
from switcher.lock import EnvironmentLock
from switcher.plans import retained_releases
from switcher.probe import Answer, probe_host
from switcher.registry import remote_reference
from switcher.schema import REPORTER
from switcher.swarm import Task
from switcher.swarm_jobs import Jobs
from switcher.switch import LbContainer


class SwarmEngine(EveryLb):
    preview_url = None  # each lb's preview listener serves the stack's network only

    def __init__(self, stack: ClusterStack) -> None:
        self.stack, self.swarm = stack, stack.swarm
        self.env, self.store, self.report = stack.env, stack.store, stack.report

    def locked(self, command: str) -> EnvironmentLock:
        return EnvironmentLock(self.swarm.manager, self.env.project, command, self.report)

    def routing(self) -> Routing:
        status = self.stack.status()
        if not status.lbs:
            raise Unhealthy("no lb task runs: nothing routes live traffic")
        why = status.notes[0] if status.live is None and status.notes else "the lbs cannot say their colour"
        return Routing(status.live, why)

    def releases(self, **override: str) -> Releases:
        """What the stack's services run now (`override`: the parts about to change)."""
        services = self.swarm.services()
        if "app-blue" not in services:
            raise NotFound(f"{self.env.name} has no stack yet: `switcher up --env {self.env.name}` first")
        return replace(plan_releases(services, services["app-blue"].release), **override)

    def color(self, color: str) -> ColorState:
        service = self.swarm.services().get(f"app-{color}")
        if service is None:
            return ColorState(None, False, False, "missing")
        tasks = self.swarm.tasks(f"app-{color}")
        count = sum(1 for task in tasks if task.state == "running" and task.release == service.release)
        enough = count >= (service.replicas or 1)
        return ColorState(service.release, enough, enough, f"{count} of {service.replicas} tasks run {service.release}")

    def lbs(self) -> Sequence[LbContainer]:
        """The lb tasks on nodes that are ready (an lb on a node that is away takes the committed
        colour when back: lb-follow)."""
        return [lb for _, lb in self.stack.lbs(ready=True)]

    def away_lbs(self) -> list[str]:
        return self.stack.away_lbs()

    def gate(self, color: str, release: str, timeout: float) -> None:
        self.swarm.wait_release(f"app-{color}", release, 0)

    def migrations_ahead(self, color: str, release: str) -> list[str]:
        return [str(name) for name in self.migration_plan(release, color).get("ahead") or []]

    def publish(self, release: str) -> None:
        if self.lacks_release(release):
            self.stack.publish(release)

    def verify(self, release: str, count: int, timeout: float) -> None:
        nodes = [node for node, _ in self.stack.lbs(ready=True)]
        verify_lbs(nodes, self.env, release, count, timeout)

    def cron_follow(self, release: str, timeout: float) -> None:
        """Cron, and the workers and beat `release` declares, run `release` (stop-first: each old
        task ends before its new one starts); while an operator keeps cron stopped, cron and beat
        stay at no task. Deployed even when cron runs `release` already: deploy --maintenance
        scaled them all to none."""
        stopped = self.stack.cron_stopped()
        self.stack.deploy(self.releases(cron=release))
        grace = float(self.env.settings["WORKER_STOP_TIMEOUT"])
        for name in self.stack.processes(release):
            if not (stopped and name == "beat"):
                self.swarm.wait_release(name, release, timeout + grace)
        if stopped:
            self.report("  cron stays stopped (`switcher cron start` starts it)")
        else:
            self.swarm.wait_release("cron", release, timeout)

    def commit_live(self, color: str, release: str) -> None:
        commit_live(self.lbs(), color, release, self.report)

    def commit_maintenance(
        self, lbs: Sequence[LbContainer], page: str, state: str | None, generation: int
    ) -> str | None:
        return commit_maintenance(lbs, page, state, generation)

    def drain(self, color: str, timeout: float) -> None:
        """Every task of `color` has finished its requests in flight (asked through each task's
        node engine), up to `timeout`; the colour keeps running, idle and warm."""
        nodes = {node.id: node for node in self.swarm.nodes()}
        tasks = [t for t in self.swarm.tasks(f"app-{color}") if t.state == "running" and t.node_id in nodes]

        def one(task: Task) -> int | None:
            try:
                code, output = self.swarm.engine(nodes[task.node_id]).exec_printing(task.container_id, ["inflight"])
            except SwitcherError:  # its node is gone: nothing to wait for there
                return 0
            return int(output.strip()) if code == 0 and output.strip().isdigit() else None

        def in_flight() -> int | None:
            with ThreadPoolExecutor(max_workers=min(len(tasks), 8)) as pool:
                counts = list(pool.map(one, tasks))
            return None if None in counts else sum(count or 0 for count in counts)

        if tasks:
            wait_drained(color, in_flight, timeout, self.report)

    def stop_color(self, color: str) -> None:
        """No task of `color` (the service scaled to none, and kept so by later stack deploys
        until a deploy to it or a rollback brings it back: cluster_plan.color_replicas)."""
        self.swarm.scale(f"app-{color}", 0)

    def retained(self) -> tuple[list[str], list[str]]:
        """The releases whose static files the lbs hold, and those to keep of them (RETAIN_RELEASES,
        the colours' own always)."""
        lbs = self.lbs()
        if not lbs:
            raise Unhealthy("no lb task runs: nothing to read the static files from")
        published = lbs[0].published_releases()
        current = self.releases()
        keep = retained_releases(published, [current.blue, current.green], int(self.env.settings["RETAIN_RELEASES"]))
        return published, keep

    def prune(self) -> None:
        self.prune_static(*self.retained())

    def prune_static(self, published: list[str], keep: list[str]) -> None:
        """Static files of the `published` releases not in `keep` go, on every lb node (a global
        job; none when there are none)."""
        if set(published) <= set(keep):
            return
        self.stack.job(
            "prune",
            self.releases().cron,
            ["prune-static", "/srv/static", *keep],
            user="0",
            global_job=True,
            extra_mounts=["static:/srv/static"],
            constraints=[LB_CONSTRAINT],
        )

    def has_release(self, release: str) -> bool:
        return self.swarm.manager.registry_digest(remote_reference(self.env, "site", release)) is not None

    def bring_back(self, color: str, release: str, timeout: float) -> None:
        self.stack.deploy(self.releases(**{color: release}), start=(color,))
        self.swarm.wait_release(f"app-{color}", release, timeout)

    # -- deploy -------------------------------------------------------------------------------
    def credentials(self) -> dict[str, str]:
        return self.stack.credentials()

    def require_release(self, release: str) -> None:
        self.stack.require_in_registry([("site", release)])

    def migration_plan(self, release: str, idle: str) -> dict[str, Any]:
        return migrations.parse_output(self.stack.job("plan", release, [*REPORTER, "plan"]))

    def recreate(self, color: str, release: str) -> None:
        self.stack.deploy(self.releases(**{color: release}), start=(color,))

    @property
    def shelf(self) -> DbBackups:
        """The environment's backups, made by db-backup in the db task (cluster_db.py)."""
        return DbBackups(self.env, self.store, self.stack.db_task, self.report)

    def backup(self, release: str, reason: str) -> str:
        return self.shelf.create(release, reason=reason).id

    def migrate(self, release: str, idle: str) -> None:
        seconds = int(self.env.settings["MIGRATE_LOCK_TIMEOUT"])
        command = ["python3", "manage.py", "migrate", "--noinput"]
        with migrations.lock_timeout_said(release, seconds):
            self.stack.job("migrate", release, command, environment={"PGOPTIONS": f"-c lock_timeout={seconds * 1000}"})

    def run(self, release: str, idle: str, command: list[str]) -> str:
        return self.stack.job("run", release, command)

    def wait_ready(self, color: str, release: str, health_timeout: float, verify_timeout: float) -> None:
        self.swarm.wait_release(f"app-{color}", release, health_timeout)

    def warm(self, color: str) -> None:
        self._preview(color, ["/", "/", "/healthz"])

    def preview_get(self, color: str, path: str) -> Answer:
        return self._preview(color, [path])[0]

    def _preview(self, color: str, paths: list[str]) -> list[Answer]:
        """GETs of `paths` through the lbs' preview listener, made by a job on the stack's
        network (cluster_preview.py); the colour's own image runs it."""
        release = self.releases().for_color(color)
        image = remote_reference(self.env, "site", release)
        command = preview_command(probe_host(self.env), paths)
        ok, output = Jobs(self.swarm).run("preview", "app-blue", image, command, timeout=PREVIEW_TIMEOUT)
        if not ok:
            raise SwitcherError(f"the preview job (release {release}) failed: {last_lines(output, 2)[:300]}")
        return parse_answers(output, paths)

    # -- cron, and what runs beside the site -----------------------------------------------------
    def live_release(self) -> str:
        return self.color(self.routing().required()).release or ""

    def hold_cron(self, stopped: bool, live_release: str) -> None:
        """The operator's cron state (cluster_stack.py's CRON_STATE, kept across promotes and
        `up`) set, then cron and beat at no task (a running job gets CRON_STOP_TIMEOUT, beat
        WORKER_STOP_TIMEOUT) or at one task of `live_release`; the workers follow the release
        either way. The caller holds the lock."""
        self.stack.set_cron_stopped(stopped)
        if stopped:
            self.report("stopping cron (and beat); a running job may finish first")
        self.stack.deploy(self.releases(cron=live_release))
        schedulers = ["cron", *(name for name in self.stack.processes(live_release) if name == "beat")]
        for name in schedulers:
            if stopped:
                self._wait_stopped(name)
            else:
                self.swarm.wait_release(name, live_release, 120)

    def _wait_stopped(self, service: str) -> None:
        grace = self.env.settings["CRON_STOP_TIMEOUT" if service == "cron" else "WORKER_STOP_TIMEOUT"]
        self.swarm.wait_stopped(service, int(grace) + 30)

    def stop_processes(self) -> None:
        """deploy --maintenance, db restore: cron, beat and the workers at no task (a running
        job or task gets CRON_STOP_TIMEOUT / WORKER_STOP_TIMEOUT); promote's cron step, `up`,
        `cron start` or any later stack deploy runs them again (the operator's cron state is
        left as it is)."""
        services = self.swarm.services()
        running = [name for name in ("cron", "beat", "worker") if name in services and services[name].replicas]
        for name in running:
            self.swarm.scale(name, 0)
        for name in running:
            self._wait_stopped(name)

    def explain_failure(self, color: str) -> None:
        for task in self.swarm.tasks(f"app-{color}"):
            self.report(f"  app-{color} task of {task.release}: {task.state}")
