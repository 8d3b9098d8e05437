"""One environment's stack on a Swarm (ENGINE=swarm): its variables and `docker stack deploy`,
its lb tasks, jobs and the db task, and `switcher status`; `up` and `down` are
cluster_lifecycle.py's. The environment's store and lock live on the manager's engine."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable

import docker.errors

from switcher.cluster_lbs import LbTasks
from switcher.cluster_plan import color_replicas, process_replicas
from switcher.cluster_shared import shared_root, volume_key
from switcher.cluster_status import ClusterStatus, unseen_notes
from switcher.compose import Releases, compose_variables
from switcher.config import Environment, Paths
from switcher.credentials import ensure_credentials
from switcher.errors import NotFound, Refused, SwitcherError, Unhealthy, last_lines
from switcher.registry import remote_reference
from switcher.state import OPTIONAL_SERVICES, declared_processes
from switcher.store import EnvironmentStore
from switcher.swarm import Node, Swarm, Task
from switcher.swarm_jobs import Jobs
from switcher.switch import LbContainer
from switcher.tls import tls_status

Report = Callable[[str], None]
LB_CONSTRAINT = "node.labels.switcher.lb == true"
CRON_STATE = "cron.json"  # in the store: {"stopped": true} while an operator keeps cron stopped
INFRA = ("db", "memcached", "lb")
# Beside the site, from the cron release: cron always; the others when its Procfile declares them.
PROCESSES = ("cron", "broker", "worker", "beat")


def secret_name(project: str, what: str, content: bytes) -> str:
    """Swarm secrets never change: a new certificate is a new secret, named by its hash."""
    return f"{project}_{what}-{hashlib.sha256(content).hexdigest()[:16]}"


class ClusterStack:
    """One environment's stack on a Swarm."""

    def __init__(self, paths: Paths, env: Environment, report: Report) -> None:
        self.paths, self.env, self.report = paths, env, report
        self.swarm = Swarm(env)
        self.store = EnvironmentStore(self.swarm.manager, env.project)
        self.lb_tasks = LbTasks(self.swarm, report)
        self._declared: dict[str, list[str]] = {}

    def lbs(
        self, nodes: list[Node] | None = None, tasks: list[Task] | None = None, ready: bool = False
    ) -> list[tuple[Node, LbContainer]]:
        return self.lb_tasks.running(nodes, tasks, ready)

    def away_lbs(self) -> list[str]:
        """The lb nodes that cannot be reached (down, or not yet known to be back): those the
        lb service is placed on (labelled, active) and those whose lb task the manager still
        lists. (A global service's task on a node that went down stops being listed as meant to
        run, so the tasks alone miss a node that has been down for a while: seen here.) A
        switch or maintenance goes on without them (they follow the commits when back:
        lb-follow); rotating a secret cannot."""
        nodes = self.swarm.nodes()
        away = {node.id: node.hostname for node in nodes if node.state != "ready"}
        placed = {
            node.hostname
            for node in nodes
            if node.id in away and node.labels.get("switcher.lb") == "true" and node.availability == "active"
        }
        return sorted(placed | {away[task.node_id] for task in self.swarm.tasks("lb") if task.node_id in away})

    def require_in_registry(self, images: list[tuple[str, str]]) -> None:
        """Every (image, release) is in REGISTRY (`switcher push` put it there); else nothing is done."""
        for name, release in images:
            remote = remote_reference(self.env, name, release)
            if self.swarm.manager.registry_digest(remote) is None:
                raise Refused(
                    f"release {release} is not in the registry ({remote} is missing): "
                    f"`switcher push {release} --env {self.env.name}` first; nothing was changed"
                )

    def variables(self, releases: Releases, credentials: dict[str, str], start: tuple[str, ...] = ()) -> dict[str, str]:
        """The stack's variables; each colour keeps no task if it was stopped (--stop-old, a
        failed deploy) unless it is in `start` (deployed to, brought back)."""
        variables = compose_variables(self.env, releases, credentials)
        variables.update(SHARED_ROOT=shared_root(self.env), SHARED_KEY=volume_key(self.env))
        replicas = color_replicas(self.swarm.services(), self.env.settings["APP_REPLICAS"], start)
        variables.update({f"{color.upper()}_REPLICAS": count for color, count in replicas.items()})
        cert, key = self.store.read_certificate(), self.store.read_key()
        if cert is None or key is None:
            raise SwitcherError("the environment's store has no certificate and key")
        names = {}
        for what, content in (("tls-cert", cert), ("tls-key", key)):
            names[what] = secret_name(self.env.project, what, content)
            self.swarm.ensure_secret(names[what], content)
        stopped = self.cron_stopped()
        variables.update(TLS_CERT_SECRET=names["tls-cert"], TLS_KEY_SECRET=names["tls-key"])
        variables.update(CRON_REPLICAS="0" if stopped else "1")
        declared = self.processes(releases.cron or releases.blue)
        variables.update(process_replicas(declared, stopped, self.env.settings["WORKER_REPLICAS"]))
        return variables

    def processes(self, release: str) -> list[str]:
        """What the release's Procfile declares that runs beside cron (worker, beat): its site
        image's label, read on the manager's engine (pulled from REGISTRY when it lacks it)."""
        if release not in self._declared:
            labels = self.swarm.manager.pulled_labels(remote_reference(self.env, "site", release))
            self._declared[release] = declared_processes(labels)
        return self._declared[release]

    def cron_stopped(self) -> bool:
        """An operator stopped cron (`switcher cron stop`): it stays stopped across promotes."""
        raw = self.store.read(CRON_STATE)
        try:
            return bool(raw and json.loads(raw).get("stopped"))
        except (ValueError, AttributeError):
            return True  # unreadable: stopped is the safe side (no job runs twice)

    def set_cron_stopped(self, stopped: bool) -> None:
        self.store.write({CRON_STATE: (json.dumps({"stopped": stopped}).encode(), 0o600)})

    def deploy(self, releases: Releases, start: tuple[str, ...] = ()) -> None:
        """docker stack deploy of the stack with `releases` (services that do not change keep their
        tasks; a stopped colour stays so unless it is in `start`)."""
        self.swarm.deploy(self.paths, self.variables(releases, self.credentials(), start))

    def apply_roles(self, credentials: dict[str, str]) -> None:
        """Both passwords and the site's role, set by `db-roles` in the db task (its node's engine)."""
        task, engine = self.task_engine("db")
        passwords = f"{credentials['DB_PASSWORD']}\n{credentials['DB_SUPERUSER_PASSWORD']}\n".encode()
        code, output = engine.exec_with_input(task.container_id, ["db-roles"], passwords)
        if code != 0:
            raise SwitcherError(f"setting the database roles failed: {last_lines(output, 2)}")

    def db_task(self, arguments: list[str]) -> str:
        """`db-backup ARGUMENTS` in the running db task (its node's engine, db_backups.py): its
        output, or one line why not."""
        task, engine = self.task_engine("db")
        code, output = engine.exec_output(task.container_id, ["db-backup", *arguments])
        if code != 0:
            raise SwitcherError(f"db-backup {arguments[0]} failed: {last_lines(output, 2)[:400]}")
        return output

    def publish(self, release: str) -> None:
        """The release's static files and maintenance page into every lb node's volumes (a
        global job on the lb nodes; files already there are kept)."""
        self.report(f"publishing static files and maintenance page of release {release} on every lb node")
        self.job(
            "publish",
            release,
            ["publish-assets", "/srv/static", "/srv/maintenance"],
            user="0",
            global_job=True,
            extra_mounts=["static:/srv/static", "maintenance:/srv/maintenance"],
            constraints=[LB_CONSTRAINT],
        )

    def credentials(self) -> dict[str, str]:
        return ensure_credentials(self.store, self.env.name, create=False)

    def tls_status(self) -> dict:
        """The stored certificate, which every lb serves (its secret is named by its hash)."""
        return tls_status(self.env, self.store)

    def task_engine(self, service: str):
        try:
            tasks = self.swarm.tasks(service)
        except docker.errors.NotFound:  # the stack has no such service
            raise NotFound(f"{self.env.name} has no stack yet: `switcher up --env {self.env.name}` first") from None
        running = [task for task in tasks if task.state == "running" and task.container_id]
        if not running:
            raise Unhealthy(f"no {service} task runs")
        nodes = {node.id: node for node in self.swarm.nodes()}
        return running[0], self.swarm.engine(nodes[running[0].node_id])

    def job(self, name: str, release: str, command: list[str], **options) -> str:
        image = remote_reference(self.env, "site", release)
        ok, output = Jobs(self.swarm).run(name, "app-blue", image, command, timeout=1800, **options)
        if not ok:
            raise SwitcherError(f"`{' '.join(command)}` of release {release} failed: {last_lines(output, 3)[:400]}")
        return output

    # -- status ----------------------------------------------------------------------------
    def status(self) -> ClusterStatus:
        nodes = self.swarm.nodes()
        by_id = {node.id: node for node in nodes}
        services = self.swarm.services()
        # The broker and the Procfile's processes only where they are meant to run.
        shown = [name for name, info in services.items() if name not in OPTIONAL_SERVICES or info.replicas]
        tasks: dict[str, list[tuple[str, str, str]]] = {name: [] for name in shown}
        found = self.swarm.tasks()
        for task in found:
            node = by_id.get(task.node_id)
            if task.service not in tasks and task.service in OPTIONAL_SERVICES:
                continue  # not shown: scaled to none
            tasks.setdefault(task.service, []).append((node.hostname if node else "?", task.state, task.release))
        for entries in tasks.values():
            entries.sort()
        lbs, running = self.lb_tasks.views(nodes, found)
        notes = unseen_notes(lbs, running)
        if len({lb.live for lb in lbs if lb.live is not None}) > 1:
            notes.append(
                "the lbs disagree on the live colour: " + ", ".join(f"{lb.node} {lb.live or 'unknown'}" for lb in lbs)
            )
        unread = [lb.node for lb in lbs if lb.live is None]
        if unread:
            notes.append(f"the lb on {', '.join(unread)} could not be read (its node's engine does not answer)")
        for node in nodes:
            if node.state != "ready":
                notes.append(f"node {node.hostname} is {node.state}: its tasks are rescheduled elsewhere")
        return ClusterStatus(
            env=self.env.name,
            project=self.env.project,
            nodes=nodes,
            tasks=tasks,
            replicas={name: info.replicas for name, info in services.items()},
            lbs=lbs,
            https_port=self.env.settings["HTTPS_PORT"],
            notes=notes,
        )
