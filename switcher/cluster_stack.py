"""The named steps of `switcher up`, `status` and `down` for an ENGINE=swarm environment.

The stack is compose/swarm.yml, deployed with `docker stack deploy` on SWARM_MANAGER; the
environment's store (credentials, certificate, history) and its lock live on the manager's
engine, as they live on the one engine of a compose environment.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable

import docker.errors

from switcher import history
from switcher.cluster_lbs import LbTasks, commit_live, read_lbs
from switcher.cluster_plan import color_replicas, plan_releases, process_replicas
from switcher.cluster_shared import SharedDir, shared_root, volume_key
from switcher.cluster_status import ClusterStatus, unseen_notes
from switcher.compose import Releases, compose_variables
from switcher.config import COLORS, Environment, Paths, other_color
from switcher.credentials import ensure_credentials
from switcher.errors import NotFound, Refused, SwitcherError, Unhealthy, last_lines
from switcher.lock import EnvironmentLock
from switcher.registry import remote_reference
from switcher.state import OPTIONAL_SERVICES, declared_processes
from switcher.store import EnvironmentStore
from switcher.swarm import Node, Swarm, Task
from switcher.swarm_jobs import Jobs
from switcher.switch import LbContainer, switch_all
from switcher.tls import ensure_tls, tls_status

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

    # -- up --------------------------------------------------------------------------------
    def up(self, requested: str) -> ClusterStatus:
        started = time.monotonic()
        with EnvironmentLock(self.swarm.manager, self.env.project, "up", self.report):
            try:
                releases, live = self._up(requested)
            except SwitcherError as error:
                if self.store.exists():
                    history.record(
                        self.store, self.env.name, "up", started, "failed", release=requested, error=str(error)
                    )
                raise
            history.record(
                self.store, self.env.name, "up", started, "ok",
                color=live, release=releases.for_color(live), requested=requested,
            )  # fmt: skip
        return self.status()

    def _up(self, requested: str) -> tuple[Releases, str]:
        existing = self.swarm.services()
        releases = plan_releases(existing, requested)
        site = {("site", releases.blue), ("site", releases.green), ("site", releases.cron or releases.blue)}
        self.require_in_registry(
            sorted(site | {(name, releases.stack) for name in ("lb", "db", "memcached", "broker")})
        )
        self.store.ensure()
        credentials = ensure_credentials(self.store, self.env.name)
        ensure_tls(self.env, self.store, self.report)
        timeout = float(self.env.settings["HEALTH_TIMEOUT"])
        # Uploads, state and config files in SHARED_DIR, proven shared before any task mounts it.
        site = remote_reference(self.env, "site", releases.blue)
        SharedDir(self.swarm, self.env, self.report).ensure(site, timeout + 120)
        new = "app-blue" not in existing
        if new:
            self.report("deploying db, memcached and lb (no app tasks until the database is ready)")
            none = {f"{name}_REPLICAS": "0" for name in ("BLUE", "GREEN", "CRON", "WORKER", "BEAT")}
            self.swarm.deploy(self.paths, {**self.variables(releases, credentials), **none})
        self.report("waiting for db, memcached and every lb node")
        self.swarm.wait_running(list(INFRA), timeout + 120)  # the first pull of each image on each node
        self.apply_roles(credentials)
        live = self.live_color()  # `up` never changes colour
        self.report(f"migrating the database with the live release {releases.for_color(live)}")
        self.job("migrate", releases.for_color(live), ["python3", "manage.py", "migrate", "--noinput"])
        for release in dict.fromkeys([releases.blue, releases.green]):
            self.publish(release)
        # The live colour always runs; the other stays stopped if it was stopped on purpose.
        variables = self.variables(releases, credentials, start=COLORS if new else (live,))
        running = [c for c in COLORS if variables[f"{c.upper()}_REPLICAS"] != "0"]
        tasks = self.env.settings["APP_REPLICAS"]
        beside = ["cron", *(name for name in PROCESSES[1:] if variables[f"{name.upper()}_REPLICAS"] != "0")]
        self.report(f"deploying {' and '.join(f'app-{c}' for c in running)} ({tasks} tasks each), {', '.join(beside)}")
        self.swarm.deploy(self.paths, variables)
        self.swarm.wait_running(["app-blue", "app-green", *PROCESSES, *INFRA], timeout)
        # Every lb on the live colour: an lb on a node that joined since starts at blue.
        lbs = [lb for _, lb in self.lbs(ready=True)]  # one on a node that is away follows the commit
        switch_all(lbs, live, other_color(live), self.report)
        commit_live(lbs, live, self.report)
        self.lb_tasks.republish_unseen(timeout)
        self.swarm.prune_secrets(keep={variables["TLS_CERT_SECRET"], variables["TLS_KEY_SECRET"]})
        return releases, live

    def live_color(self) -> str:
        """The colour every lb routes to; when they disagree (or none runs), the colour the last
        promote or rollback made live; blue for a new environment."""
        colors = {view.live for view in read_lbs(self.lbs())}
        if len(colors) == 1 and None not in colors:
            return str(colors.pop())
        for record in reversed(history.read(self.store).records):
            if record.get("action") in ("promote", "rollback") and record.get("outcome") == "ok":
                return str(record.get("color") or "blue")
        return "blue"

    def lbs(
        self, nodes: list[Node] | None = None, tasks: list[Task] | None = None, ready: bool = False
    ) -> list[tuple[Node, LbContainer]]:
        return self.lb_tasks.running(nodes, tasks, ready)

    def away_lbs(self) -> list[str]:
        """The nodes whose lb task the manager still lists but cannot reach (the node is down,
        or not yet known to be back): a switch goes on without them (they follow the commit
        when back: lb-follow); maintenance and its token cannot."""
        nodes = self.swarm.nodes()
        ready = {node.hostname for node, _ in self.lbs(nodes, ready=True)}
        return sorted({node.hostname for node, _ in self.lbs(nodes)} - ready)

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
        variables.update(process_replicas(self.processes(releases.cron or releases.blue), stopped))
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

    # -- down ------------------------------------------------------------------------------
    def down(self, remove_volumes: bool) -> None:
        started = time.monotonic()
        with EnvironmentLock(self.swarm.manager, self.env.project, "down", self.report):
            self.report(
                f"removing stack {self.env.project}" + (" and its volumes on every node" if remove_volumes else "")
            )
            site = self.swarm.services().get("app-blue")
            self.swarm.remove()
            if remove_volumes:
                removed = self.swarm.remove_volumes(self.swarm.nodes())
                self.report(f"removed {len(removed)} volumes")
                if site is not None:  # the uploads, state and config files in SHARED_DIR
                    SharedDir(self.swarm, self.env, self.report).remove(
                        remote_reference(self.env, "site", site.release), 300
                    )
                else:
                    self.report(f"{shared_root(self.env)} is kept: no stack ran to say which image removes it")
                self.swarm.prune_secrets(keep=set())
                self.store.remove()
            else:
                history.record(self.store, self.env.name, "down", started, "ok")
